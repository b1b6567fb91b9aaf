"""Task sets from YAML: ``tasks: [{name, C, T, D?, J?, B?, priority?}]`` and ``units: s|ms|us``.

Numbers may be integers, decimals (read exactly: ``0.1`` is 1/10, not the float) or fraction
strings (``"1/3"``). Every error names the file, the task (or its position) and the field; a
YAML syntax error names the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from squall.plan.model import UNITS, PlanError, Task, TaskSet, task

TOP_KEYS = ("tasks", "units")
TASK_KEYS = ("name", "C", "T", "D", "J", "B", "priority")
REQUIRED = ("name", "C", "T")


class _ExactLoader(yaml.SafeLoader):
    """Reads floats as their decimal text, so 0.1 becomes Fraction(1, 10) exactly."""


def _exact_float(loader: yaml.SafeLoader, node: yaml.Node) -> Fraction:
    text = str(loader.construct_scalar(node))
    return Fraction(text.replace("_", ""))


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)


def load_taskset(path: str | Path) -> TaskSet:
    """Read and check a task-set file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read task set {path}: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_ExactLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError(f"{where}: not valid YAML: {problem}") from None
    except ValueError as exc:  # a float the exact loader cannot read
        raise PlanError(f"{path}: {exc}") from None
    return taskset_from_mapping(raw, str(path))


def taskset_from_mapping(raw: Any, source: str = "task set") -> TaskSet:
    """Check a parsed task-set document (``source`` prefixes every error)."""
    if not isinstance(raw, Mapping):
        raise PlanError(
            f"{source}: the top level must be a mapping with keys {', '.join(TOP_KEYS)}; "
            f"got {_type(raw)}"
        )
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise PlanError(
            f"{source}: unknown key {unknown[0]!r} at the top level; valid: {', '.join(TOP_KEYS)}"
        )
    units = raw.get("units", "ms")
    if units not in UNITS:
        raise PlanError(f"{source}: units={units!r}; valid units are {', '.join(UNITS)}")
    tasks = raw.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise PlanError(f"{source}: 'tasks' must be a non-empty list of tasks; got {_type(tasks)}")
    try:
        return TaskSet(tuple(_task(item, i, source) for i, item in enumerate(tasks)), str(units))
    except PlanError as exc:
        if str(exc).startswith(source):
            raise
        raise PlanError(f"{source}: {exc}") from None


def _task(item: Any, index: int, source: str) -> Task:
    where = f"{source}: task #{index + 1}"
    if not isinstance(item, Mapping):
        raise PlanError(f"{where} must be a mapping with keys {', '.join(TASK_KEYS)}")
    name = item.get("name")
    if isinstance(name, str) and name:
        where = f"{source}: task {name!r}"
    unknown = [k for k in item if k not in TASK_KEYS]
    if unknown:
        raise PlanError(f"{where}: unknown field {unknown[0]!r}; valid: {', '.join(TASK_KEYS)}")
    missing = [k for k in REQUIRED if item.get(k) is None]
    if missing:
        raise PlanError(f"{where}: missing field {missing[0]!r} (required: {', '.join(REQUIRED)})")
    if not isinstance(name, str) or not name.strip():
        raise PlanError(f"{where}: name must be a non-empty string; got {name!r}")
    for key in ("C", "T", "D", "J", "B"):
        value = item.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, str, Fraction))
        ):
            raise PlanError(f"{where}: {key}={value!r} is not a number")
    try:
        return task(
            name,
            item["C"],
            item["T"],
            item.get("D"),
            item.get("J", 0),
            item.get("B", 0),
            item.get("priority"),
        )
    except PlanError as exc:
        raise PlanError(f"{source}: {exc}") from None


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__
