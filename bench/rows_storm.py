"""Row (c): HealthTopology under Storm's local mode (``sparse run``, Python components as
multilang subprocesses) next to the embedded runner on the same topology and input.

Both run the project's own HealthTopology (synthetic spout -> parse -> BMI -> threshold -> trend
-> console/jsonl sinks) with the same overrides: the synthetic producers unpaced
(``rate_per_producer_hz=0``) and bounded (``max_readings_per_producer``), the console off, the
JSON-lines sink on. The rate is measured the same way for both, from outside: the sink file is
sampled every 0.1 s and the slope between 10% and 90% of its final line count, scaled by
readings per line, is the steady-state readings/s (Storm's JVM and jar start-up excluded).

The run happens in a copy of the project (sparse writes _build/ and _resources/ into it), with
the topology file renamed ``healthbench.py``: ``sparse run -n health`` imports the module
``health``, which is the project's ``health`` package, not ``topologies/health.py``.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Progress = Callable[[int], None]
PRODUCERS = 4


# The Storm rows by label: config.json's "serializer"; squall.spout.batch (None: the product's
# default, 16); squall.chaining (False: every Python bolt its own process; None: the default, on,
# which fuses every bolt of the health topology into one process, squall.storm.fusion); parse's
# parallelism (None: config.yaml's, 1 since 2026-12-04; at 2, parse stays out of the group);
# bolts kept apart with ``squall.fuse: false`` (the defaults of 12-04 morning fused only
# parse, bmi and threshold). One next_tuple per `next`, unfused, JSON is stock multilang.
@dataclass(frozen=True)
class Variant:
    serializer: str
    spout_batch: int | None = None
    chaining: bool | None = None
    parse_par: int | None = None
    apart: tuple[str, ...] = ()


STOCK = "json, 1 next_tuple per next, unfused (stock)"
STOCK_PARSE_2 = "json, 1 next_tuple per next, unfused, parse 2 (stock, the topology before 12-04)"
DEFAULT = "msgpack, spout batch 16, every bolt fused (the defaults)"
CHAIN_ONLY = "msgpack, spout batch 16, parse+bmi+threshold fused (the defaults of 12-04 morning)"
VARIANTS: dict[str, Variant] = {
    STOCK: Variant("json", 1, False),
    STOCK_PARSE_2: Variant("json", 1, False, parse_par=2),
    "msgpack, spout batch 16, unfused": Variant("msgpack", None, False),
    CHAIN_ONLY: Variant("msgpack", apart=("trend", "console", "jsonl")),
    DEFAULT: Variant("msgpack"),
    "msgpack, spout batch 16, parse 2: bmi to jsonl fused": Variant("msgpack", parse_par=2),
}

# Appended to the bench's copy of topologies/health.py for Variant.apart: the bolts' own config
# gets squall.fuse: false (their other keys, trend's tick frequency, kept).
_APART = """
import json as _json
for _spec in HealthTopology.specs:
    if _spec.name in {names!r}:
        _config = _spec.config or {{}}
        _config = _json.loads(_config) if isinstance(_config, str) else dict(_config)
        _spec.config = {{**_config, "squall.fuse": False}}
