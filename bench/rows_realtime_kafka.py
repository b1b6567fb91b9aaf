"""Issue 11's bench on Kafka: topologies/health_ward_kafka.py under load, per policy set.

One broker (``squall.kafka.broker``) serves the group, every run on fresh topics and consumer
groups: their plumbing (the producer process, reading the broker back) is
bench/kafka_ward_load.py's.

**Capacities.** A backlog (both classes, config.yaml's ``ward.critical_share`` critical, keyed by
patient ids of each class's range, the course's ``[id, {"idade", "altura", "peso"}]`` payloads)
is produced first, then the ward drains it: capacity = readings committed per second between
10% and 90% of the backlog (steady state: neither the group join nor the last in-flight trees).
Full work under fifo/late; mandatory only under edf+imprecise+discard with
``squall.overload.force`` (routine readings at their (3,4) minimum: discarded ones are committed
as done, so they count as consumed).

**Rows.** Per policy set and multiple of the full-work capacity: the topology (one worker,
pinned to CPU 1) starts first and joins its groups; then a producer process pinned to CPU 0
offers both classes paced at the rate for ``seconds`` (the record's timestamp is its produce
time: the release the runtime times deadlines from). kcat (librdkafka) produces -- kafka-python's
producer held records 0.55-0.75 s (p99) between that stamp and the broker at 3,200/s -- or
kafka-python where kcat is not installed (the row's note names the tool). Reported: the achieved
produce rate, p99 and miss ratio per class (misses + readings still unconsumed at the end,
which were produced more than D before it), shed counts per policy, trend precision, critical
readings lost (committed, yet an alert their raw values imply is missing from the alerts topic:
computed in bench/kafka_ward_load.py, not with the project's parse/BMI/rule code), the lag left
(never loss), overload alarms.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from bench.kafka_ward_load import (
    CLASSES,
    KCAT,
    PRODUCER_CPU,
    ROOT,
    TOPOLOGY_CPU,
    Topics,
    _lag,
    _pin,
    _producer,
    _result,
    _Watch,
    critical_lost,
)
from bench.rows_realtime import POLICY_SETS, SHEDDING, TREND_DECLARATION

TOPOLOGY = ROOT / "topologies" / "health_ward_kafka.py"
DRAIN_S = 1.5  # after the producer stops: longer than both deadlines, so the lag left is late
JOIN_TIMEOUT_S = 45.0


# ----------------------------------------------------------------- the topology (its process)


def ward_kafka_run(
    topics: dict[str, Any],
    policy: str,
    stop_file: str,
    max_s: float,
    force: bool | None = None,
    progress: Any = None,
    client: str = "kafka-python",
) -> dict[str, Any]:
    """HealthWardKafkaTopology on ``topics`` under ``policy``, pinned to ``TOPOLOGY_CPU``,
    until ``stop_file`` exists (the group process writes it) or ``max_s``; its spouts and sinks
    on ``client`` (``squall.kafka.client``)."""
    pinned = _pin(TOPOLOGY_CPU)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["kafka"].update(
        bootstrap_servers=[topics["bootstrap"]],
        readings_topic=topics["routine"],
        critical_readings_topic=topics["critical"],
        alerts_topic=topics["alerts"],
        invalid_topic=topics["invalid"],
        trends_topic=topics["trends"],
        group_id=topics["group"],
    )
    config["sinks"]["console"] = False
    path = Path(stop_file).with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config))
    os.environ["SQUALL_HEALTH_CONFIG"] = str(path)  # read when the topology file is loaded

    from squall import run_topology
    from squall.loading import load_topology

    conf = {
        **TREND_DECLARATION,
        **POLICY_SETS[policy],
        "squall.overload.force": bool(force),  # None: a load run (not forced)
        "squall.kafka.client": client,
        # the synthetic group's windows: evaluated several times per run
        "health.windows.window.secs": 5,
        "health.windows.slide.secs": 1,
        "squall.drain.secs": 1.0,
        # a saturated worker can miss the 10 s session deadline and leave its group
        "squall.kafka.spout.session.timeout.ms": 30_000,
        # backlog drains are timed by the commits: 5 a second resolve a 2 s steady state
        "squall.kafka.spout.commit.interval.secs": 0.2 if force is not None else 1.0,
    }
    stop = threading.Event()

    def watch(elapsed: float, snapshot: Any) -> None:
        if progress is not None:
            progress(snapshot.trees_acked)
        if os.path.exists(stop_file):
            stop.set()

    cpu0, wall0 = time.process_time(), time.monotonic()
    result = run_topology(
        load_topology(str(TOPOLOGY)),
        conf,
        seconds=max_s,
        progress=watch,
        progress_every_s=0.25,
        stop=stop,
    )
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    assert result.realtime is not None, "the ward declares deadlines: the runtime reports them"
    streams = result.realtime.streams
    out: dict[str, Any] = {
        "pinned": pinned,
        "cpu_s": cpu,
        "wall_s": wall,
        "stopped": stop.is_set(),
        "alarms": list(result.overload_alarms),
        "overload_episodes": result.overload_episodes,
        "rate_factor_min": result.rate_factor_min,
        "errors": [str(e)[:200] for e in result.errors[:3]],
        "n_errors": len(result.errors),
    }
    for name in ("critical", "routine", "trend"):
        m = streams.get(f"{name}.default")
        done = m.completed if m else 0
        out[name] = {
            "completed": done,
            "misses": m.misses if m else 0,
            "p50_ms": 1000 * m.latency.quantile(0.5) if m and done else None,
            "p99_ms": 1000 * m.latency.quantile(0.99) if m and done else None,
            "shed": dict(m.shed) if m else {},
            "precision": m.precision if m else 1.0,
        }
    return out


def _floor_row(bootstrap: str, work: Path, offered: float, seconds: float, tool: str) -> Any:
    """bench/kafka_path_floor.py's relay at ``offered``: the Kafka path's own latency."""
    from bench.kafka_path_floor import floor_run

    name = f"kafka: path floor at {offered:,.0f}/s (no topology)"
    try:
        got = floor_run(bootstrap, work, offered, seconds, tool, seed=9)
    except Exception as exc:  # noqa: BLE001 - one row's failure, the group goes on
        got = {"error": f"{type(exc).__name__}: {exc}"}
    if "error" in got:
        return {"name": name, "error": got["error"], "baseline": None}
    note = (
        f"offered {offered:,.0f}/s, achieved {got['achieved']:,.0f}/s ({tool}); critical record "
        f"produced -> consumed -> written, acknowledged: p50 {got['p50_ms'] or 0:,.1f} ms, p99 "
        f"{got['p99_ms'] or 0:,.1f} ms, max {got['max_ms'] or 0:,.0f} ms; over 50 ms "
        f"{100 * got['miss_ratio']:.1f}% of {got['written']:,}"
    )
    print(f"    {name}: {note}", flush=True)
    return {
        "name": name,
        "records_per_s": got["achieved"],
        "baseline": None,
        "p50_ms": got["p50_ms"],
        "p99_ms": got["p99_ms"],
        "note": note,
        "extra": {"realtime_kafka": "floor", **got},
    }


# ------------------------------------------------------------------------ the group's rows


class _TopologyThread(threading.Thread):
    """ward_kafka_run in a fresh process (rowexec.run_row), waited on from a thread so that
    the group process can produce and watch meanwhile."""

    def __init__(
        self,
        label: str,
        topics: Topics,
        policy: str,
        stop: Path,
        max_s: float,
        force: bool | None,
        client: str = "kafka-python",
    ) -> None:
        super().__init__(daemon=True, name="bench-ward-kafka")
        self.args = (label, topics, policy, stop, max_s, force)
        self.client = client
        self.got: dict[str, Any] = {"error": "the topology process did not report"}

    def run(self) -> None:
        from bench.rowexec import run_row

        label, topics, policy, stop, max_s, force = self.args
        kwargs = {
            "topics": asdict(topics),
            "policy": policy,
            "stop_file": str(stop),
            "max_s": max_s,
            "force": force,
            "client": self.client,
        }
        self.got = run_row("bench.rows_realtime_kafka:ward_kafka_run", kwargs, label, max_s + 90)


def _steady_rate(samples: list[tuple[float, int]], total: int) -> float | None:
    """Readings committed per second between 10% and 90% of ``total`` (steady state)."""
    lo = next(((t, d) for t, d in samples if d >= 0.1 * total), None)
    hi = next(((t, d) for t, d in samples if d >= 0.9 * total), None)
    if lo is not None and hi is not None and hi[0] > lo[0]:
        return (hi[1] - lo[1]) / (hi[0] - lo[0])
    # a backlog drained within one commit interval (quick runs): from the first commit seen
    first = next(((t, d) for t, d in samples if d > 0), None)
    last = next(((t, d) for t, d in samples if d >= total), None)
    if first is None or last is None or last[0] <= first[0]:
        return None
    return (last[1] - first[1]) / (last[0] - first[0])


def capacity_run(
    bootstrap: str,
    work: Path,
    label: str,
    policy: str,
    backlog: int,
    force: bool,
    seed: int,
    client: str = "kafka-python",
) -> dict[str, Any]:
    """Drain a pre-produced backlog; readings committed per second in steady state."""
    topics = Topics.fresh(bootstrap)
    proc, out = _producer(topics, None, None, backlog, "kafka-python", seed)
    made = _result(proc, out, 300)
    stop = work / f"stop-{topics.group}"
    thread = _TopologyThread(label, topics, policy, stop, max_s=600.0, force=force, client=client)
    thread.start()
    watch = _Watch(topics)
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    try:
        while thread.is_alive() and time.monotonic() - t0 < 540:
            done = backlog - sum(_lag(watch.offsets()).values())
            samples.append((time.monotonic() - t0, done))
            if done >= backlog:
                break
            time.sleep(0.25)
    finally:
        stop.touch()
        thread.join()
        watch.close()
    got = thread.got
    rate = _steady_rate(samples, backlog)
    return {
        "capacity": rate,
        "produce_ceiling": backlog / max(made["send_s"], 1e-6),
        "drained": bool(samples) and samples[-1][1] >= backlog,
        "run": got,
        "seconds_to_drain": samples[-1][0] if samples else None,
    }


def load_run(
    bootstrap: str,
    work: Path,
    label: str,
    policy: str,
    offered: float,
    seconds: float,
    tool: str,
    seed: int,
    client: str = "kafka-python",
) -> dict[str, Any]:
    """The topology first (joined, its Kafka client ``client``), then ``offered`` readings/s
    for ``seconds``, then the drain; its row's numbers."""
    topics = Topics.fresh(bootstrap)
    stop = work / f"stop-{topics.group}"
    thread = _TopologyThread(
        label, topics, policy, stop, seconds + JOIN_TIMEOUT_S + 60, None, client
    )
    thread.start()
    watch = _Watch(topics)
    try:
        t0 = time.monotonic()
        while thread.is_alive() and not watch.joined() and time.monotonic() - t0 < JOIN_TIMEOUT_S:
            time.sleep(0.25)
        join_s = time.monotonic() - t0
        proc, out = _producer(topics, offered, seconds, None, tool, seed)
        made = _result(proc, out, seconds + 120)
        time.sleep(DRAIN_S)
    finally:
        stop.touch()
        thread.join()
    try:
        offsets = watch.offsets()
    finally:
        watch.close()
    got = thread.got
    if "error" in got:
        return {"error": got["error"]}
    lag = _lag(offsets)
    sent = sum(made["sent"].values())
    result: dict[str, Any] = {
        "policy": policy,
        "offered": offered,
        "achieved": sent / max(made["send_s"], 1e-6),
        "sent": made["sent"],
        "producer": tool,
        "producer_errors": made["errors"],
        "join_s": join_s,
        "lag": lag,
        "lost": critical_lost(topics, offsets["critical"][1]),
        **{
            k: got[k]
            for k in (
                "alarms",
                "overload_episodes",
                "rate_factor_min",
                "pinned",
                "cpu_s",
                "wall_s",
                "n_errors",
                "errors",
                "trend",
            )
        },
    }
    for c in CLASSES:
        m = got[c]
        # Unconsumed readings were produced more than DRAIN_S (> either D) before the stop:
        # each is a miss of its class, as the synthetic group counts its spouts' backlog.
        result[c] = {**m, "miss_ratio": (m["misses"] + lag[c]) / max(1, m["completed"] + lag[c])}
    return result


