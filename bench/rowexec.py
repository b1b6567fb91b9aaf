"""Run one benchmark row in a fresh (spawned) process: its peak RSS is its own, a crash or a
hang of one row cannot take the others down, and it prints its own progress while it runs.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import resource
import sys
import time
import traceback
from typing import Any

PROGRESS_EVERY_S = 2.0


class Progress:
    """Prints ``  <row>: <done>/<total> records (<rate>/s)`` at most every 2 s."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label, self.total = label, total
        self.start = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        rate = done / (now - self.start) if now > self.start else 0.0
        of = f"/{self.total:,}" if self.total else ""
        print(f"    {self.label}: {done:,}{of} records ({rate:,.0f}/s overall)", flush=True)


def _child(target: str, kwargs: dict[str, Any], label: str, conn: Any) -> None:
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(**kwargs, progress=Progress(label, kwargs.get("records")))
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result["peak_rss_mb"] = max(own, children) / 1024  # ru_maxrss is in KiB on Linux
        conn.send(("ok", result))
    except BaseException as exc:  # noqa: BLE001 - reported in the row, the run goes on
        traceback.print_exc()
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_row(target: str, kwargs: dict[str, Any], label: str, timeout_s: float) -> dict[str, Any]:
    """``module:function(**kwargs, progress=...)`` in a child; its dict, or ``{"error": ...}``."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(target, kwargs, label, child), daemon=False)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            proc.kill()
            return {"error": f"timed out after {timeout_s:.0f} s"}
        status, payload = parent.recv()
    except EOFError:
        return {"error": f"row process died (exit code {proc.exitcode})"}
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status != "ok":
        print(f"    {label}: {payload}", file=sys.stderr, flush=True)
        return {"error": payload}
    return payload
