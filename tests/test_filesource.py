"""The local tree of run folders as a run source."""

from __future__ import annotations

import logging
from pathlib import Path

import igny8_logging as igl
from igny8_logging._filesource import FileSource
from igny8_logging._ids import RunRef
from igny8_logging._lines import FileBlob, tail_lines
from igny8_logging._sources import RunSource


class TestFileSource:
    """``FileSource`` implements the protocol the Redis and archive sources implement."""

    def test_is_a_run_source(self, tmp_path: Path) -> None:
        assert isinstance(FileSource(tmp_path), RunSource)

    def test_blob_tail_equals_the_reader_tail(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        """The byte algorithms run over any blob: here a file's descriptor."""
        run = igl.start_run(run_logger)
        for n in range(50):
            run.info("line %d", n)
        source = FileSource(base_dir)
        blob = source.open_blob(RunRef(run.run_id), "automation_run.log")
        assert isinstance(blob, FileBlob)
        with blob:
            assert tail_lines(blob, 7) == igl.RunLogReader(base_dir).tail(run.run_id, 7)