"""


def _copy_project(
    target: Path, serializer: str, parse_par: int | None = None, apart: tuple[str, ...] = ()
) -> Path:
    target.mkdir(parents=True)
    for name in ("config.json", "project.clj", "config.yaml"):
        shutil.copy(ROOT / name, target / name)
    if parse_par is not None:  # the topology reads it from config.yaml when it is imported
        text = (target / "config.yaml").read_text()
        if "\nparallelism:\n  parse: " not in text:
            raise RuntimeError("config.yaml's parallelism.parse moved: the bench cannot set it")
        text = re.sub(
            r"\nparallelism:\n  parse: \d+", f"\nparallelism:\n  parse: {parse_par}", text
        )
        (target / "config.yaml").write_text(text)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "virtualenvs"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    (target / "topologies").mkdir()
    topology = (ROOT / "topologies" / "health.py").read_text()
    if apart:
        topology += _APART.format(names=set(apart))
    (target / "topologies" / "healthbench.py").write_text(topology)
    config = json.loads((target / "config.json").read_text())
    config["serializer"] = serializer
    (target / "config.json").write_text(json.dumps(config, indent=2))
    return target


def _overrides(per_producer: int, jsonl: Path) -> dict[str, Any]:
    return {
        "health.sinks.console": False,
        "health.sinks.jsonl.path": str(jsonl),
        "health.producers.count": PRODUCERS,
        "health.producers.rate.per.producer.hz": 0,
        "health.producers.max.readings.per.producer": per_producer,
        # TrendBolt holds each alerting reading's tree for window + slide + lag: the spout must
        # be allowed more pending trees than that, or it stalls (Storm's windowed-bolt rule).
        "topology.max.spout.pending": 1_000_000,
    }


class FileWatch:
    """Samples the line count of a file until stopped; prints progress."""

    def __init__(self, path: Path, progress: Progress | None) -> None:
        self.path, self.progress = path, progress
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self) -> int:
        try:
            with open(self.path, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            lines = self._count()
            self.samples.append((time.monotonic(), lines))
            if self.progress is not None:
                self.progress(lines)
            self._stop.wait(0.1)

    def __enter__(self) -> FileWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), self._count()))

    def steady_rate(self) -> tuple[float | None, int]:
        """(lines/s between 10% and 90% of the final count, final count)."""
        final = self.samples[-1][1] if self.samples else 0
        if final < 10:
            return None, final
        t10 = next(t for t, n in self.samples if n >= 0.1 * final)
        t90 = next(t for t, n in self.samples if n >= 0.9 * final)
        n10 = next(n for t, n in self.samples if n >= 0.1 * final)
        n90 = next(n for t, n in self.samples if n >= 0.9 * final)
        if t90 <= t10:
            return None, final
        return (n90 - n10) / (t90 - t10), final


def _runner(
    project: Path, overrides: dict[str, Any], jsonl: Path, progress: Progress | None
) -> tuple[float | None, int]:
    from squall import run_topology
    from squall.loading import load_topology

    topology = load_topology(str(project / "topologies" / "healthbench.py"))
    with FileWatch(jsonl, progress) as watch:
        result = run_topology(topology, {**overrides, "squall.drain.secs": 1.0}, until_idle=True)
    if result.errors:
        raise RuntimeError(f"embedded run reported {len(result.errors)} errors: {result.errors[0]}")
    return watch.steady_rate()


def _storm(
    project: Path,
    overrides: dict[str, Any],
    jsonl: Path,
    seconds: int,
    progress: Progress | None,
) -> tuple[float | None, int, str]:
    from squall.storm.home import StormHome

    home = StormHome.default()
    # msgpack: the project copy's config.json says so, which wires both sides (the product
    # option, docs/storm.md "MessagePack multilang")
    env = {
        **os.environ,
        "LEIN_ROOT": "1",
        "PYTHONWARNINGS": "ignore",
        "PATH": os.pathsep.join(
            [str(home.launcher.parent), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
    }
    env.pop("STORM_CONF_DIR", None)
    cmd = ["sparse", "run", "-e", "local", "-n", "healthbench", "-t", str(seconds)]
    for key, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        cmd += ["-o", f"{key}={text}"]
    log = project / "sparse-run.log"
    with FileWatch(jsonl, progress) as watch, open(log, "w") as out:
        proc = subprocess.run(
            cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 240
        )
    if proc.returncode != 0:
        tail = log.read_text()[-1500:]
        raise RuntimeError(f"sparse run exited {proc.returncode}: {tail}")
    rate, final = watch.steady_rate()
    return rate, final, str(log)


def storm_rows(
    records: int,
    seconds: int,
    variants: list[str],
    repeats: int = 1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    from squall.storm.home import STORM_VERSION, StormHome

    home = StormHome.default()
    if not home.is_provisioned():
        return {
            "rows": [
                {
                    "name": "Storm local mode, JSON multilang",
                    "baseline": None,
                    "note": f"not provisioned ({home.path} missing: make storm-runtime)",
                }
            ]
        }
    per_producer = records // PRODUCERS
    readings = per_producer * PRODUCERS
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="squall-bench-storm-"))
    try:
        project = _copy_project(work / "runner", "json")
        jsonl = work / "runner.jsonl"
        print("    embedded runner on HealthTopology ...", flush=True)
        # 5x the readings: the runner is much faster, and the slope needs enough samples.
        runner_readings = readings * 5
        rate, lines = _runner(project, _overrides(per_producer * 5, jsonl), jsonl, progress)
        per_line = runner_readings / lines if lines else 0.0
        base = "embedded runner, HealthTopology"
        own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before any JVM
        rows.append(
            {
                "name": base,
                "records_per_s": rate and rate * per_line,
                "baseline": None,
                "peak_rss_mb": own_mb,
                "outputs": f"{lines} sink lines",
                "note": f"{runner_readings:,} readings (5x the Storm rows'), steady state",
            }
        )
        # Alternating runs, best of ``repeats`` each: the machine is shared, and a run's steady
        # state lasts ~10 s, so one run per serializer can be off by 2x either way.
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in variants}
        errors: dict[str, str] = {}
        for attempt in range(repeats):
            for index, variant in enumerate(variants):
                spec = VARIANTS[variant]
                tag = f"storm-{index}-{attempt}"
                project = _copy_project(work / tag, spec.serializer, spec.parse_par, spec.apart)
                jsonl = work / f"{tag}.jsonl"
                overrides = _overrides(per_producer, jsonl)
                if spec.spout_batch is not None:
                    overrides["squall.spout.batch"] = spec.spout_batch
                if spec.chaining is not None:
                    overrides["squall.chaining"] = spec.chaining
                print(
                    f"    sparse run (Storm {STORM_VERSION} local mode, {variant}, run "
                    f"{attempt + 1}/{repeats}) ...",
                    flush=True,
                )
                try:
                    rate, got, _log = _storm(project, overrides, jsonl, seconds, progress)
                except Exception as exc:  # noqa: BLE001 - a failing run keeps the other rows
                    errors[variant] = f"{type(exc).__name__}: {exc}"[:300]
                    continue
                if rate is not None:
                    results[variant].append((rate * per_line, got))
        expected = lines / 5
        for variant in variants:
            name = f"Storm local mode, {variant}"
            baseline = base if variant == STOCK else f"Storm local mode, {STOCK}"
            if not results[variant]:
                rows.append(
                    {
                        "name": name,
                        "baseline": baseline,
                        "note": errors.get(variant, "no steady state measured"),
                    }
                )
                continue
            best, got = max(results[variant])
            low = min(g for _, g in results[variant])
            complete = (
                ""
                if low >= 0.99 * expected
                else f"; a run wrote only {low} of ~{expected:.0f} lines"
            )
            runs = ", ".join(f"{r:,.0f}" for r, _ in results[variant])
            rows.append(
                {
                    "name": name,
                    "records_per_s": best,
                    "baseline": baseline,
                    "outputs": f"{got} sink lines",
                    "note": f"Storm {STORM_VERSION}, 1 worker JVM, best of {runs}; peak RSS "
                    f"is the largest process's (the JVM){complete}",
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"rows": rows}
