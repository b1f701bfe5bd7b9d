"""``RunModelHandler``: keep the app's own run row in step with the run's events.

A ready :class:`igny8_logging.RunEventHandler` for Django: on ``run_start`` it
sets the row's status to ``running``, on ``run_end`` to the run's status, and
on ``stage_complete`` it stores the stage's ``result`` in ``stage_{stage}_result``
(skipped when the model has no such field).  Each event is one ``UPDATE`` of
the rows whose run id field equals the event's ``run_id``; a run with no row
is skipped.  The model is resolved at the first event, so the handler can be
configured (``dictConfig``) before Django is set up.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .._event_handler import RunEventHandler
from .._events import RUN_END, RUN_START, STAGE_COMPLETE

__all__ = ["RunModelHandler"]


class RunModelHandler(RunEventHandler):
    """Mirror run status and stage results into a Django model's rows."""

    def __init__(
        self,
        model: str,
        run_id_field: str = "run_id",
        status_field: str = "status",
        result_field: str = "stage_{stage}_result",
        level: int | str = logging.NOTSET,
        **options: Any,
    ) -> None:
        super().__init__(level, **options)
        if not isinstance(model, str) or model.count(".") != 1:
            raise ValueError(f"model must be 'app_label.ModelName', not {model!r}")
        self.model = model
        self.run_id_field = run_id_field
        self.status_field = status_field
        self.result_field = result_field
        self._model: Any = None
        self._fields: dict[str, Any] = {}

    def _resolve(self) -> Any:
        if self._model is None:
            from django.apps import apps

            model = apps.get_model(self.model)
            self._fields = {f.name: f for f in model._meta.concrete_fields}
            self._model = model
        return self._model

    def _value(self, name: str, value: Any) -> Any:
        field = self._fields[name]
        if field.get_internal_type() == "JSONField" or value is None or isinstance(value, str):
            return value
        return json.dumps(value, default=str)

    def updates(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The fields *event* sets on the run's row, ``None`` for no update."""
        kind = event.get("event")
        value: Any
        if kind == RUN_START:
            name, value = self.status_field, "running"
        elif kind == RUN_END:
            name, value = self.status_field, event.get("status")
        elif kind == STAGE_COMPLETE and event.get("stage") is not None:
            name, value = self.result_field.format(stage=event["stage"]), event.get("result")
        else:
            return None
        if name not in self._fields:
            return None
        return {name: self._value(name, value)}

    def handle_event(self, event: dict[str, Any]) -> None:
        if event.get("event") not in (RUN_START, RUN_END, STAGE_COMPLETE):
            return
        model = self._resolve()
        updates = self.updates(event)
        if updates:
            model._default_manager.filter(**{self.run_id_field: event["run_id"]}).update(**updates)
