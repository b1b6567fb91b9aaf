"""Run a bolt's real multilang loop (pystorm ``run()``) on Storm's JSON messages.

The input is what Storm's ShellBolt writes: a handshake, then tuples and ticks, each a JSON
object followed by ``\\nend\\n``; the output is every message the bolt wrote, parsed.
"""

from __future__ import annotations

import json
import logging
from io import BytesIO
from pathlib import Path
from typing import Any


class _Stop(Exception):
    pass


def frame(msg: dict[str, Any]) -> bytes:
    return (json.dumps(msg) + "\nend\n").encode()


def tuple_msg(
    tup_id: str, values: list[Any], comp: str, stream: str = "default", task: int = 1
) -> dict[str, Any]:
    return {"id": tup_id, "comp": comp, "stream": stream, "task": task, "tuple": values}


def tick_msg(tup_id: str) -> dict[str, Any]:
    return {"id": tup_id, "comp": "__system", "stream": "__tick", "task": -1, "tuple": [1]}


def context_for(
    bolt_cls: type, component: str, sources: dict[str, dict[str, list[str]]]
) -> dict[str, Any]:
    """The handshake context Storm 2.x sends (TopologyContext.toJSONString)."""
    return {
        "taskid": 9,
        "componentid": component,
        "task->component": {"9": component},
        "streams": [s.name for s in bolt_cls.outputs],
        "stream->outputfields": {s.name: list(s.fields) for s in bolt_cls.outputs},
        "stream->target->grouping": {},
        "source->stream->grouping": {
            src: {stream: {"type": "SHUFFLE"} for stream in streams}
            for src, streams in sources.items()
        },
        "source->stream->fields": sources,
    }


def run_loop(
    bolt_cls: type,
    conf: dict[str, Any],
    context: dict[str, Any],
    messages: list[dict[str, Any]],
    pid_dir: Path,
    arrivals: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Feed ``messages`` to a fresh bolt's ``run()``; ``arrivals``: processing time per message."""
    clock = list(arrivals or [])

    class Looped(bolt_cls):  # type: ignore[valid-type,misc]
        def read_tuple(self):  # noqa: ANN202
            tup = super().read_tuple()
            if clock:
                self.arrival = clock.pop(0)
            return tup

        if arrivals is not None:

            def now(self) -> float:
                return self.arrival

        def _exit(self, status_code: int) -> None:  # pystorm exits the process at EOF
            raise _Stop(status_code)

    data = frame({"pidDir": str(pid_dir), "conf": conf, "context": context})
    data += b"".join(frame(m) for m in messages)
    out = BytesIO()
    bolt = Looped(input_stream=BytesIO(data), output_stream=out)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        bolt.run()
    except _Stop as stop:
        assert stop.args == (2,), f"the loop ended with status {stop.args}, not at end of input"
    finally:  # pystorm's _setup_component puts handlers on the root logger
        for h in root.handlers[:]:
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
    replies = [json.loads(m) for m in out.getvalue().decode().split("\nend\n") if m.strip()]
    assert "pid" in replies[0], replies[:1]
    errors = [m["msg"] for m in replies if m.get("command") == "error"]
    assert not errors, f"the bolt reported errors: {errors}"
    return replies[1:]
