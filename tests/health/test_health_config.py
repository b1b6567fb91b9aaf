"""health.config: config.yaml -> frozen HealthConfig, validated at load, round trip via Storm conf."""

import dataclasses
import json
from pathlib import Path

import pytest

from health_core.config import HealthConfig, HealthConfigError, default_config_path, load_config
from squall.errors import ConfigError

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rule:\n  - bmi > 30\n", "unknown key 'rule' in top level; valid keys are kafka, producers, rules"),
        ("producers:\n  cout: 4\n", "unknown key 'cout' in section 'producers'; valid keys are count,"),
        ("producers:\n  count: '4'\n", "producers.count must be an integer in [1, 1000]; got '4' (str)"),
        ("producers:\n  count: true\n", "producers.count must be an integer in [1, 1000]; got True (bool)"),
        ("producers:\n  count: 0\n", "producers.count must be an integer in [1, 1000]; got 0"),
        ("producers:\n  rate_per_producer_hz: -1\n", "producers.rate_per_producer_hz must be a number in [0.0, inf); got -1"),
        ("producers:\n  malformed_fraction: 1.5\n", "producers.malformed_fraction must be a number in [0.0, 1.0]; got 1.5"),
        ("producers:\n  seed: .nan\n", "producers.seed must be an integer >= 0; got nan (float)"),
        ("producers: 4\n", "producers must be a mapping with keys count,"),
        ("sinks:\n  console: 'yes'\n", "sinks.console must be true or false; got 'yes' (str)"),
        ("sinks:\n  jsonl_path: 3\n", "sinks.jsonl_path must be a non-empty string; got 3 (int)"),
        ("windows:\n  window_s: 0\n", "windows.window_s must be a number in (0.0, inf); got 0"),
        ("windows:\n  window_s: 10\n  slide_s: 20\n", "windows.slide_s (20.0) must not exceed windows.window_s (10.0)"),
        ("parallelism:\n  parse: 0\n", "parallelism.parse must be an integer in [1, 64]; got 0"),
        ("kafka:\n  bootstrap_servers: [localhost]\n", "kafka.bootstrap_servers[0] must be 'host:port'"),
        ("kafka:\n  readings_topic: ''\n", "kafka.readings_topic must be a non-empty string"),
        ("kafka:\n  trends_topic: 7\n", "kafka.trends_topic must be a non-empty string"),
        ("rules: bmi > 35\n", "rules must be a list of rule strings such as 'weight_kg > 80'; got str"),
        ("rules:\n  - bmi > 35\n  - weight >> 80\n", "rules[1]: cannot parse rule 'weight >> 80'"),
        ("rules:\n  - bmi > thirty\n", "rules[0]: cannot parse rule 'bmi > thirty'"),
        ("rules:\n  - {bmi: 35}\n", "rules[0]: rule {'bmi': 35} is a dict, not text"),
        ("- just\n- a list\n", "the top level must be a mapping of sections"),
        ("producers: {count: 4\n", "not valid YAML"),
    ],
)
def test_bad_config_fails_at_load_naming_key_value_and_valid(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HealthConfigError) as info:
        load_text(tmp_path, text)
    assert message in str(info.value)
    assert str(tmp_path / "config.yaml") in str(info.value)  # says which file


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


def test_storm_conf_override_wins_and_is_validated() -> None:
    conf = HealthConfig().to_storm_conf()
    conf["health.producers.count"] = 8  # as `-o health.producers.count=8` would
    conf["health.rules"] = ["age < 18"]
    config = HealthConfig.from_storm_conf(conf)
    assert config.producers.count == 8 and [r.name for r in config.rules] == ["age < 18"]
    conf["health.producers.count"] = "many"
    with pytest.raises(HealthConfigError, match=r"Storm config: health.producers.count must be an integer .* got .many."):
        HealthConfig.from_storm_conf(conf)


def test_storm_conf_unknown_health_key_is_an_error() -> None:
    with pytest.raises(HealthConfigError, match="unknown key 'health.producer.count.x'"):
        HealthConfig.from_storm_conf({"health.producer.count.x": 1})
    with pytest.raises(HealthConfigError, match="unknown key 'producer' in top level"):
        HealthConfig.from_storm_conf({"health.producer.count": 1})


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
    # 4 x 25/s x (10 + 2 + 2) s = 1400 readings held > 1000
    with pytest.raises(HealthConfigError) as info:
        load_text(tmp_path, "producers: {count: 4, rate_per_producer_hz: 25}\n")
    assert "= 1400 readings can be waiting on trend windows" in str(info.value)
    assert "Raise max_spout_pending to at least 1400" in str(info.value)
    ok = load_text(tmp_path, "producers: {rate_per_producer_hz: 25}\nstorm: {max_spout_pending: 1400}\n")
    assert ok.storm.max_spout_pending == 1400


def test_storm_keys_travel_as_storms_own_and_their_overrides_count() -> None:
    conf = HealthConfig().to_storm_conf()
    assert not any(key.startswith("health.storm.") for key in conf)
    conf["health.producers.rate_per_producer_hz"] = 25
    with pytest.raises(HealthConfigError, match="Storm config: health.producers.count"):
        HealthConfig.from_storm_conf(conf)
    conf["topology.max.spout.pending"] = 2000  # as `-o topology.max.spout.pending=2000`
    assert HealthConfig.from_storm_conf(conf).storm.max_spout_pending == 2000
    conf["topology.max.spout.pending"] = None  # Storm's defaults.yaml value
    assert HealthConfig.from_storm_conf({**conf, "health.producers.rate_per_producer_hz": 5}).storm == HealthConfig().storm
