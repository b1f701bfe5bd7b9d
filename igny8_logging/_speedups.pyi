from typing import Any

def text_line(
    ts: str, head: str, message: str, items: list[tuple[str, Any]] | None, short: int, /
) -> bytes | None: ...
def trace_line(
    ts: str,
    event: str,
    level: str,
    run_id: str,
    account_id: object,
    site_id: object,
    stage: object,
    message: str,
    items: list[tuple[str, Any]],
    short: int,
    max_line: int,
    /,
) -> bytes | None: ...
