"""The optional C accelerator; everything else is in setup.cfg."""

from setuptools import Extension, setup

setup(
    ext_modules=[Extension("igny8_logging._speedups", ["igny8_logging/_speedups.c"], optional=True)]
)
