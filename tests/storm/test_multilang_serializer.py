"""MessagePack multilang as one setting (issue 13, item 5): config.json's "serializer" gives
the Python side, ``squall.storm.topology.Topology`` the JVM side; the launcher refuses a Flux
file whose two sides disagree. No JVM here: test_storm_local runs both serializers for real."""

from __future__ import annotations

from typing import Any

import pytest
from streamparse import Topology as StreamparseTopology
from streamparse.util import set_topology_serializer

from bolts.bmi import BMIBolt
from spouts.synthetic import SyntheticHealthSpout
from squall.loading import load_topology
from squall.storm import topology as storm_topology
from squall.storm.errors import StormRuntimeError
from squall.storm.multilang_check import check_flux_serializers

MSGPACK_CLASS = "squall.storm.MsgpackSerializer"  # the class in src/squall/storm/jvm
KEY = "topology.multilang.serializer"


def _topology(serializer: str | None) -> Any:
    """A topology as `sparse run` / `sparse submit` see it after reading config.json (a fresh
    class each time: streamparse prefixes its components' scripts in place)."""

    class Small(storm_topology.Topology):
        src = SyntheticHealthSpout.spec()
        bmi = BMIBolt.spec(inputs=[src])

    if serializer is not None:
        set_topology_serializer({}, {"serializer": serializer}, Small)
    return Small


def test_msgpack_in_config_json_names_the_jvm_serializer() -> None:
    topology = _topology("msgpack")
    assert topology.config[KEY] == MSGPACK_CLASS
    scripts = [b.bolt_object.shell.script for b in topology.thrift_bolts.values()]
    assert scripts and all(s.startswith("-s msgpack ") for s in scripts)


def test_json_leaves_storms_default() -> None:
    assert KEY not in _topology("json").config


def test_no_serializer_yet_lets_the_worker_decide() -> None:
    # What `sparse submit` reads: the config before the components get their `-s`.
    assert _topology(None).config[KEY] == "squall.storm.MultilangSerializer"


def test_an_explicit_jvm_serializer_is_kept() -> None:
    class Explicit(storm_topology.Topology):
        config = {KEY: "com.example.Other", "topology.workers": 1}
        src = SyntheticHealthSpout.spec()
        bmi = BMIBolt.spec(inputs=[src])

    set_topology_serializer({}, {"serializer": "msgpack"}, Explicit)
    assert Explicit.config == {KEY: "com.example.Other", "topology.workers": 1}


def test_the_topologys_own_config_is_kept_beside_the_jvm_serializer() -> None:
    health = load_topology("topologies/health.py")
    own = health.__dict__["config"]
    assert own and KEY not in own
    assert health.config == {**own, KEY: "squall.storm.MultilangSerializer"}


def test_the_base_class_taken_for_the_topology_is_a_clear_error() -> None:
    # What sparse does when a topology file imports the class by name: it takes it.
    with pytest.raises(TypeError, match="from squall.storm import topology"):
        _ = storm_topology.Topology.config
    # streamparse's own Topology is untouched
    assert StreamparseTopology.config == {}


def _flux(script: str, config: dict[str, Any]) -> dict[str, Any]:
    shell = {"constructorArgs": [["streamparse_run", script], ["x"]]}
    return {
        "config": config,
        "spouts": [{"id": "src", "className": "org.apache.storm.flux.wrappers.spouts."
                    "FluxShellSpout", **shell}],
        "bolts": [{"id": "parse", "className": "org.apache.storm.flux.wrappers.bolts."
                   "FluxShellBolt", **shell}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("script", "config"),
    [
        ("-s json spouts.a.B", {}),
        ("-s json spouts.a.B", {KEY: "org.apache.storm.multilang.JsonSerializer"}),
        ("-s msgpack spouts.a.B", {KEY: MSGPACK_CLASS}),
        ("spouts.a.B", {}),  # no serializer given: pystorm's default, JSON
    ],
)
def test_matching_sides_pass(script: str, config: dict[str, Any]) -> None:
    check_flux_serializers(_flux(script, config), "t.yaml")


@pytest.mark.parametrize(
    ("script", "config", "named"),
    [
        ("-s msgpack spouts.a.B", {}, "Storm's default, JSON"),
        ("-s json spouts.a.B", {KEY: MSGPACK_CLASS}, MSGPACK_CLASS),
    ],
)
def test_mismatched_sides_are_refused_naming_both(
    script: str, config: dict[str, Any], named: str
) -> None:
    with pytest.raises(StormRuntimeError) as caught:
        check_flux_serializers(_flux(script, config), "t.yaml")
    text = str(caught.value)
    assert "t.yaml: component 'parse'" in text and named in text
    assert "squall.storm.topology.Topology" in text
