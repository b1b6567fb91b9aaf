"""Build a user's streamparse component so that it runs in-process.

A pystorm component talks to Storm only through ``send_message(dict)`` and reads through
``read_tuple()`` / ``read_task_ids()``. Hosting replaces exactly those, so the user's class runs
unchanged: its own ``_run`` (Bolt, BatchingBolt, ...) is what the runner calls.
"""

from __future__ import annotations

import logging
import re
from collections import namedtuple
from collections.abc import Callable
from io import BytesIO
from typing import Any

from pystorm.bolt import Bolt
from pystorm.component import Component

_IDENTIFIER = re.compile(r"\W|^(?=\d)")


def values_type(source: str, stream: str, fields: tuple[str, ...]) -> Any:
    """The namedtuple class pystorm builds for tuples of ``source``'s ``stream`` (None: no
    fields)."""
    if not fields:
        return None
    name = _IDENTIFIER.sub("_", source.title()) + _IDENTIFIER.sub("_", stream.title()) + "Tuple"
    return namedtuple(name, fields, rename=True)


def build_component(
    cls: type,
    conf: dict[str, Any],
    context: dict[str, Any],
    send_message: Callable[[dict[str, Any]], None],
    initialize: bool = True,
    clock: Callable[[], float] | None = None,
) -> Component:
    """Instantiate ``cls`` without touching the process's stdin/stdout, then ``initialize`` it.

    The streams are private BytesIO objects: a component built on ``sys.stdin``/``sys.stdout``
    closes them when garbage-collected (fatal under pytest), and must never write the multilang
    protocol onto the user's terminal.
    """
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        raise TypeError(f"{cls!r} is not a pystorm/streamparse component class")
    component = cls(input_stream=BytesIO(), output_stream=BytesIO(), rdb_signal=None)
    component.send_message = send_message
    # What pystorm's _setup_component does after the handshake, minus its logging handlers:
    # those go on the root logger and would pile up across components and tests.
    name = context["componentid"]
    component.topology_name = conf.get("topology.name", "")
    component.task_id = context["taskid"]
    component.component_name = name
    component.debug = conf.get("topology.debug", False)
    component.storm_conf = conf
    component.context = context
    component.logger = logging.getLogger(f"squall.component.{name}")
    if isinstance(component, Bolt):
        for source, stream_fields in context.get("source->stream->fields", {}).items():
            for stream, fields in stream_fields.items():
                vtype = values_type(source, stream, tuple(fields))
                if vtype is not None:
                    component._source_tuple_types[source][stream] = vtype
    if clock is not None:
        # a component reading time through ``clock`` (WindowedBolt does) follows the given one
        if not callable(getattr(component, "clock", None)):
            raise TypeError(f"{cls.__name__} has no callable `clock` attribute to replace")
        component.clock = clock
    if initialize:
        component.initialize(conf, context)
    return component
