"""The Redis key layout shared by the stream handler and the Redis reader.

* ``{prefix}:{account}:{site}:{run_id}:{file name}``: one stream per run file, each
  entry one record with the file's exact bytes in field ``line``;
* ``{prefix}:{account}:{site}:{run_id}:.files``: a set of the run's file names;
* ``{prefix}:{account}:{site}:.runs``: a sorted set of the tenant's runs, scored by
  the (server) time of their last write.

``_`` stands for a missing account or site, as on disk.  The two index keys are
dot-named like the library's own dot-files in a run folder: no run id or file
name starts with a dot, so they never clash with a stream.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["FIELD", "files_key", "index_key", "run_base", "safe_url", "stream_key"]

#: The stream entry field holding the file line.
FIELD: Final = "line"
_FILES: Final = ".files"
_RUNS: Final = ".runs"


def check_prefix(prefix: object) -> str:
    """A key prefix: a non-empty str without whitespace (``ValueError`` otherwise)."""
    if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
        raise ValueError(f"prefix must be a non-empty str without spaces, not {prefix!r}")
    return prefix


def run_base(prefix: str, parts: tuple[str, ...]) -> str:
    """``{prefix}:{account}:{site}:{run_id}`` for a run folder's *parts*."""
    return f"{prefix}:{parts[0]}:{parts[1]}:{parts[2]}"


def stream_key(prefix: str, parts: tuple[str, ...], name: str) -> str:
    """The stream of file *name* of the run."""
    return f"{run_base(prefix, parts)}:{name}"


def files_key(prefix: str, parts: tuple[str, ...]) -> str:
    """The set of the run's file names."""
    return f"{run_base(prefix, parts)}:{_FILES}"


def index_key(prefix: str, tenant: tuple[str, str]) -> str:
    """The sorted set of one account/site's runs."""
    return f"{prefix}:{tenant[0]}:{tenant[1]}:{_RUNS}"


def safe_url(url: str) -> str:
    """*url* without its password (in the user part or a ``password=`` query), for messages."""
    try:
        parts = original = urlsplit(url)
        if parts.password is not None:
            host = parts.hostname or ""
            host = f"[{host}]" if ":" in host else host
            user = f"{parts.username}:***@" if parts.username else ":***@"
            netloc = f"{user}{host}" + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        if "password=" in parts.query:
            query = parse_qsl(parts.query, keep_blank_values=True)
            masked = [(k, "***" if k == "password" else v) for k, v in query]
            parts = parts._replace(query=urlencode(masked, safe="*"))
        if parts == original:
            return url
        tail = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{parts.netloc}{parts.path}{tail}"
    except ValueError:
        return "<unparsable url>"
