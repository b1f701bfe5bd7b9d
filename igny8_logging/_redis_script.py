"""One batch of records as one Redis command: the Lua script and its hand-packed call.

:func:`pack_batch` turns a batch of queued records into the RESP bytes of one
``EVALSHA`` of :data:`SCRIPT`: atomic (the batch is stored whole or not at all,
so a retry after an outage never stores half of it twice) and answered with one
small reply.  The lines are grouped by stream (each stream keeps the order of its
records), so the script runs one bare ``XADD`` per line; what is per stream or per
run (the ``MAXLEN ~`` trim, the expiry, the files set, the tenant's run index) is
done once per batch, not once per line.

Hand-packed because both halves are paid for by the logging callers: the sender
thread's Python holds the GIL (redis-py's packer costs several times more per
argument), and on a small machine the server's CPU is their CPU too.
"""

from __future__ import annotations

import hashlib
from typing import Final

from ._ids import RUN_LOG, TRACE_FILE, Stage, stage_file
from ._redis_keys import FIELD, files_key, index_key, stream_key

__all__ = ["SCRIPT", "SHA", "Entry", "pack_batch", "pack_command"]

#: One record: its run folder's parts, its stage (``None``: none), the bytes of its
#: text line (for the run log and the stage's log) and of its trace line (``None``:
#: it does not reach the trace).
Entry = tuple[tuple[str, ...], Stage | None, bytes, bytes | None]

#: ARGV: the field name, maxlen ('' = untrimmed), ttl ('' = no expiry), the number
#: of runs; then per run: its files set, its tenant's run index, its id, its number
#: of streams; then per stream: its key, its file name, its number of lines, the
#: lines.  Server time scores the run index.
SCRIPT: Final = """
local field, maxlen, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = tonumber(redis.call('TIME')[1])
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  local files, runs, run_id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local streams = tonumber(ARGV[i + 3])
  i = i + 4
  for _ = 1, streams do
    local key, count = ARGV[i], tonumber(ARGV[i + 2])
    redis.call('SADD', files, ARGV[i + 1])
    for j = i + 3, i + 2 + count do
      redis.call('XADD', key, '*', field, ARGV[j])
    end
    if maxlen ~= '' then redis.call('XTRIM', key, 'MAXLEN', '~', maxlen) end
    if ttl then redis.call('EXPIRE', key, ttl) end
    i = i + 3 + count
  end
  redis.call('ZADD', runs, now, run_id)
  if ttl then
    redis.call('EXPIRE', files, ttl)
    redis.call('EXPIRE', runs, ttl)
    redis.call('ZREMRANGEBYSCORE', runs, '-inf', now - ttl)
  end
end
return i
"""

#: The script's name in Redis (``EVALSHA`` names scripts by their SHA-1).
SHA: Final = hashlib.sha1(SCRIPT.encode()).hexdigest().encode()

_CRLF: Final = b"\r\n"


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(arg), arg)


#: *bytes* as one RESP bulk string: how an entry's lines are queued (the caller packs
#: them while they are in its cache; the sender only joins them).
bulk: Final = _bulk


def _group(batch: list[Entry]) -> dict[tuple[str, ...], dict[str, list[bytes]]]:
    """The batch's lines (RESP bulk strings) per run, then per file name (the run
    log first), each stream's in the order of its records."""
    runs: dict[tuple[str, ...], dict[str, list[bytes]]] = {}
    stages: dict[Stage, str] = {}
    for parts, stage, text, trace in batch:  # lines already packed (see bulk)
        streams = runs.get(parts)
        if streams is None:
            streams = runs[parts] = {RUN_LOG: []}
        streams[RUN_LOG].append(text)
        if stage is not None:
            name = stages.get(stage)
            if name is None:
                name = stages[stage] = stage_file(stage)
            lines = streams.get(name)
            if lines is None:
                lines = streams[name] = []
            lines.append(text)
        if trace is not None:
            lines = streams.get(TRACE_FILE)
            if lines is None:
                lines = streams[TRACE_FILE] = []
            lines.append(trace)
    return runs


def pack_batch(prefix: str, batch: list[Entry], maxlen: int | None, ttl: int | None) -> bytes:
    """The RESP bytes of the one ``EVALSHA`` that stores *batch*."""
    runs = _group(batch)
    pieces = [
        _bulk(FIELD.encode()),
        _bulk(b"" if maxlen is None else b"%d" % maxlen),
        _bulk(b"" if ttl is None else b"%d" % ttl),
        _bulk(b"%d" % len(runs)),
    ]
    count = len(pieces)
    for parts, streams in runs.items():
        pieces += (
            _bulk(files_key(prefix, parts).encode()),
            _bulk(index_key(prefix, (parts[0], parts[1])).encode()),
            _bulk(parts[2].encode()),
            _bulk(b"%d" % len(streams)),
        )
        count += 4
        for name, lines in streams.items():
            pieces += (
                _bulk(stream_key(prefix, parts, name).encode()),
                _bulk(name.encode()),
                _bulk(b"%d" % len(lines)),
            )
            pieces += lines
            count += 3 + len(lines)
    return pack_command([b"EVALSHA", SHA, b"0"], count, pieces)


def pack_command(command: list[bytes], count: int, pieces: list[bytes]) -> bytes:
    """One RESP command: *command* (plain arguments), then *count* more arguments
    already packed as bulk strings in *pieces*."""
    return b"".join([b"*%d\r\n" % (len(command) + count), *map(_bulk, command), *pieces])