def _note(got: dict[str, Any]) -> str:
    crit, rout = got["critical"], got["routine"]
    shed = {f"{c} {p}": n for c in CLASSES for p, n in got[c]["shed"].items() if n}
    shed_text = ", ".join(f"{k} {n:,}" for k, n in shed.items()) or "none"
    short = got["achieved"] < 0.97 * got["offered"]
    return (
        f"offered {got['offered']:,.0f}/s, achieved {got['achieved']:,.0f}/s ({got['producer']}"
        + (", SHORT of the offered rate" if short else "")
        + f"); critical p99 {crit['p99_ms'] or 0:,.1f} ms, misses {100 * crit['miss_ratio']:.1f}%;"
        f" routine p99 {rout['p99_ms'] or 0:,.0f} ms, misses {100 * rout['miss_ratio']:.1f}%;"
        f" shed: {shed_text}; trend precision {got['trend']['precision']:.2f}; critical lost"
        f" {got['lost']['lost']} (of {got['lost']['expected_alerts']:,} alerts expected); lag left {got['lag']['critical']:,}/{got['lag']['routine']:,}"
        f" (critical/routine); "
        + ("OVERLOAD ALARM " + ",".join(got["alarms"]) if got["alarms"] else "no alarm")
        + (f"; {got['n_errors']} component errors: {got['errors'][0]}" if got["n_errors"] else "")
    )


