"""HealthTopology end to end on the embedded runner, and its Flux and Thrift forms."""

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from streamparse.thrift import StormTopology
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.transport import TMemoryBuffer

from bolts.parse import ParseBolt
from bolts.trend import TrendBolt
from health_core.config import HealthConfig
from health_core.synthetic import generate
from spouts.synthetic import SyntheticHealthSpout
from squall import run_topology
from squall.storm.fusion import settle_flux
from squall.testing import ManualClock, TopologyDriver
from topologies.health import HealthTopology

PER_PRODUCER = 150
OVERRIDES = {
    "health.producers.count": 4,
    "health.producers.rate.per.producer.hz": 0,  # as fast as asked: the run is bounded by count
    "health.producers.seed": 2026,
    "health.producers.malformed.fraction": 0.1,
    "health.producers.max.readings.per.producer": PER_PRODUCER,
    "health.sinks.console": False,
}
WINDOW_MS, SLIDE_MS, LAG_MS = 10_000, 2_000, 1_000  # config.yaml windows; TrendBolt.LAG_S


def expected_readings() -> tuple[Counter, set[str], int, int]:
    """From the same seeded readings, without the topology's parse/BMI/rule code: the alerts
    (rule, reading id), the tuple ids of readings that raise none, and the valid/malformed counts."""
    settings = HealthConfig.from_storm_conf({**HealthTopology.config, **OVERRIDES}).producers
    alerts: Counter = Counter()
    quiet: set[str] = set()
    valid = malformed = 0
    for record in generate(settings, PER_PRODUCER):
        if record.kind == "malformed":
            malformed += 1
            quiet.add(record.tup_id)
            continue
        valid += 1
        bmi = record.weight_kg / (record.height_cm / 100) ** 2
        fired = [("weight_kg > 80", record.weight_kg > 80), ("bmi > 35", bmi > 35)]
        for rule, fires in fired:
            alerts[(rule, record.id)] += fires
        if not any(fires for _, fires in fired):
            quiet.add(record.tup_id)
    return +alerts, quiet, valid, malformed


@pytest.mark.parametrize("workers", [1, 2])
def test_alert_counts_match_an_independent_computation(workers: int, tmp_path: Path) -> None:
    jsonl = tmp_path / "health.jsonl"
    conf = {**OVERRIDES, "health.sinks.jsonl.path": str(jsonl), "squall.drain.secs": 0.2}
    result = run_topology(
        HealthTopology, conf=conf, seconds=120, workers=workers, until_idle=True, capture=True
    )
    alerts, quiet, valid, malformed = expected_readings()
    assert valid + malformed == 4 * PER_PRODUCER
    assert malformed > 0 and sum(alerts.values()) > 0  # the scenario exercises both paths
    got = Counter(
        (rule, reading_id) for rule, reading_id, _ts, _r in result.outputs["threshold"]["default"]
    )
    assert got == alerts
    assert len(result.outputs["parse"]["default"]) == valid
    assert len(result.outputs["parse"]["invalid"]) == malformed
    assert result.errors == []
    # Readings without an alert complete at once; the others wait in TrendBolt's windows,
    # which close only when later alerts move the event-time watermark past them.
    assert set(result.spout_acked["synthetic"]) >= quiet
    assert result.stats["synthetic"].failed == 0
    # the file sink saw the same: one JSON object per alert and per invalid payload
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert Counter((r["rule"], r["reading_id"]) for r in rows if "reading" in r) == alerts
    assert sum(r["stream"] == "invalid" for r in rows) == malformed


class EventTime:
    """Synthetic time: the spout's clock moves STEP_MS per read, so 600 readings span ~30 s of
    event time (three 10 s windows) while the test runs in milliseconds; ParseBolt reads the
    same time, so course-form readings are stamped with it too."""

    STEP_MS = 50

    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def spout_clock(self) -> int:
        self.now += self.STEP_MS
        return self.now

    def arrival_clock(self) -> int:
        return self.now


