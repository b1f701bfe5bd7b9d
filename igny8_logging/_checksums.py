"""The digests an S3 upload produces, computed locally from a stream read in parts.

An object is checked against what was read here: its size, its SHA-256 checksum
as S3 reports it (of the whole object for one ``PUT``, of the parts' digests
plus ``-N`` for a multipart upload) and its MD5 ``ETag`` (the same two shapes),
for stores that keep no SHA-256.  Uploads and checks use the one part size,
:data:`PART_SIZE`, so both sides compute the same values.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Final

__all__ = ["PART_SIZE", "Digest", "Hasher", "digest_stream", "read_part"]

#: Objects up to this size are one ``PUT``; larger ones are uploaded in parts of
#: this size (S3 allows 10,000 parts: 80 GiB per file).
PART_SIZE: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Digest:
    """What an object must hold: its size, SHA-256, and the checksum and ETag S3 reports.

    ``checksum`` is S3's ``ChecksumSHA256``: of the whole object for one ``PUT``,
    of the parts' digests plus ``-N`` for a multipart upload (as ``etag`` is, with MD5).
    """

    size: int
    sha256: str
    checksum: str
    etag: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "sha256": self.sha256,
            "checksum": self.checksum,
            "etag": self.etag,
        }

    @classmethod
    def from_dict(cls, data: object) -> Digest | None:
        if not isinstance(data, dict):
            return None
        size, fields = data.get("size"), [data.get(k) for k in ("sha256", "checksum", "etag")]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return None
        if not all(isinstance(value, str) for value in fields):
            return None
        return cls(size, *(str(value) for value in fields))


class Hasher:
    """Digests of a byte stream fed part by part, computed the way S3 computes them."""

    def __init__(self) -> None:
        self.size = 0
        self._whole = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._part_sha: list[bytes] = []
        self._part_md5: list[bytes] = []

    def part(self, data: bytes) -> str:
        """Feed one part; returns its base64 SHA-256 (what ``UploadPart`` is given)."""
        self.size += len(data)
        self._whole.update(data)
        self._md5.update(data)
        sha = hashlib.sha256(data).digest()
        self._part_sha.append(sha)
        self._part_md5.append(hashlib.md5(data, usedforsecurity=False).digest())
        return base64.b64encode(sha).decode()

    def digest(self) -> Digest:
        count = len(self._part_sha)
        if count <= 1:
            checksum = base64.b64encode(self._whole.digest()).decode()
            etag = self._md5.hexdigest()
        else:
            joined = hashlib.sha256(b"".join(self._part_sha)).digest()
            checksum = f"{base64.b64encode(joined).decode()}-{count}"
            md5 = hashlib.md5(b"".join(self._part_md5), usedforsecurity=False)
            etag = f"{md5.hexdigest()}-{count}"
        return Digest(self.size, self._whole.hexdigest(), checksum, etag)


def read_part(stream: IO[bytes]) -> bytes:
    chunks: list[bytes] = []
    wanted = PART_SIZE
    while wanted:
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def digest_stream(stream: IO[bytes], on_bytes: Callable[[int], None] | None = None) -> Digest:
    """The :class:`Digest` an upload of *stream* would produce (read in bounded parts)."""
    hasher = Hasher()
    while True:
        part = read_part(stream)
        if part or not hasher.size:
            hasher.part(part)
        if on_bytes is not None and part:
            on_bytes(len(part))
        if len(part) < PART_SIZE:
            return hasher.digest()
