"""health.config: config.yaml -> frozen HealthConfig, validated at load, round trip via Storm conf."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from health_core.config import (
    HealthConfig,
    HealthConfigError,
    check_readings_held,
    default_config_path,
    load_config,
    storm_key,
)
from health_core.ward import WardSettings
from squall.errors import ConfigError
from squall.settings import check_known

ROOT = Path(__file__).resolve().parents[2]
REPO_CONFIG = ROOT / "config.yaml"
RULE_FORM = (
    "a rule is '<field> <operator> <number>' with field one of age, height_cm, weight_kg, bmi "
    "and operator one of >=, <=, ==, !=, >, <, e.g. 'weight_kg > 80'"
)
# every key of the health topology's Storm config, as the unknown-key message lists them
HEALTH_KEYS = (
    "health.kafka.alerts.retention.hours, health.kafka.alerts.topic, "
    "health.kafka.bootstrap.servers, health.kafka.critical.readings.retention.hours, "
    "health.kafka.critical.readings.topic, health.kafka.group.id, "
    "health.kafka.invalid.retention.hours, health.kafka.invalid.topic, "
    "health.kafka.readings.retention.hours, "
    "health.kafka.readings.topic, health.kafka.trends.changelog.topic, "
    "health.kafka.trends.checkpoint.interval.secs, health.kafka.trends.retention.hours, "
    "health.kafka.trends.topic, "
    "health.parallelism.bmi, health.parallelism.parse, health.parallelism.sinks, "
    "health.parallelism.threshold, health.parallelism.trend, health.parse.invalid.preview.chars, "
    "health.parse.max.payload.bytes, health.producers.count, health.producers.malformed.fraction, "
    "health.producers.max.readings.per.producer, health.producers.max.replays, "
    "health.producers.rate.per.producer.hz, health.producers.reading.class, "
    "health.producers.seed, "
    "health.producers.self.describing.fraction, health.rules, health.sinks.console, "
    "health.sinks.console.payloads, "
    "health.sinks.jsonl.path, health.sinks.kafka, health.ward.critical.patients, "
    "health.ward.critical.share, health.ward.routine.patients, health.windows.approximate.every, "
    "health.windows.slide.secs, "
    "health.windows.window.secs, squall.realtime.critical.default.criticality, "
    "squall.realtime.critical.default.deadline.ms, squall.realtime.critical.default.mk, "
    "squall.realtime.critical.default.policies, squall.realtime.routine.default.criticality, "
    "squall.realtime.routine.default.deadline.ms, squall.realtime.routine.default.mk, "
    "squall.realtime.routine.default.policies, "
    "topology.max.spout.pending, topology.message.timeout.secs"
)


def _raises(message: str):
    return pytest.raises(HealthConfigError, match="^" + re.escape(message) + "$")


def load_text(tmp_path: Path, text: str) -> HealthConfig:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return HealthConfig.load(path)


def test_repo_config_loads_with_the_course_defaults() -> None:
    config = HealthConfig.load(REPO_CONFIG)
    assert [rule.name for rule in config.rules] == ["weight_kg > 80", "bmi > 35"]
    assert config.producers.count == 4
    assert (config.windows.window_s, config.windows.slide_s) == (10.0, 2.0)
    assert config.kafka.trends_topic == "health.trends"
    assert config.kafka.critical_readings_topic == "health.readings.critical"


def test_default_path_is_the_repo_config_unless_env_says_otherwise(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("SQUALL_HEALTH_CONFIG", raising=False)
    assert default_config_path() == REPO_CONFIG
    other = tmp_path / "other.yaml"
    other.write_text("producers: {count: 7}\n")
    monkeypatch.setenv("SQUALL_HEALTH_CONFIG", str(other))
    assert load_config().producers.count == 7


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    assert load_text(tmp_path, "") == HealthConfig()


def test_config_is_frozen() -> None:
    config = HealthConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.producers.count = 9  # type: ignore[misc]


PRODUCER_KEYS = (
    "count, rate_per_producer_hz, seed, malformed_fraction, self_describing_fraction, "
    "max_readings_per_producer, max_replays, reading_class"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rule:\n  - bmi > 30\n",
            "unknown key 'rule' in top level; valid keys are kafka, "
            "producers, rules, windows, parallelism, sinks, parse, storm, ward",
        ),
        (
            "producers:\n  cout: 4\n",
            f"unknown key 'cout' in section 'producers'; valid keys are {PRODUCER_KEYS}",
        ),
        (
            "producers:\n  count: '4'\n",
            "producers.count must be an integer in [1, 1000]; got '4' (str)",
        ),
        (
            "producers:\n  count: true\n",
            "producers.count must be an integer in [1, 1000]; got True (bool)",
        ),
        ("producers:\n  count: 0\n", "producers.count must be an integer in [1, 1000]; got 0"),
        (
            "producers:\n  rate_per_producer_hz: -1\n",
            "producers.rate_per_producer_hz must be a number >= 0; got -1",
        ),
        (
            "producers:\n  malformed_fraction: 1.5\n",
            "producers.malformed_fraction must be a number in [0, 1]; got 1.5",
        ),
        ("producers:\n  seed: .nan\n", "producers.seed must be an integer >= 0; got nan (float)"),
        ("producers: 4\n", f"producers must be a mapping with keys {PRODUCER_KEYS}; got int"),
        ("sinks:\n  console: 'yes'\n", "sinks.console must be true or false; got 'yes' (str)"),
        ("sinks:\n  jsonl_path: 3\n", "sinks.jsonl_path must be a non-empty string; got 3 (int)"),
        ("windows:\n  window_s: 0\n", "windows.window_s must be a duration > 0 s; got 0"),
        (
            "windows:\n  window_s: 10\n  slide_s: 20\n",
            "windows.slide_s (20.0) must not exceed windows.window_s (10.0); a slide longer than the "
            "window skips data",
        ),
        ("parallelism:\n  parse: 0\n", "parallelism.parse must be an integer in [1, 64]; got 0"),
        (
            "kafka:\n  bootstrap_servers: [localhost]\n",
            "kafka.bootstrap_servers[0] must be 'host:port' with a port in 1-65535; got 'localhost'",
        ),
        (
            "kafka:\n  readings_topic: ''\n",
            "kafka.readings_topic must be a non-empty string; got '' (str)",
        ),
        (
            "kafka:\n  trends_topic: 7\n",
            "kafka.trends_topic must be a non-empty string; got 7 (int)",
        ),
        (
            "kafka:\n  critical_readings_topic: ''\n",
            "kafka.critical_readings_topic must be a non-empty string; got '' (str)",
        ),
        (
            "rules: bmi > 35\n",
            "rules must be a list of rule strings such as 'weight_kg > 80'; got str",
        ),
        (
            "rules:\n  - bmi > 35\n  - weight >> 80\n",
            f"rules[1]: cannot parse rule 'weight >> 80': '> 80' after '>' is not a plain number; {RULE_FORM}",
        ),
        (
            "rules:\n  - bmi > thirty\n",
            f"rules[0]: cannot parse rule 'bmi > thirty': 'thirty' after '>' is not a plain number; {RULE_FORM}",
        ),
        (
            "rules:\n  - {bmi: 35}\n",
            f"rules[0]: rule {{'bmi': 35}} is a dict, not text; {RULE_FORM}",
        ),
        (
            "- just\n- a list\n",
            "the top level must be a mapping of sections (kafka, producers, "
            "rules, windows, parallelism, sinks, parse, storm, ward); got list",
        ),
    ],
)
def test_bad_config_fails_at_load_naming_key_value_and_valid(
    tmp_path: Path, text: str, message: str
) -> None:
    with _raises(f"{tmp_path / 'config.yaml'}: {message}"):  # names the file, then the key
        load_text(tmp_path, text)


def test_a_file_that_is_not_yaml_is_a_config_error(tmp_path: Path) -> None:
    start = f"{tmp_path / 'config.yaml'}: not valid YAML: "  # then the YAML parser's account
    with pytest.raises(HealthConfigError, match="^" + re.escape(start)):
        load_text(tmp_path, "producers: {count: 4\n")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read health config .*nope.yaml"):
        HealthConfig.load(tmp_path / "nope.yaml")


def test_storm_conf_round_trip_is_json_and_lossless() -> None:
    config = HealthConfig.load(REPO_CONFIG)
    conf = json.loads(json.dumps(config.to_storm_conf()))  # what Storm hands a component
    assert conf["health.rules"] == ["weight_kg > 80", "bmi > 35"]
    assert conf["health.producers.count"] == 4
    assert conf["topology.max.spout.pending"] == config.storm.max_spout_pending
    assert HealthConfig.from_storm_conf(conf) == config
    # The ward's deadlines and scheduler are squall.* keys, sent only by to_storm_conf(ward=True)
    # (test_ward.py's round trip); here they come back as WardSettings' defaults, so this is
    # lossless only while config.yaml's ward section matches them: change both or neither.
    assert not [key for key in conf if key.startswith("squall.")]
    assert config.ward == WardSettings()


def test_storm_conf_override_wins_and_is_validated() -> None:
    conf = HealthConfig().to_storm_conf()
    conf["health.producers.count"] = 8  # as `-o health.producers.count=8` would
    conf["health.rules"] = ["age < 18"]
    conf["health.windows.slide.secs"] = "500ms"
    config = HealthConfig.from_storm_conf(conf)
    assert config.producers.count == 8 and [r.name for r in config.rules] == ["age < 18"]
    assert config.windows.slide_s == 0.5
    conf["health.producers.count"] = "many"
    with _raises(
        "Storm config: health.producers.count must be an integer in [1, 1000]; got 'many' (str)"
    ):
        HealthConfig.from_storm_conf(conf)
    with _raises(
        "Storm config: health.rules[0]: cannot parse rule 'age': expected an operator after "
        f"'age', found 'end of text'; {RULE_FORM}"
    ):
        HealthConfig.from_storm_conf({"health.rules": ["age"]})


@pytest.mark.parametrize(
    ("yaml_key", "key"),
    [
        (("producers", "count"), "health.producers.count"),
        (("producers", "rate_per_producer_hz"), "health.producers.rate.per.producer.hz"),
        (("producers", "max_readings_per_producer"), "health.producers.max.readings.per.producer"),
        (("windows", "window_s"), "health.windows.window.secs"),
        (("windows", "slide_s"), "health.windows.slide.secs"),
        (("kafka", "bootstrap_servers"), "health.kafka.bootstrap.servers"),
        (("kafka", "trends_topic"), "health.kafka.trends.topic"),
        (("kafka", "critical_readings_topic"), "health.kafka.critical.readings.topic"),
        (("sinks", "jsonl_path"), "health.sinks.jsonl.path"),
        (("parse", "max_payload_bytes"), "health.parse.max.payload.bytes"),
        (("rules",), "health.rules"),
        (("storm", "max_spout_pending"), "topology.max.spout.pending"),
        (("storm", "message_timeout_s"), "topology.message.timeout.secs"),
    ],
)
def test_a_yaml_key_becomes_a_dotted_storm_key(yaml_key: tuple[str, ...], key: str) -> None:
    assert storm_key(*yaml_key) == key


def test_every_storm_key_is_dotted_and_declared() -> None:
    conf = HealthConfig.load(REPO_CONFIG).to_storm_conf()
    assert all("_" not in key for key in conf)
    assert set(conf) <= set(HEALTH_KEYS.split(", "))
    check_known(conf)  # what the embedded runner checks before it starts


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("health.producers.rate_per_producer_hz", "health.producers.rate.per.producer.hz"),
        ("health.windows.window_s", "health.windows.window.secs"),
        ("health.kafka.bootstrap_servers", "health.kafka.bootstrap.servers"),
        ("health.sinks.jsonl_path", "health.sinks.jsonl.path"),
        ("health.storm.max_spout_pending", "topology.max.spout.pending"),
    ],
)
def test_an_old_flat_spelling_names_the_new_key(old: str, new: str) -> None:
    message = f"setting {old!r} is the old spelling of {new!r}; use {new!r}"
    with _raises(message):
        HealthConfig.from_storm_conf({old: 1})
    with _raises(message):
        check_known({old: 1})  # and the embedded runner refuses it before it starts


def test_storm_conf_unknown_health_key_is_an_error_naming_the_closest() -> None:
    with _raises(
        "unknown setting 'health.producer.count': not a key of the health topology; did you mean "
        f"'health.producers.count'? valid: {HEALTH_KEYS}"
    ):
        HealthConfig.from_storm_conf({"health.producer.count": 1})
    with _raises(
        "unknown setting 'health.producers.cuont': not a key of the health topology; did you mean "
        f"'health.producers.count'? valid: {HEALTH_KEYS}"
    ):
        check_known({"health.producers.cuont": 8})


def test_squall_run_refuses_a_typo_in_a_health_key_before_any_tuple_runs() -> None:
    command = ["run", "topologies/health.py", "--seconds", "1", "-o", "health.producers.cuont=8"]
    proc = subprocess.run(
        [sys.executable, "-m", "squall.cli", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "squall run: unknown setting 'health.producers.cuont': not a key of the health topology; "
        f"did you mean 'health.producers.count'? valid: {HEALTH_KEYS}"
    )
    assert proc.stdout == ""  # no summary: nothing ran


def test_storm_conf_without_health_keys_gives_defaults() -> None:
    assert HealthConfig.from_storm_conf({"topology.name": "x"}) == HealthConfig()


def test_env_path_wins_over_the_topology_file_path(monkeypatch, tmp_path) -> None:
    given = tmp_path / "given.yaml"
    given.write_text("producers: {count: 2}\n")
    monkeypatch.delenv("SQUALL_HEALTH_CONFIG", raising=False)
    assert load_config(given).producers.count == 2
    env = tmp_path / "env.yaml"
    env.write_text("producers: {count: 3}\n")
    monkeypatch.setenv("SQUALL_HEALTH_CONFIG", str(env))
    assert load_config(given).producers.count == 3


def test_a_rate_that_would_stall_the_spout_on_trend_windows_is_refused(tmp_path: Path) -> None:
    # 4 x 25/s x (10 + 2 + 2) s = 1400 readings held > 1000: refused where readings are held,
    # by TrendBolt (anchored windows); PaneTrendBolt behind an unanchored feed holds none
    config = load_text(tmp_path, "producers: {count: 4, rate_per_producer_hz: 25}\n")
    with _raises(
        f"{tmp_path / 'config.yaml'}: producers.count (4) x producers.rate_per_producer_hz (25.0) x "
        "14 s (window + slide + 2 s) = 1400 readings can be waiting on trend windows, more than "
        "storm.max_spout_pending = 1000: the spout would stall. Raise storm.max_spout_pending to "
        "at least 1400 or lower the rate"
    ):
        check_readings_held(config, str(tmp_path / "config.yaml"))
    ok = load_text(
        tmp_path, "producers: {rate_per_producer_hz: 25}\nstorm: {max_spout_pending: 1400}\n"
    )
    check_readings_held(ok, "config.yaml")


def test_storm_keys_travel_as_storms_own_and_their_overrides_count() -> None:
    conf = HealthConfig().to_storm_conf()
    assert not any(key.startswith("health.storm.") for key in conf)
    conf["health.producers.rate.per.producer.hz"] = 25
    with _raises(
        "Storm config: health.producers.count (4) x health.producers.rate.per.producer.hz (25.0) x "
        "14 s (window + slide + 2 s) = 1400 readings can be waiting on trend windows, more than "
        "topology.max.spout.pending = 1000: the spout would stall. Raise "
        "topology.max.spout.pending to at least 1400 or lower the rate"
    ):
        check_readings_held(HealthConfig.from_storm_conf(conf))
    # the component that holds readings refuses to start; the pane-counting one does not
    from bolts.trend import PaneTrendBolt, TrendBolt
    from squall.testing import BoltHarness

    ticked = {**conf, **TrendBolt.config}
    with pytest.raises(HealthConfigError, match="readings can be waiting on trend windows"):
        BoltHarness(TrendBolt, ticked)
    BoltHarness(PaneTrendBolt, ticked)
    conf["topology.max.spout.pending"] = 2000  # as `-o topology.max.spout.pending=2000`
    assert HealthConfig.from_storm_conf(conf).storm.max_spout_pending == 2000
    check_readings_held(HealthConfig.from_storm_conf(conf))
    conf["topology.max.spout.pending"] = None  # Storm's defaults.yaml value
    assert (
        HealthConfig.from_storm_conf({**conf, "health.producers.rate.per.producer.hz": 5}).storm
        == HealthConfig().storm
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.2:9092", ("10.0.0.2:9092",)),
        # Kafka's own bootstrap.servers form, as `-o health.kafka.bootstrap.servers=...` gives it
        ("a:9092,b:9093, c:9094", ("a:9092", "b:9093", "c:9094")),
        (["a:9092", "b:9093"], ("a:9092", "b:9093")),
    ],
)
def test_bootstrap_servers_as_a_list_or_a_comma_separated_string(value, expected) -> None:
    from health_core.config_readers import read_servers

    assert read_servers(value, "kafka.bootstrap_servers") == expected


def test_a_bootstrap_server_without_a_port_is_named_in_a_comma_separated_string() -> None:
    from health_core.config import HealthConfigError
    from health_core.config_readers import read_servers

    with pytest.raises(HealthConfigError, match=r"\[1\] must be 'host:port'.*got 'b'"):
        read_servers("a:9092,b", "kafka.bootstrap_servers")
