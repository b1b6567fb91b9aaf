"""Task-set files: exact numbers, and every bad input named by file, task and field."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from squall.plan.model import PlanError
from squall.plan.taskset_file import load_taskset


def _write(tmp_path, text: str):
    path = tmp_path / "set.yaml"
    path.write_text(text)
    return path


def test_a_task_set_reads_exactly_with_defaults(tmp_path):
    ts = load_taskset(
        _write(
            tmp_path,
            "units: us\ntasks:\n  - {name: a, C: 0.1, T: 2}\n"
            "  - {name: b, C: '1/3', T: 5, D: 4, J: 1, B: 0.25, priority: 7}\n",
        )
    )
    a, b = ts.tasks
    assert ts.units == "us"
    assert (a.C, a.T, a.D, a.J, a.B, a.priority) == (Fraction(1, 10), 2, 2, 0, 0, None)
    assert (b.C, b.D, b.J, b.B, b.priority) == (Fraction(1, 3), 4, 1, Fraction(1, 4), 7)
    assert ts.U == Fraction(1, 20) + Fraction(1, 15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "units: ms\ntasks: [\n",
            "{path}, line 3: not valid YAML: expected the node content, but found '<stream end>'",
        ),
        (
            "tasks:\n  - {name: a, C: 1}\n",
            "{path}: task 'a': missing field 'T' (required: name, C, T)",
        ),
        (
            "tasks:\n  - {C: 1, T: 2}\n",
            "{path}: task #1: missing field 'name' (required: name, C, T)",
        ),
        (
            "tasks:\n  - {name: a, C: 1, T: 2, P: 3}\n",
            "{path}: task 'a': unknown field 'P'; valid: name, C, T, D, J, B, priority",
        ),
        ("tasks:\n  - {name: a, C: 0, T: 2}\n", "{path}: task 'a': C=0 must be > 0"),
        ("tasks:\n  - {name: a, C: 1, T: -2}\n", "{path}: task 'a': T=-2 must be > 0"),
        ("tasks:\n  - {name: a, C: 1, T: 2, J: -1}\n", "{path}: task 'a': J=-1 must be >= 0"),
        ("tasks:\n  - {name: a, C: x, T: 2}\n", "{path}: task 'a': C='x' is not a number"),
        ("tasks:\n  - {name: a, C: true, T: 2}\n", "{path}: task 'a': C=True is not a number"),
        (
            "tasks:\n  - {name: a, C: 1, T: 2, priority: high}\n",
            "{path}: task 'a': priority='high' must be an integer",
        ),
        ("units: min\ntasks: []\n", "{path}: units='min'; valid units are s, ms, us"),
        ("tasks: []\n", "{path}: 'tasks' must be a non-empty list of tasks; got list"),
        (
            "cpus: 2\ntasks: []\n",
            "{path}: unknown key 'cpus' at the top level; valid: tasks, units",
        ),
        (
            "tasks:\n  - {name: a, C: 1, T: 2}\n  - {name: a, C: 1, T: 3}\n",
            "{path}: task names must be unique; repeated: a",
        ),
        ("- 1\n", "{path}: the top level must be a mapping with keys tasks, units; got list"),
    ],
)
def test_bad_input_names_file_task_and_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(PlanError, match="^" + re.escape(message.format(path=path)) + "$"):
        load_taskset(path)


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "none.yaml"
    with pytest.raises(PlanError, match=re.escape(f"cannot read task set {path}: No such file")):
        load_taskset(path)
