"""The S3 store: uploads are checked against their digests, ranged reads, errors masked.

S3 is played by moto's S3-compatible server (``tests/_moto.py``, the ``s3`` fixture):
a real HTTP server on a local port, since this machine has no cloud access.
"""

from __future__ import annotations

import io
import os

import pytest
from _moto import MotoS3

from igny8_logging._checksums import PART_SIZE, digest_stream
from igny8_logging._s3 import S3Store, StoreError
from igny8_logging._s3url import S3Url


def store(bucket: str) -> S3Store:
    s3 = S3Store(S3Url.parse(f"s3://{bucket}/logs"))
    s3.connect()
    return s3


class TestUploadAndVerify:
    """An uploaded object verifies against the local digest; changed bytes do not."""

    def test_single_put(self, s3: MotoS3, bucket: str) -> None:
        data = b"line\n" * 1000
        st = store(bucket)
        key = st.key("a", "b.log")
        st.upload(key, io.BytesIO(data))
        assert st.verify(key, digest_stream(io.BytesIO(data))) is None
        assert st.verify(key, digest_stream(io.BytesIO(data + b"x"))) is not None

    def test_multipart(self, s3: MotoS3, bucket: str) -> None:
        data = os.urandom(PART_SIZE + 1000)
        st = store(bucket)
        key = st.key("big.log")
        st.upload(key, io.BytesIO(data))
        info = st.head(key)
        assert info is not None
        assert info.size == len(data)
        assert st.verify(key, digest_stream(io.BytesIO(data))) is None


class TestReads:
    """Ranged GETs return exactly the bytes asked for; a missing key is ``None``."""

    def test_range(self, s3: MotoS3, bucket: str) -> None:
        st = store(bucket)
        st.put_bytes(st.key("r.txt"), b"0123456789", "text/plain")
        assert st.get_range(st.key("r.txt"), 3, 4) == b"3456"
        assert st.head(st.key("missing")) is None
        assert sorted(st.keys(st.key(""))) == [st.key("r.txt")]

    def test_errors_are_store_errors_without_secrets(self, s3: MotoS3) -> None:
        st = store("igny8-no-such-bucket")
        with pytest.raises(StoreError) as info:
            st.put_bytes(st.key("x"), b"x", "text/plain")
        assert os.environ["AWS_SECRET_ACCESS_KEY"] not in str(info.value)
