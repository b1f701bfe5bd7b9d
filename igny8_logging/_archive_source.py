"""Reading archived runs back from object storage: :class:`ArchiveSource`.

An archived run is the objects ``{prefix}/{account}/{site}/{run_id}/{file}``
plus its manifest, ``.igny8-archive.json``, written last by
:func:`igny8_logging.archive.archive_runs`: a run is visible here only once all
its objects were uploaded and checked.  The manifest gives each file's size, so a
read needs no ``HEAD``; every read is a ranged ``GET`` through a small block
cache (:class:`ObjectBlob`), and the reader's own line algorithms run over it, so a
tail costs a few blocks whatever the object's size and no object is ever held
whole in memory.  A store that fails or cannot be reached is a
:class:`~._sources.SourceUnavailable` (as Redis down is for ``RedisSource``).
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from ._blobsource import BlobSource
from ._checksums import Digest
from ._filesource import is_tenant_part
from ._ids import RunRef, is_run_id
from ._s3 import S3Store, S3Url, StoreError
from ._sources import SourceUnavailable, is_run_file

__all__ = ["MANIFEST", "ArchiveSource", "Manifest", "ObjectBlob"]

#: The run's manifest object, written last: its presence means "archived and checked".
MANIFEST: Final = ".igny8-archive.json"
MANIFEST_FORMAT: Final = 1
_BLOCK: Final = 16 * 1024
_CACHE_BLOCKS: Final = 256  # 4 MiB of blocks per source
_DIRECT_READ: Final = 256 * 1024  # larger reads (streaming a file) bypass the cache
_MANIFEST_TTL: Final = 30.0  # seconds a manifest read is reused (archived runs are fixed)
_ABSENT_TTL: Final = 5.0  # ... and the answer "not archived" (a run may be archived soon)
_MANIFESTS_KEPT: Final = 256


@dataclass(frozen=True, slots=True)
class Manifest:
    """What was archived of one run: each file's digest, and when the run ended."""

    run_id: str
    files: dict[str, Digest]
    ended_at: str | None
    archived_at: str | None

    def as_dict(self, account: str, site: str) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "run_id": self.run_id,
            "account": account,
            "site": site,
            "ended_at": self.ended_at,
            "archived_at": self.archived_at,
            "files": {name: digest.as_dict() for name, digest in sorted(self.files.items())},
        }

    @classmethod
    def parse(cls, data: object, run_id: str) -> Manifest | None:
        """The manifest in *data*, ``None`` unless it is a well-formed one of *run_id*."""
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            return None
        if data.get("run_id") != run_id or not isinstance(data.get("files"), dict):
            return None
        files: dict[str, Digest] = {}
        for name, entry in data["files"].items():
            digest = Digest.from_dict(entry)
            if not isinstance(name, str) or not is_run_file(name) or digest is None:
                return None
            files[name] = digest
        ended, archived = data.get("ended_at"), data.get("archived_at")
        return cls(
            run_id,
            files,
            ended if isinstance(ended, str) else None,
            archived if isinstance(archived, str) else None,
        )


@contextmanager
def _reaching(store: S3Store) -> Iterator[None]:
    """Turn a failing store (unreachable, refusing us) into ``SourceUnavailable``."""
    try:
        yield
    except StoreError as exc:
        raise SourceUnavailable("the archive", str(store.url), exc) from exc


def run_prefix(store: S3Store, ref: RunRef) -> str:
    """``{prefix}{account}/{site}/{run_id}/``: where the run's objects are."""
    return store.key(*ref.parts, "")


class _BlockCache:
    """Recently read blocks of immutable objects, keyed by (key, sha256, block)."""

    def __init__(self, blocks: int) -> None:
        self._blocks: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()
        self._max = blocks
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> bytes | None:
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
            return block

    def put(self, key: tuple[str, str, int], block: bytes) -> None:
        with self._lock:
            self._blocks[key] = block
            self._blocks.move_to_end(key)
            while len(self._blocks) > self._max:
                self._blocks.popitem(last=False)


class ObjectBlob:
    """A stored object as a ``Blob`` (``size()``, ``pread()``): ranged ``GET``\\ s of
    aligned blocks, the missing ones of one read fetched in one request."""

    def __init__(self, store: S3Store, key: str, digest: Digest, cache: _BlockCache) -> None:
        self._store = store
        self._key = key
        self._digest = digest
        self._cache = cache

    def size(self) -> int:
        return self._digest.size

    def pread(self, offset: int, length: int) -> bytes:
        size = self._digest.size
        length = min(length, size - offset)
        if length <= 0 or offset < 0:
            return b""
        if length > _DIRECT_READ:
            with _reaching(self._store):
                return self._store.get_range(self._key, offset, length)
        first, last = offset // _BLOCK, (offset + length - 1) // _BLOCK
        tag = (self._key, self._digest.sha256)
        blocks = {i: self._cache.get((*tag, i)) for i in range(first, last + 1)}
        missing = [i for i, block in blocks.items() if block is None]
        if missing:
            start = missing[0] * _BLOCK
            with _reaching(self._store):
                data = self._store.get_range(
                    self._key, start, min(size, (missing[-1] + 1) * _BLOCK) - start
                )
            for i in range(missing[0], missing[-1] + 1):
                block = data[(i - missing[0]) * _BLOCK : (i - missing[0] + 1) * _BLOCK]
                self._cache.put((*tag, i), block)
                blocks[i] = block
        joined = b"".join(blocks[i] or b"" for i in range(first, last + 1))
        skip = offset - first * _BLOCK
        return joined[skip : skip + length]


