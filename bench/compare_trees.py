"""Before/after: the runner's bench rows on two checkouts, alternating, medians of ROUNDS runs.

    git worktree add /tmp/before <commit>      # the tree to compare against
    ROUNDS=3 python -m bench.compare_trees /tmp/before .          # 1-process rows
    SET=2 ROUNDS=3 python -m bench.compare_trees /tmp/before .    # 2-process rows

Each run is a fresh interpreter with PYTHONPATH at that tree's src/ (the venv's editable
install is a plain .pth path, which PYTHONPATH precedes), so both trees run on one venv.
The order of the trees alternates per round so that a machine slowing down hits both.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

ONE_PROCESS = {
    "health 1 proc acking on": "from bench.rows_runner import runner_row as f; r=f(records=40000)",
    "health 1 proc acking off": "from bench.rows_runner import runner_row as f; "
    "r=f(records=40000, acking=False)",
    "chain 1 proc acking on": "from bench.rows_runner import chain_row as f; "
    "r=f(kind='chain', records=100000)",
    "chain 1 proc acking off": "from bench.rows_runner import chain_row as f; "
    "r=f(kind='chain', records=100000, acking=False)",
}
TWO_PROCESSES = {
    "health 2 procs acking on": "from bench.rows_runner import runner_row as f; "
    "r=f(records=40000, workers=2)",
    "health 2 procs acking off": "from bench.rows_runner import runner_row as f; "
    "r=f(records=40000, workers=2, acking=False)",
    "chain CPU-bound 2 procs": "from bench.rows_runner import chain_row as f; "
    "r=f(kind='parallel', records=20000, spin=300, workers=2)",
}


def rate_of(tree: str, code: str) -> float:
    """One row in a fresh interpreter on ``tree``'s sources: its records/s."""
    env = dict(os.environ, PYTHONPATH=f"{tree}/src:{tree}")
    out = subprocess.run(
        [sys.executable, "-c", code + "; print('RATE', r['records_per_s'])"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = [line for line in out.stdout.splitlines() if line.startswith("RATE")]
    if not found:
        raise SystemExit(f"{code!r} failed on {tree}:\n{out.stderr[-2000:]}")
    return float(found[0].split()[1])


def main() -> None:
    trees = {"before": os.path.abspath(sys.argv[1]), "after": os.path.abspath(sys.argv[2])}
    rows = TWO_PROCESSES if os.environ.get("SET") == "2" else ONE_PROCESS
    runs: dict[tuple[str, str], list[float]] = {(t, r): [] for t in trees for r in rows}
    for rnd in range(int(os.environ.get("ROUNDS", "3"))):
        order = list(trees) if rnd % 2 == 0 else list(reversed(trees))
        for row, code in rows.items():
            for tree in order:
                runs[(tree, row)].append(rate_of(trees[tree], code))
                print(rnd, tree, row, f"{runs[(tree, row)][-1]:,.0f}/s", flush=True)
    for row in rows:
        b, a = (statistics.median(runs[(t, row)]) for t in ("before", "after"))
        # noise on a shared machine only ever slows a run down: the best run is the other view
        bb, ab = (max(runs[(t, row)]) for t in ("before", "after"))
        print(
            f"{row:28s} median before {b:9,.0f}/s after {a:9,.0f}/s ratio {a / b:5.3f}"
            f" | best before {bb:9,.0f}/s after {ab:9,.0f}/s ratio {ab / bb:5.3f}"
        )


if __name__ == "__main__":
    main()