def expected_windows(alerts: list[tuple[str, int]], watermark: int) -> list[list]:
    """TrendBolt's output computed directly from the alerts: windows (end - 10 s, end] ending
    at multiples of 2 s, evaluated while end < watermark, skipping windows with no alert; the
    trend compares with the window just before when that one was evaluated."""
    rows: list[list] = []
    previous: Counter = Counter()
    previous_end = None
    end = -(-min(ts for _, ts in alerts) // SLIDE_MS) * SLIDE_MS
    while end < watermark:
        counts = Counter(rule for rule, ts in alerts if end - WINDOW_MS < ts <= end)
        if counts:
            before = (
                previous
                if previous_end is not None and end - previous_end <= SLIDE_MS
                else Counter()
            )
            for rule in sorted(set(counts) | set(before)):
                now, then = counts[rule], before[rule]
                trend = "rising" if now > then else "falling" if now < then else "steady"
                rows.append([rule, end - WINDOW_MS, end, now, trend, then, 1.0, 0])  # exact
            previous, previous_end = counts, end
        end += SLIDE_MS
    return rows


def test_trend_windows_match_an_independent_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = EventTime()
    monkeypatch.setattr(SyntheticHealthSpout, "clock", staticmethod(clock.spout_clock))
    monkeypatch.setattr(ParseBolt, "clock", staticmethod(clock.arrival_clock))
    driver = TopologyDriver(HealthTopology, conf=OVERRIDES, clock=ManualClock(), replace_spouts=[])
    try:
        driver.run()
        driver.advance(2)  # ticks: TrendBolt computes the watermark and closes windows
        alerts = [(rule, ts) for rule, _id, ts, _r in driver.output("threshold")]
        expected_alerts, quiet, _valid, _malformed = expected_readings()
        assert (
            Counter((rule, i) for rule, i, _ts, _r in driver.output("threshold")) == expected_alerts
        )
        watermark = max(ts for _, ts in alerts) - LAG_MS
        windows = driver.output("trend")
        assert windows == expected_windows(alerts, watermark)
        assert {w[4] for w in windows} >= {"rising", "falling"}  # the scenario shows both
        assert driver.output("trend", "late") == []
        # readings without alerts are acked at once, those whose alerts have left every window
        # since; the rest are still held by the last open windows; none failed
        acked = set(driver.acked("synthetic"))
        assert acked > quiet
        assert len(acked) + driver.in_flight == 4 * PER_PRODUCER
        assert driver.failed("synthetic") == []
    finally:
        driver.close()


def test_flux_dict_wires_every_component() -> None:
    fused = HealthTopology.to_flux_dict("health")
    # every bolt has one task, so all six run as one Storm component (squall.storm.fusion), named
    # after the last of them; nothing outside it reads their streams
    assert {b["id"] for b in fused["bolts"]} == {"jsonl"}
    fused_streams = {(s["from"], s["to"], s["grouping"]["streamId"]) for s in fused["streams"]}
    assert fused_streams == {("synthetic", "jsonl", "default")}
    (jsonl,) = fused["bolts"]
    assert jsonl["constructorArgs"][0][-1].endswith("squall.storm.fused_bolt.FusedBolt")
    # what `sparse run -o squall.chaining=false` gives Flux (the launcher settles the file)
    flux = {**fused, "config": {"squall.chaining": False}}
    assert settle_flux(flux)
    assert flux["name"] == "health"
    assert [s["id"] for s in flux["spouts"]] == ["synthetic"]
    bolts = {b["id"]: b for b in flux["bolts"]}
    assert set(bolts) == {"parse", "bmi", "threshold", "trend", "console", "jsonl"}
    assert bolts["parse"]["constructorArgs"][0] == ["streamparse_run", "bolts.parse.ParseBolt"]
    assert (
        bolts["parse"]["parallelism"]
        == HealthConfig.from_storm_conf(HealthTopology.config).parallelism.parse
    )
    streams = {(s["from"], s["to"], s["grouping"]["streamId"]) for s in flux["streams"]}
    assert {
        ("synthetic", "parse", "default"),
        ("parse", "bmi", "default"),
        ("bmi", "threshold", "default"),
        ("threshold", "trend", "default"),
        ("trend", "console", "default"),
        ("trend", "console", "late"),
        ("threshold", "console", "default"),
        ("parse", "console", "invalid"),
        ("bmi", "console", "invalid"),
    } <= streams


def test_thrift_topology_serialises_and_reads_back() -> None:
    buffer = io.BytesIO()
    HealthTopology.write(buffer)
    topology = StormTopology()
    topology.read(TBinaryProtocol(TMemoryBuffer(buffer.getvalue())))
    assert set(topology.spouts) == {"synthetic"}
    # the six bolts run fused in one component (squall.storm.fusion), which reads the spout and
    # ticks as often as trend asks; trend's window and the sinks are inside it
    assert set(topology.bolts) == {"jsonl"}
    fused = topology.bolts["jsonl"].common
    assert {(s.componentId, s.streamId) for s in fused.inputs} == {("synthetic", "default")}
    conf = json.loads(fused.json_conf)
    assert (
        conf["topology.tick.tuple.freq.secs"] == TrendBolt.config["topology.tick.tuple.freq.secs"]
    )
    members = json.loads(conf["squall.fused.members"])
    assert [m["name"] for m in members] == [
        "parse",
        "bmi",
        "threshold",
        "trend",
        "console",
        "jsonl",
    ]
    threshold = next(m for m in members if m["name"] == "threshold")
    assert threshold["outputs"]["default"] == ["rule", "reading_id", "ts", "reading"]


def test_storm_config_carries_the_settings_components_need() -> None:
    conf = HealthTopology.config
    assert conf["health.rules"] == ["weight_kg > 80", "bmi > 35"]
    assert HealthConfig.from_storm_conf(conf) == HealthConfig.load(
        Path(__file__).resolve().parents[2] / "config.yaml"
    )


def test_flux_yaml_as_sparse_run_writes_it_carries_the_health_settings() -> None:
    from ruamel import yaml
    from streamparse.cli.common import resolve_options

    flux = HealthTopology.to_flux_dict("health")
    flux["config"] = resolve_options(
        {"health.producers.count": 2},
        {"use_virtualenv": False},
        HealthTopology,
        "health",
        local_only=True,
    )
    out = io.StringIO()
    yml = yaml.YAML(typ="safe", pure=True)
    yml.default_flow_style = False
    yml.dump(flux, out)
    loaded = yaml.YAML(typ="safe", pure=True).load(out.getvalue())
    config = HealthConfig.from_storm_conf(loaded["config"])
    assert config.producers.count == 2  # -o wins over the topology's config.yaml value
    assert [rule.name for rule in config.rules] == ["weight_kg > 80", "bmi > 35"]
