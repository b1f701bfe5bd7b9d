"""Integrations with web frameworks (imported on demand, each needs its extra)."""