class _BlobReader(io.RawIOBase):
    """An :class:`ObjectBlob` as a read-only, seekable binary stream."""

    def __init__(self, blob: ObjectBlob) -> None:
        super().__init__()
        self._blob = blob
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._blob.size()}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._blob.pread(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class ArchiveSource(BlobSource):
    """The runs archived at an ``s3://bucket/prefix`` URL, as a reader's ``RunSource``.

    Endpoint and credentials come from the standard boto3 chain.  Reads only
    runs whose manifest exists (archived and checked); thread-safe.
    """

    def __init__(self, url: str) -> None:
        self.url = S3Url.parse(url)
        self.store = S3Store(self.url)
        self._cache = _BlockCache(_CACHE_BLOCKS)
        self._manifests: OrderedDict[RunRef, tuple[float, Manifest | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ArchiveSource({str(self.url)!r})"

    # -- manifests -------------------------------------------------------------------

    def manifest(self, ref: RunRef, *, fresh: bool = False) -> Manifest | None:
        """The run's manifest (``None``: not archived), cached for a few seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._manifests.get(ref)
        if cached is not None and not fresh:
            age, known = now - cached[0], cached[1]
            if age < (_MANIFEST_TTL if known is not None else _ABSENT_TTL):
                return known
        with _reaching(self.store):
            data = self.store.get_json(run_prefix(self.store, ref) + MANIFEST)
        manifest = Manifest.parse(data, ref.run_id)
        with self._lock:
            self._manifests[ref] = (now, manifest)
            self._manifests.move_to_end(ref)
            while len(self._manifests) > _MANIFESTS_KEPT:
                self._manifests.popitem(last=False)
        return manifest

    def forget(self, ref: RunRef) -> None:
        """Drop the cached manifest of *ref* (after the run was archived again)."""
        with self._lock:
            self._manifests.pop(ref, None)

    def _blob(self, ref: RunRef, name: str) -> ObjectBlob | None:
        manifest = self.manifest(ref)
        digest = None if manifest is None else manifest.files.get(name)
        if digest is None:
            return None
        return ObjectBlob(self.store, run_prefix(self.store, ref) + name, digest, self._cache)

    # -- RunSource (the reads are BlobSource's, over ObjectBlob) ----------------------

    def open_blob(self, ref: RunRef, name: str) -> ObjectBlob | None:
        return self._blob(ref, name)

    def has_run(self, ref: RunRef) -> bool:
        return self.manifest(ref) is not None

    def has_file(self, ref: RunRef, name: str) -> bool:
        manifest = self.manifest(ref)
        return manifest is not None and name in manifest.files

    def file_names(self, ref: RunRef) -> list[str]:
        manifest = self.manifest(ref)
        return [] if manifest is None else sorted(manifest.files)

    def open_file(self, ref: RunRef, name: str) -> BinaryIO:
        blob = self._blob(ref, name)
        if blob is None:
            raise FileNotFoundError(f"{ref.run_id} has no archived {name}")
        return io.BufferedReader(_BlobReader(blob), buffer_size=1024 * 1024)

    def follow(
        self, ref: RunRef, name: str, lines: int, poll_interval: float, timeout: float | None
    ) -> Iterator[str]:
        # An archived run has ended: what exists is all there will be (and reading the
        # whole trace to find its run_end, as a live follow does, would download it).
        return iter(self.tail(ref, name, lines) if lines else [])

    def list_runs(self, tenant_parts: tuple[str, str]) -> list[str]:
        prefix = self.store.key(*tenant_parts, "")
        runs = []
        with _reaching(self.store):
            for key in self.store.keys(prefix):
                run_id, _, name = key[len(prefix) :].partition("/")
                if name == MANIFEST and is_run_id(run_id):
                    runs.append(run_id)
        return runs

    def tenants(self) -> list[tuple[str, str]]:
        pairs = []
        with _reaching(self.store):
            for account in self.store.prefixes(self.store.key("")):
                if not is_tenant_part(account):
                    continue
                for site in self.store.prefixes(self.store.key(account, "")):
                    if is_tenant_part(site):
                        pairs.append((account, site))
        return pairs
