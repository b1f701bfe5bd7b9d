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
def configure_records(
    record_cls: type,
    logging_module: object,
    clock: object,
    current_thread: object,
    process_name: object,
    task_name: object,
    names_of: object,
    paths: dict[object, tuple[Any, Any]],
    level_names: dict[int, str],
    get_level_name: object,
    mapping: type,
    pid: int,
    ns: bool,
    /,
) -> bool: ...
def set_pid(pid: int, /) -> None: ...
def build_record(
    name: str,
    level: int,
    pathname: str,
    lineno: int,
    msg: object,
    args: Any,
    exc_info: Any,
    func: str | None = None,
    sinfo: str | None = None,
    /,
) -> Any: ...
def configure_routing(
    route_attr: str,
    route_cls: type,
    places: dict[Any, Any],
    tail: int,
    last: str,
    skip: frozenset[str],
    fields_attr: str,
    record_attrs: frozenset[str],
    routing_keys: frozenset[str],
    /,
) -> bool: ...
def route_fast(record_dict: dict[str, Any], /) -> Any: ...
def pending(fd: int, /) -> int: ...
def plan_attrs(
    given: dict[str, Any], ids: dict[str, Any], ref: object, stage: object, parts: object, /
) -> tuple[dict[str, Any], Any] | None: ...
def configure_handlers(spec: dict[str, object], /) -> Any: ...
def configure_redis(spec: dict[str, object], /) -> Any: ...
def configure_calls(spec: dict[str, object], /) -> Any: ...
