"""``RunLogsMixin``: a run's log tail and trace pages as Django REST framework actions.

Add the mixin to a viewset whose objects are runs::

    class RunViewSet(RunLogsMixin, viewsets.ReadOnlyModelViewSet):
        serializer_class = RunSerializer

        def get_queryset(self):
            return AutomationRun.objects.filter(site__members=self.request.user)

and the router serves ``GET …/{pk}/logs/?lines=N&stage=S`` →
``{"run_id", "lines"}``, ``GET …/{pk}/trace/?cursor=C&limit=L`` →
``{"events", "cursor", "complete"}`` and ``GET …/{pk}/trace/stream/?cursor=C``:
the trace as Server-Sent Events (``text/event-stream``, whatever the viewset's
renderers), one event per trace event (``data:`` its JSON, ``id:`` the position
after it), resumable with ``Last-Event-ID`` (which wins over ``cursor``), a
keep-alive comment every 15 s, closed after ``run_end``.

The run is found with ``self.get_object()``, so the viewset's queryset,
filters and permissions decide who sees which run: a run hidden by them, an
unknown run, a row whose run folder does not exist and a stored id that is not
a valid run id (a path traversal attempt) are all the same 404.  A bad
``lines``, ``stage``, ``limit`` or ``cursor`` is a 400.  A store that cannot be
reached (``IGNY8_REDIS_URL``'s Redis down while the files do not hold the run, or
down in the middle of a read) is a 503 with a JSON ``detail`` and ``Retry-After``;
an event stream whose store fails after it started ends cleanly (the browser
reconnects with ``Last-Event-ID``).  Files are read with
:class:`igny8_logging.RunLogReader` below the setting ``IGNY8_LOG_DIR`` (else
the library default); ``lines`` is at most the setting ``IGNY8_LOGS_MAX_LINES``
(default 10,000, the reader's own limit).  With the setting ``IGNY8_REDIS_URL``
(and ``IGNY8_REDIS_PREFIX``, default ``"igny8"``) runs that Redis holds are read
from Redis (see :mod:`igny8_logging.redis`), the others from the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .._ids import check_stage, default_base_dir
from .._reader import (
    MAX_PAGE,
    MAX_TAIL_LINES,
    RunLogReader,
    RunNotFound,
    SourceUnavailable,
    TracePage,
)
from ._run_model import RunModelHandler
from ._sse import EventFeed

__all__ = ["EventStreamRenderer", "LogsUnavailable", "RunLogsMixin", "RunModelHandler"]

if TYPE_CHECKING:
    from rest_framework.viewsets import GenericViewSet

    _ViewSet = GenericViewSet[Any]
else:
    _ViewSet = object

_STREAM_ACTION: Final = "trace_stream"
_readers: dict[tuple[Any, ...], RunLogReader] = {}

_INT_RE: Final = re.compile(r"[0-9]{1,9}", re.ASCII)


def _count(params: Any, name: str, default: int, high: int) -> int:
    """The query parameter *name* as an int in 1..*high*, else a 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str) or not _INT_RE.fullmatch(raw) or not 1 <= int(raw) <= high:
        raise ValidationError({name: f"must be an integer from 1 to {high}"})
    return int(raw)


class LogsUnavailable(APIException):
    """503: the store holding the run's logs (Redis, the archive) cannot be reached now."""

    status_code = 503
    default_detail = "The run's logs cannot be read now; try again later."
    default_code = "logs_unavailable"
    #: Seconds for the ``Retry-After`` header (DRF's exception handler sends it).
    wait = 5


@contextmanager
def _run_not_found() -> Iterator[None]:
    """Turn :class:`RunNotFound` (unknown run, invalid stored id, no folder) into a 404,
    :class:`SourceUnavailable` into a 503 (its ``detail`` names the kind of store, not
    its URL: that stays in the server's logs)."""
    try:
        yield
    except RunNotFound:
        raise NotFound("No logs for this run.") from None
    except SourceUnavailable as exc:
        raise LogsUnavailable(
            f"The run's logs cannot be read now: {exc.source} cannot be reached. Try again later."
        ) from exc


class EventStreamRenderer(BaseRenderer):
    """``text/event-stream``: lets the stream action pass content negotiation.

    The events themselves are a ``StreamingHttpResponse``; this renders only the
    action's error responses (404, 400), as JSON text.
    """

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Any = None,
    ) -> bytes:
        return json.dumps(data).encode() if data is not None else b""


