"""An in-memory :class:`~igny8_logging._lines.Blob` that counts the bytes read from it."""

from __future__ import annotations


class BytesBlob:
    """A blob over *data*; ``read`` is the number of bytes ``pread`` returned."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.read = 0

    def size(self) -> int:
        return len(self.data)

    def pread(self, offset: int, length: int) -> bytes:
        chunk = self.data[offset : offset + length]
        self.read += len(chunk)
        return chunk
