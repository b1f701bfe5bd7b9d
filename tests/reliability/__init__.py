"""Reliability and security suite: load, faults, hostile input and reader fuzzing."""