def kafka_realtime_rows(
    seconds: float,
    loads: list[float],
    policies: list[str],
    backlog: int,
    mandatory: bool = True,
    progress: Any = None,
) -> dict[str, Any]:
    """Capacities from backlogs, then a row per (policy set, multiple of the capacity)."""
    from squall.kafka.broker import Broker
    from squall.kafka.provision import is_provisioned, kafka_version

    if not is_provisioned():
        return {
            "rows": [{"name": "kafka: capacity", "note": "not provisioned (make kafka-runtime)"}]
        }
    broker = Broker(f"bench-rt-{os.getpid()}", heap="512m")
    broker.remove()
    print("    starting the Kafka broker ...", flush=True)
    broker.start()  # before pinning: the broker's JVM floats over both cores
    _pin(PRODUCER_CPU)  # this process watches from the producer's core, not the topology's
    work = Path(tempfile.mkdtemp(prefix="bench-rt-kafka-"))
    rows: list[dict[str, Any]] = []
    try:
        bootstrap = broker.bootstrap
        full = capacity_run(
            bootstrap, work, "kafka: full-work capacity", "fifo/late", backlog, False, seed=1
        )
        print(f"    kafka: full-work capacity {full['capacity'] or 0:,.0f}/s", flush=True)
        forced = (
            capacity_run(
                bootstrap, work, "kafka: mandatory-only capacity", SHEDDING, backlog, True, seed=2
            )
            if mandatory
            else {}
        )
        print(
            f"    kafka: mandatory-only capacity {forced.get('capacity') or 0:,.0f}/s", flush=True
        )
        cap, ceiling = full["capacity"], full["produce_ceiling"]
        summary = {
            "realtime_kafka": "capacity",
            "full_capacity": cap,
            "mandatory_capacity": forced.get("capacity"),
            "produce_ceiling": ceiling,
            "kafka_version": kafka_version(),
            "full": full,
            "forced": forced,
        }
        rows.append(
            {
                "name": "kafka: capacity (full work)",
                "records_per_s": cap,
                "baseline": None,
                "note": f"mandatory-only {forced.get('capacity') or 0:,.0f}/s; readings committed/s"
                f" between 10% and 90% of a {backlog:,} backlog; kafka-python producer ceiling"
                f" {ceiling:,.0f}/s (pinned); Kafka {summary['kafka_version']}",
                "extra": summary,
            }
        )
        if not cap:
            rows[0]["error"] = f"no steady-state capacity measured: {full['run']}"[:300]
            return {"rows": rows}
        # The Kafka path alone at the first load's rate: the floor under the critical deadline
        tool = "kcat" if os.path.exists(KCAT) else "kafka-python"
        if loads:
            rows.append(_floor_row(bootstrap, work, min(loads) * cap, seconds, tool))
        seed = 10
        for policy in policies:
            for x in loads:
                offered, seed = x * cap, seed + 1
                name = f"kafka: {policy} at {x:g}x"
                # librdkafka (kcat) offers the load whenever it is here: kafka-python's producer
                # holds records between send(), which stamps the timestamp the deadlines count
                # from, and the broker -- p99 0.55-0.75 s at 3,200/s, 22-45 ms for librdkafka
                # on the same broker (bench/README.md, "The Kafka ward") -- a generator's delay
                # no topology can win back. kafka-python only where kcat is missing, said so.
                try:
                    got = load_run(bootstrap, work, name, policy, offered, seconds, tool, seed)
                except Exception as exc:  # noqa: BLE001 - one row's failure, the group goes on
                    got = {"error": f"{type(exc).__name__}: {exc}"}
                if "error" in got:
                    rows.append({"name": name, "error": got["error"], "baseline": None})
                    continue
                print(f"    {name}: {_note(got)}", flush=True)
                rows.append(
                    {
                        "name": name,
                        "records_per_s": got["achieved"],
                        "baseline": None,
                        "p50_ms": got["critical"]["p50_ms"],
                        "p99_ms": got["critical"]["p99_ms"],
                        "note": _note(got),
                        "extra": {"realtime_kafka": "load", "x": x, "full_capacity": cap, **got},
                    }
                )
    finally:
        broker.stop()
        broker.remove()
        shutil.rmtree(work, ignore_errors=True)
    return {"rows": rows}
