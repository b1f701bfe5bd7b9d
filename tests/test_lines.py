"""The byte algorithms over any blob: tail counts lines from the end, bounded on huge lines."""

from __future__ import annotations

import os
from pathlib import Path

from _blobs import BytesBlob

from igny8_logging._lines import LINE_CAP, SCAN_LINE, FileBlob, iter_lines, tail_lines


class TestTail:
    """``tail_lines`` returns the last N physical lines, reading from the end."""

    def test_last_lines(self) -> None:
        blob = BytesBlob(b"".join(b"line %d\n" % n for n in range(200_000)))
        assert tail_lines(blob, 3) == ["line 199997", "line 199998", "line 199999"]
        assert blob.read < blob.size() // 10  # the start of the blob is never read

    def test_unterminated_last_line(self) -> None:
        assert tail_lines(BytesBlob(b"a\nb\nc"), 2) == ["b", "c"]

    def test_fewer_lines_than_asked(self) -> None:
        assert tail_lines(BytesBlob(b"a\nb\n"), 10) == ["a", "b"]

    def test_huge_line_is_bounded(self) -> None:
        huge = b"x" * (SCAN_LINE * 3)
        blob = BytesBlob(b"first\n" + huge + b"\nlast\n")
        lines = tail_lines(blob, 2)
        assert lines[-1] == "last"
        assert lines[0].startswith("…[start not read]")
        assert len(lines[0]) < LINE_CAP * 2
        assert blob.read < len(huge)  # the scan gave up inside the line


class TestFileBlob:
    """A file descriptor is a blob: the same tail as over its bytes."""

    def test_file(self, tmp_path: Path) -> None:
        path = tmp_path / "f.log"
        path.write_bytes(b"".join(b"%d\n" % n for n in range(50)))
        with FileBlob(os.open(path, os.O_RDONLY)) as blob:
            assert tail_lines(blob, 2) == ["48", "49"]
            assert list(iter_lines(blob)) == [b"%d" % n for n in range(50)]