class RunLogsMixin(_ViewSet):
    """Adds the ``logs``, ``trace`` and ``trace/stream`` detail actions to a DRF ``GenericViewSet``.

    The object's attributes named by ``run_id_field``, ``account_id_field`` and
    ``site_id_field`` hold the run id and its tenant (set a name to ``None``
    for a run without that part: its ``_`` folder).  For a foreign key
    ``site``, Django's ``site_id`` attribute is the key's raw value.  A value
    that is neither ``None``, an int nor a str (a UUID) is used as its ``str()``.
    """

    run_id_field: str = "run_id"
    account_id_field: str | None = "account_id"
    site_id_field: str | None = "site_id"
    #: The trace page size when ``limit`` is not given.
    trace_page_size: int = 500
    #: Seconds between keep-alive comments of ``trace/stream/`` while no event comes.
    sse_keepalive: float = 15.0
    #: Seconds between looks for new events of ``trace/stream/``.
    sse_poll_interval: float = 0.25

    get_object: Callable[[], Any]

    def get_log_reader(self) -> RunLogReader:
        """The reader of ``settings.IGNY8_LOG_DIR`` (else the library default), with
        Redis when ``settings.IGNY8_REDIS_URL`` is set (one reader per settings)."""
        base = getattr(settings, "IGNY8_LOG_DIR", None) or default_base_dir()
        url = getattr(settings, "IGNY8_REDIS_URL", None) or None
        prefix = getattr(settings, "IGNY8_REDIS_PREFIX", None) or "igny8"
        key = (base, url, prefix)
        reader = _readers.get(key)
        if reader is None:
            if url is None:
                reader = RunLogReader(base)
            else:
                reader = RunLogReader(base, redis_url=url, prefix=prefix)
            _readers.clear()  # settings changed (tests): keep one
            _readers[key] = reader
        return reader

    def get_run_ref(self, obj: Any) -> tuple[Any, Any, Any]:
        """``(run_id, account_id, site_id)`` of the object, as stored (the reader validates)."""

        def read(field: str | None) -> Any:
            value = None if field is None else getattr(obj, field)
            if value is None or isinstance(value, int | str):
                return value
            return str(value)

        return read(self.run_id_field), read(self.account_id_field), read(self.site_id_field)

    @action(detail=True, methods=["get"])
    def logs(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The last ``lines`` lines (default 100) of the run log, or of stage ``stage``'s log."""
        run_id, account_id, site_id = self.get_run_ref(self.get_object())
        high = min(int(getattr(settings, "IGNY8_LOGS_MAX_LINES", MAX_TAIL_LINES)), MAX_TAIL_LINES)
        lines = _count(request.query_params, "lines", 100, high)
        stage = request.query_params.get("stage")
        if stage is not None:
            try:
                check_stage(stage)
            except ValueError as exc:
                raise ValidationError({"stage": str(exc)}) from None
        with _run_not_found():
            text = self.get_log_reader().tail(
                run_id, lines, account_id=account_id, site_id=site_id, stage=stage
            )
        return Response({"run_id": run_id, "lines": text})

    @action(detail=True, methods=["get"], url_path="trace", url_name="trace")
    def run_trace(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Trace events after ``cursor`` (from the start without one), at most ``limit``.

        Named ``run_trace`` (URL ``trace/``) because a viewset method named
        ``trace`` would also answer HTTP ``TRACE`` requests on every route.
        """
        run_id, account_id, site_id = self.get_run_ref(self.get_object())
        limit = _count(request.query_params, "limit", self.trace_page_size, MAX_PAGE)
        cursor = request.query_params.get("cursor")
        with _run_not_found():
            try:
                page = self.get_log_reader().read_trace(
                    run_id, account_id=account_id, site_id=site_id, cursor=cursor, limit=limit
                )
            except ValueError as exc:
                raise ValidationError({"cursor": str(exc)}) from None
        return Response({"events": page.events, "cursor": page.cursor, "complete": page.complete})

    # -- Server-Sent Events -------------------------------------------------------------

    def get_renderers(self) -> list[BaseRenderer]:
        renderers: list[BaseRenderer] = list(super().get_renderers())
        if getattr(self, "action", None) == _STREAM_ACTION:
            renderers.append(EventStreamRenderer())
        return renderers

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        if getattr(self, "action", None) == _STREAM_ACTION:
            force = True  # an event stream is served whatever the client accepts
        return super().perform_content_negotiation(request, force=force)

    @action(detail=True, methods=["get"], url_path="trace/stream", url_name="trace-stream")
    def trace_stream(self, request: Request, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        """The trace as Server-Sent Events, from ``Last-Event-ID`` / ``cursor`` (else the start)."""
        run_id, account_id, site_id = self.get_run_ref(self.get_object())
        last_id = request.META.get("HTTP_LAST_EVENT_ID") or None
        if last_id is not None:
            name, position = "Last-Event-ID", last_id
        else:
            name, position = "cursor", request.query_params.get("cursor")
        reader = self.get_log_reader()

        def read(cursor: str | None, limit: int) -> TracePage:
            return reader.read_trace(
                run_id, account_id=account_id, site_id=site_id, cursor=cursor, limit=limit
            )

        feed = EventFeed(
            read,
            page_size=min(self.trace_page_size, MAX_PAGE),
            keepalive=self.sse_keepalive,
            poll_interval=self.sse_poll_interval,
        )
        with _run_not_found():
            try:
                feed.start(position)
            except ValueError as exc:
                raise ValidationError({name: str(exc)}) from None
        response = StreamingHttpResponse(iter(feed), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response
