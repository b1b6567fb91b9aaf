"""HealthTopology end to end on the embedded runner, and its Flux and Thrift forms."""

import io
import json
from collections import Counter
from pathlib import Path

import pytest
from streamparse.thrift import StormTopology
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.transport import TMemoryBuffer

from health.config import HealthConfig
from health.synthetic import generate
from squall.runner import run_topology
from topologies.health import HealthTopology

PER_PRODUCER = 150
OVERRIDES = {
    "health.producers.count": 4,
    "health.producers.rate_per_producer_hz": 0,  # as fast as asked: the run is bounded by count
    "health.producers.seed": 2026,
    "health.producers.malformed_fraction": 0.1,
    "health.producers.max_readings_per_producer": PER_PRODUCER,
    "health.sinks.console": False,
}


def expected_alerts() -> tuple[Counter, int, int]:
    """Computed from the same seeded readings without the topology's parse/BMI/rule code."""
    settings = HealthConfig.from_storm_conf({**HealthTopology.config, **OVERRIDES}).producers
    alerts: Counter = Counter()
    valid = malformed = 0
    for record in generate(settings, PER_PRODUCER):
        if record.kind == "malformed":
            malformed += 1
            continue
        valid += 1
        bmi = record.weight_kg / (record.height_cm / 100) ** 2
        if record.weight_kg > 80:
            alerts[("weight_kg > 80", record.id)] += 1
        if bmi > 35:
            alerts[("bmi > 35", record.id)] += 1
    return alerts, valid, malformed


@pytest.mark.parametrize("workers", [1, 2])
def test_alert_counts_match_an_independent_computation(workers: int, tmp_path: Path) -> None:
    jsonl = tmp_path / "health.jsonl"
    conf = {**OVERRIDES, "health.sinks.jsonl_path": str(jsonl)}
    result = run_topology(
        HealthTopology, conf=conf, seconds=120, workers=workers, until_idle=True, capture=True
    )
    alerts, valid, malformed = expected_alerts()
    assert valid + malformed == 4 * PER_PRODUCER
    assert malformed > 0 and sum(alerts.values()) > 0  # the scenario exercises both paths
    got = Counter((rule, reading_id) for rule, reading_id, _ts, _r in result.outputs["threshold"]["default"])
    assert got == alerts
    assert len(result.outputs["parse"]["default"]) == valid
    assert len(result.outputs["parse"]["invalid"]) == malformed
    assert result.errors == []
    assert result.stats["synthetic"].acked == 4 * PER_PRODUCER
    assert result.stats["synthetic"].failed == 0 and result.pending_at_stop == 0
    # the file sink saw the same: one JSON object per alert and per invalid payload
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert Counter((r["rule"], r["reading_id"]) for r in rows if "rule" in r) == alerts
    assert sum(r["stream"] == "invalid" for r in rows) == malformed


def test_flux_dict_wires_every_component() -> None:
    flux = HealthTopology.to_flux_dict("health")
    assert flux["name"] == "health"
    assert [s["id"] for s in flux["spouts"]] == ["synthetic"]
    bolts = {b["id"]: b for b in flux["bolts"]}
    assert set(bolts) == {"parse", "bmi", "threshold", "console", "jsonl"}
    assert bolts["parse"]["constructorArgs"][0] == ["streamparse_run", "bolts.parse.ParseBolt"]
    assert bolts["parse"]["parallelism"] == HealthConfig.from_storm_conf(HealthTopology.config).parallelism.parse
    streams = {(s["from"], s["to"], s["grouping"]["streamId"]) for s in flux["streams"]}
    assert {
        ("synthetic", "parse", "default"),
        ("parse", "bmi", "default"),
        ("bmi", "threshold", "default"),
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
    assert {"parse", "bmi", "threshold", "console"} <= set(topology.bolts)
    parse_streams = topology.bolts["parse"].common.streams
    assert parse_streams["invalid"].output_fields == ["raw", "reason", "ts"]
    assert topology.bolts["threshold"].common.streams["default"].output_fields == [
        "rule", "reading_id", "ts", "reading",
    ]


def test_storm_config_carries_the_settings_components_need() -> None:
    conf = HealthTopology.config
    assert conf["health.rules"] == ["weight_kg > 80", "bmi > 35"]
    assert HealthConfig.from_storm_conf(conf) == HealthConfig.load(Path(__file__).resolve().parents[2] / "config.yaml")


def test_flux_yaml_as_sparse_run_writes_it_carries_the_health_settings() -> None:
    from ruamel import yaml
    from streamparse.cli.common import resolve_options

    flux = HealthTopology.to_flux_dict("health")
    flux["config"] = resolve_options(
        {"health.producers.count": 2}, {"use_virtualenv": False}, HealthTopology, "health", local_only=True
    )
    out = io.StringIO()
    yml = yaml.YAML(typ="safe", pure=True)
    yml.default_flow_style = False
    yml.dump(flux, out)
    loaded = yaml.YAML(typ="safe", pure=True).load(out.getvalue())
    config = HealthConfig.from_storm_conf(loaded["config"])
    assert config.producers.count == 2  # -o wins over the topology's config.yaml value
    assert [rule.name for rule in config.rules] == ["weight_kg > 80", "bmi > 35"]
