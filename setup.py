"""The optional C accelerator; everything else is in setup.cfg."""

from setuptools import Extension, setup

SOURCES = [
    "igny8_logging/_speedups.c",
    "igny8_logging/_speedups_records.c",
    "igny8_logging/_speedups_handlers.c",
    "igny8_logging/_speedups_redis.c",
    "igny8_logging/_speedups_calls.c",
]

setup(
    ext_modules=[
        Extension(
            "igny8_logging._speedups",
            SOURCES,
            depends=["igny8_logging/_speedups.h"],
            optional=True,
        )
    ]
)
