"""The digests an upload is checked against, computed locally the way S3 computes them."""

from __future__ import annotations

import base64
import hashlib
import io

from igny8_logging._checksums import PART_SIZE, Digest, digest_stream


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TestSinglePut:
    """Up to one part, the digests are hashlib's over the whole object (one ``PUT``)."""

    def test_small_object(self) -> None:
        data = b"run log line\n" * 1000
        digest = digest_stream(io.BytesIO(data))
        assert digest.size == len(data)
        assert digest.sha256 == hashlib.sha256(data).hexdigest()
        assert digest.checksum == b64(hashlib.sha256(data).digest())
        assert digest.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()

    def test_empty_object(self) -> None:
        digest = digest_stream(io.BytesIO(b""))
        assert (digest.size, digest.etag) == (
            0,
            hashlib.md5(b"", usedforsecurity=False).hexdigest(),
        )


class TestMultipart:
    """Over :data:`PART_SIZE`, checksum and ETag follow S3's multipart rule:
    the digest of the parts' digests, then ``-N``."""

    def test_two_parts(self) -> None:
        first, second = b"a" * PART_SIZE, b"b" * 100
        seen: list[int] = []
        digest = digest_stream(io.BytesIO(first + second), seen.append)
        sha = hashlib.sha256(hashlib.sha256(first).digest() + hashlib.sha256(second).digest())
        md5 = hashlib.md5(
            hashlib.md5(first, usedforsecurity=False).digest()
            + hashlib.md5(second, usedforsecurity=False).digest(),
            usedforsecurity=False,
        )
        assert digest.checksum == f"{b64(sha.digest())}-2"
        assert digest.etag == f"{md5.hexdigest()}-2"
        assert digest.sha256 == hashlib.sha256(first + second).hexdigest()
        assert seen == [PART_SIZE, 100]


class TestDict:
    """A digest round-trips through its manifest form; a damaged one is ``None``."""

    def test_round_trip(self) -> None:
        digest = digest_stream(io.BytesIO(b"x"))
        assert Digest.from_dict(digest.as_dict()) == digest

    def test_damaged(self) -> None:
        good = digest_stream(io.BytesIO(b"x")).as_dict()
        assert Digest.from_dict({**good, "size": -1}) is None
        assert Digest.from_dict({**good, "size": True}) is None
        assert Digest.from_dict({**good, "etag": 3}) is None
        assert Digest.from_dict("not a dict") is None
