"""Sinks: the console (one readable line per alert, window or invalid record) and a JSON-lines
file. Both accept any stream; fields are named from Storm's topology context when it provides
them (``source->stream->fields``), else from the health topology's known layouts.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from streamparse import Bolt

from health_core.config import HealthConfig
from health_core.report import ALERT_FIELDS, INVALID_FIELDS, as_record, format_line, to_json_line


def _known_fields(component: str, stream: str, size: int) -> tuple[str, ...] | None:
    """HealthTopology's layouts, for a context that does not list fields (older Storm)."""
    if stream == "invalid" and size == len(INVALID_FIELDS):
        return INVALID_FIELDS
    if component == "threshold" and stream == "default" and size == len(ALERT_FIELDS):
        return ALERT_FIELDS
    return None


class _SinkBolt(Bolt):
    outputs: list[Any] = []

    def _fields_from_context(self, context: dict[str, Any]) -> None:
        self.fields_by_source: dict[str, dict[str, list[str]]] = (
            context.get("source->stream->fields") or {} if isinstance(context, dict) else {}
        )

    def record(self, tup: Any) -> dict[str, Any]:
        fields = self.fields_by_source.get(tup.component, {}).get(tup.stream)
        if fields is None:
            fields = _known_fields(tup.component, tup.stream, len(tup.values))
        return as_record(tup.values, fields)


class ConsoleSinkBolt(_SinkBolt):
    """One line per tuple: on the terminal under squall, in the worker log under Storm.

    Under Storm a Python component's stdout IS the multilang pipe (pystorm 3.1.4 does not
    redirect print() on Python 3), so printing there kills the worker; its stderr is what
    ShellBolt copies into the worker log.
    """

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self._fields_from_context(context)
        sinks = HealthConfig.from_storm_conf(storm_conf).sinks
        self.enabled, self.payloads = sinks.console, sinks.console_payloads
        self.out = sys.stdout if storm_conf.get("squall.embedded") else sys.stderr

    def process(self, tup: Any) -> None:
        if self.enabled:
            print(
                format_line(tup.component, tup.stream, self.record(tup), self.payloads),
                file=self.out,
                flush=True,
            )


class JsonlSinkBolt(_SinkBolt):
    """Appends one JSON object per tuple to ``sinks.jsonl_path`` (nothing when it is null).

    The path is resolved on the worker; the directory is created if missing. Lines are flushed
    per tuple so a reader (or a test) sees every acked tuple in the file.
    """

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self._fields_from_context(context)
        path = HealthConfig.from_storm_conf(storm_conf).sinks.jsonl_path
        self.file = None
        if path is not None:
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the bolt

    def process(self, tup: Any) -> None:
        if self.file is not None:
            self.file.write(to_json_line(tup.component, tup.stream, self.record(tup)) + "\n")
            self.file.flush()
