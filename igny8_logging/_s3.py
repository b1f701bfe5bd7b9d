"""S3-compatible object storage for the archive: one thin layer over a boto3 client.

The client comes from the standard boto3 chain (``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE`` and the shared config files, the
``AWS_*`` environment variables, instance roles), so the archive is pointed at
AWS, MinIO, Ceph or R2 the way every other boto3 program is.

Uploads stream in parts of :data:`PART_SIZE` (memory stays bounded whatever the
file's size) with SHA-256 checksums the store verifies on receipt; each object
is then checked with a ``HEAD``: its size and its checksum (the store's SHA-256
when it keeps one, else an MD5 ``ETag``) against what was computed here while
reading.  Every message that leaves this module is passed through
:func:`mask_secrets`: no credential, signature or URL password reaches a log
line or an error.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

from ._checksums import PART_SIZE, Digest, Hasher, read_part
from ._s3url import S3Url, mask_secrets

__all__ = ["ObjectInfo", "S3Store", "S3Url", "StoreError", "mask_secrets"]

_MAX_JSON: Final = 4 * 1024 * 1024
#: Parts of one file uploaded at once (memory: this many parts, 8 MiB each).
_PARALLEL_PARTS: Final = 4
_MD5_ETAG_RE: Final = re.compile(r'"?([0-9a-f]{32}(?:-[0-9]+)?)"?')


class StoreError(OSError):
    """The object store failed or is unreachable (the message is already masked).

    ``code`` is the store's error code (``"NoSuchKey"``, ``"404"``) when it sent one.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def missing(self) -> bool:
        """Whether the store said there is no such object."""
        return self.code in ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a ``HEAD`` tells about an object."""

    size: int
    checksum: str | None
    etag: str | None
    #: Encrypted with KMS or a customer key: its ETag is then no MD5 of the content.
    encrypted: bool = False


class S3Store:
    """The bucket of an :class:`S3Url`, through a lazily made boto3 client (thread-safe)."""

    def __init__(self, url: S3Url) -> None:
        self.url = url
        self._client: S3Client | None = None
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._errors: tuple[type[BaseException], ...] = ()

    # -- the client ----------------------------------------------------------------

    def connect(self) -> None:
        """Make the client now (no request is sent): ``ImportError`` without boto3."""
        self.client  # noqa: B018 - the property makes it

    @property
    def client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> S3Client:
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError:
            raise ImportError("the archive needs boto3: pip install 'igny8-logging[s3]'") from None
        self._errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
        session = boto3.session.Session()
        try:
            credentials = session.get_credentials()
            if credentials is not None:
                frozen = credentials.get_frozen_credentials()
                self._secrets = tuple(
                    s for s in (frozen.secret_key, frozen.token, frozen.access_key) if s
                )
        except Exception:
            pass  # no credentials yet: the first call says so
        config = botocore.config.Config(user_agent_extra="igny8-logging")
        return session.client("s3", config=config)

    def mask(self, text: str) -> str:
        return mask_secrets(text, self._secrets)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """Run one client call; its failure becomes a masked :class:`StoreError`."""
        self.connect()  # first: a missing boto3 is an ImportError, not the store's failure
        try:
            return call()
        except self._errors as exc:
            code, text = _describe_error(exc)
            raise StoreError(self.mask(f"{what}: {text}"), code) from None

    def key(self, *parts: str) -> str:
        return self.url.prefix + "/".join(parts)

    # -- reading -------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        """Size and checksums of *key* (``None`` when there is no such object)."""
        try:
            reply = self._call(
                f"HEAD {key}",
                lambda: self.client.head_object(
                    Bucket=self.url.bucket, Key=key, ChecksumMode="ENABLED"
                ),
            )
        except StoreError as exc:
            if exc.missing:
                return None
            raise
        encrypted = bool(reply.get("SSECustomerAlgorithm")) or str(
            reply.get("ServerSideEncryption") or ""
        ).startswith("aws:kms")
        return ObjectInfo(
            int(reply["ContentLength"]),
            reply.get("ChecksumSHA256"),
            reply.get("ETag"),
            encrypted,
        )

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of *key* in one ranged ``GET``."""
        if length <= 0:
            return b""
        reply = self._call(
            f"GET {key}",
            lambda: self.client.get_object(
                Bucket=self.url.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            ),
        )
        body = reply["Body"]
        try:
            data: bytes = self._call(f"GET {key}", body.read)
        finally:
            body.close()
        return data

    def get_json(self, key: str) -> Any:
        """The JSON document at *key* in one ``GET``; ``None`` when there is none (or it
        is not JSON, or is larger than a document of ours can be)."""
        try:
            reply = self._call(
                f"GET {key}", lambda: self.client.get_object(Bucket=self.url.bucket, Key=key)
            )
        except StoreError as exc:
            if exc.missing:
                return None
            raise
        body = reply["Body"]
        try:
            data: bytes = self._call(f"GET {key}", partial(body.read, _MAX_JSON + 1))
        finally:
            body.close()
        if len(data) > _MAX_JSON:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def prefixes(self, prefix: str) -> list[str]:
        """The names one level below *prefix* (``a/b/`` → ``['c', 'd']`` for ``a/b/c/...``)."""
        names: list[str] = []
        for page in self._pages(prefix, delimiter="/"):
            for entry in page.get("CommonPrefixes", ()):
                name = entry.get("Prefix", "")[len(prefix) :].rstrip("/")
                if name:
                    names.append(name)
        return names

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key below *prefix*, in order."""
        for page in self._pages(prefix, delimiter=None):
            for entry in page.get("Contents", ()):
                yield entry["Key"]

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.url.bucket, "Prefix": prefix}
            if delimiter:
                args["Delimiter"] = delimiter
            if token:
                args["ContinuationToken"] = token
            page: dict[str, Any] = self._call(
                f"LIST {prefix or '/'}", partial(self.client.list_objects_v2, **args)
            )
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # -- writing -------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self._call(
            f"PUT {key}",
            lambda: self.client.put_object(
                Bucket=self.url.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
            ),
        )

    def upload(
        self, key: str, stream: IO[bytes], on_bytes: Callable[[int], None] | None = None
    ) -> Digest:
        """Upload *stream* to *key*; returns the digest of exactly the bytes sent."""
        hasher = Hasher()
        first = read_part(stream)
        second = read_part(stream) if len(first) == PART_SIZE else b""
        if not second:
            hasher.part(first)
            self.put_bytes(key, first, "text/plain; charset=utf-8")
            if on_bytes is not None:
                on_bytes(len(first))
            return hasher.digest()
        upload = self._call(
            f"PUT {key}",
            lambda: self.client.create_multipart_upload(
                Bucket=self.url.bucket,
                Key=key,
                ContentType="text/plain; charset=utf-8",
                ChecksumAlgorithm="SHA256",
            ),
        )
        upload_id: str = upload["UploadId"]
        try:
            parts = self._upload_parts(
                key, upload_id, _parts(first, second, stream), hasher, on_bytes
            )
            self._call(
                f"PUT {key}",
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.url.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                ),
            )
        except BaseException:
            self._abort(key, upload_id)
            raise
        return hasher.digest()

    def _upload_parts(
        self,
        key: str,
        upload_id: str,
        parts: Iterator[bytes],
        hasher: Hasher,
        on_bytes: Callable[[int], None] | None,
    ) -> list[dict[str, Any]]:
        """Upload *parts* in order, a few at a time (memory: that many parts)."""
        done: dict[int, dict[str, Any]] = {}
        running: dict[Future[Any], tuple[int, str, int]] = {}

        def collect(block: bool) -> None:
            finished, _ = wait(running, return_when=FIRST_COMPLETED if block else ALL_COMPLETED)
            for future in finished:
                number, checksum, size = running.pop(future)
                reply = future.result()  # a failed part fails the upload (then aborted)
                done[number] = {
                    "PartNumber": number,
                    "ETag": reply["ETag"],
                    "ChecksumSHA256": checksum,
                }
                if on_bytes is not None:
                    on_bytes(size)

        with ThreadPoolExecutor(_PARALLEL_PARTS, thread_name_prefix="igny8-archive") as pool:
            for number, data in enumerate(parts, start=1):
                if len(running) >= _PARALLEL_PARTS:
                    collect(block=True)
                checksum = hasher.part(data)
                call = partial(
                    self.client.upload_part,
                    Bucket=self.url.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ChecksumSHA256=checksum,
                )
                future = pool.submit(self._call, f"PUT {key} (part {number})", call)
                running[future] = (number, checksum, len(data))
            while running:
                collect(block=False)
        return [done[number] for number in sorted(done)]

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.url.bucket, Key=key, UploadId=upload_id)
        except Exception:
            pass  # unreachable store: the parts are invisible and expire with a lifecycle rule

    # -- checking ------------------------------------------------------------------

    def verify(self, key: str, digest: Digest) -> str | None:
        """``None`` when *key* holds exactly *digest*'s bytes, else what is wrong.

        Both digests the store reports are checked when it reports them: its SHA-256
        checksum (verified by S3 on receipt) and its MD5 ``ETag`` (computed by the
        store from what it received, also where checksums are only kept, not checked).
        """
        info = self.head(key)
        if info is None:
            return f"{key} is missing from the store"
        if info.size != digest.size:
            return f"{key} holds {info.size} bytes, {digest.size} expected"
        checked = False
        if info.checksum:
            if info.checksum.split("-")[0] != digest.checksum.split("-")[0]:
                return f"{key} has SHA-256 checksum {info.checksum}, {digest.checksum} expected"
            checked = True
        match = None if info.encrypted else _MD5_ETAG_RE.fullmatch(info.etag or "")
        if match is not None:
            if match[1] != digest.etag:
                return f"{key} has ETag {match[1]}, {digest.etag} expected: not the bytes sent"
            checked = True
        if not checked:
            return f"{key}: the store reports no checksum to verify it by"
        return None


def _parts(first: bytes, second: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    """The parts of a multipart upload: the two already read, then the rest of *stream*."""
    yield first
    part = second
    while part:
        yield part
        if len(part) < PART_SIZE:
            return
        part = read_part(stream)


def _describe_error(exc: BaseException) -> tuple[str | None, str]:
    """The error code and one line of text of a botocore exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code") or status or "") or None
        message = " ".join(str(error.get("Message") or "").split())
        return code, f"{code}: {message}" if message else str(code)
    return None, " ".join(str(exc).split()) or type(exc).__name__
