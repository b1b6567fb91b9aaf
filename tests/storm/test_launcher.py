"""Unit tests of the `storm` launcher's command-line mapping (no JVM is started)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from squall.storm.errors import StormRuntimeError
from squall.storm.home import FLUX_MAIN, StormHome
from squall.storm.launcher import MAX_LOCAL_TTL_S, build_invocation


@pytest.fixture
def home(tmp_path: Path) -> StormHome:
    """A STORM_HOME skeleton: enough for the launcher, no jars."""
    for folder in ("lib", "lib-worker", "lib-flux", "extlib", "conf", "bin"):
        (tmp_path / folder).mkdir()
    (tmp_path / "bin" / "storm").write_text("#!/bin/sh\n")
    (tmp_path / "PROVISIONED").write_text("x\n")
    (tmp_path / "conf" / "storm.yaml").write_text('nimbus.childopts: "-Xmx99m"\n')
    return StormHome(tmp_path)


@pytest.fixture
def jar(tmp_path: Path) -> str:
    path = tmp_path / "topology.jar"
    path.write_bytes(b"PK")
    return str(path)


def _prop(argv: list[str], name: str) -> str | None:
    for arg in argv:
        if arg.startswith(f"-D{name}="):
            return arg.split("=", 1)[1]
    return None


def test_sparse_run_flux_local_becomes_local_cluster_with_the_sleep_as_ttl(
    home: StormHome, jar: str
) -> None:
    # What `sparse run -t 15` calls: Flux 2.x would ignore --local and submit to a cluster.
    inv = build_invocation(
        ["jar", jar, FLUX_MAIN, "--local", "--no-splash", "--sleep", "15", "t.yaml"], home
    )
    main_at = inv.argv.index("org.apache.storm.LocalCluster")
    assert inv.argv[main_at + 1 :] == [FLUX_MAIN, "--no-splash", "t.yaml"]
    assert _prop(inv.argv, "storm.local.sleeptime") == "15"
    assert _prop(inv.argv, "storm.jar") == jar
    classpath = inv.argv[inv.argv.index("-cp") + 1].split(":")
    # The topology jar first (its resources/ is the multilang code), then flux-core.
    assert classpath[0] == jar
    assert classpath[1] == str(home.path / "lib-flux" / "*")


def test_sparse_run_without_time_is_clamped_not_overflowed(home: StormHome, jar: str) -> None:
    # sparse sends Long.MAX_VALUE for "forever"; LocalCluster multiplies it by 1000.
    inv = build_invocation(
        ["jar", jar, FLUX_MAIN, "--local", "--sleep", "9223372036854775807", "t.yaml"], home
    )
    assert _prop(inv.argv, "storm.local.sleeptime") == str(MAX_LOCAL_TTL_S)


def test_jar_without_local_submits_with_the_worker_classpath(home: StormHome, jar: str) -> None:
    inv = build_invocation(["-c", 'nimbus.seeds=["h"]', "jar", jar, "com.example.Main", "a"], home)
    assert inv.argv[-2:] == ["com.example.Main", "a"]
    assert "org.apache.storm.LocalCluster" not in inv.argv
    classpath = inv.argv[inv.argv.index("-cp") + 1].split(":")
    assert classpath[0] == str(home.path / "lib-worker" / "*")
    assert _prop(inv.argv, "storm.options") == "nimbus.seeds%3D%5B%22h%22%5D"


def test_local_command_takes_local_ttl(home: StormHome, jar: str) -> None:
    inv = build_invocation(["local", jar, "com.example.Main", "--local-ttl", "7", "x"], home)
    assert inv.argv[-3:] == ["org.apache.storm.LocalCluster", "com.example.Main", "x"]
    assert _prop(inv.argv, "storm.local.sleeptime") == "7"


def test_daemons_read_their_heap_from_storm_yaml_and_disable_java_deserialization(
    home: StormHome,
) -> None:
    inv = build_invocation(["nimbus"], home)
    assert inv.argv[-1] == "org.apache.storm.daemon.nimbus.Nimbus"
    assert "-Xmx99m" in inv.argv
    assert "-Djava.deserialization.disabled=true" in inv.argv
    assert _prop(inv.argv, "storm.home") == str(home.path)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["jar", "/nonexistent.jar", "C"], "topology jar '/nonexistent.jar' does not exist"),
        (["-c", "novalue", "list"], "must look like key=value"),
        (["local", "JAR"], "usage: storm local JAR CLASS"),
    ],
)
def test_bad_command_lines_name_the_bad_value(
    home: StormHome, argv: list[str], message: str
) -> None:
    with pytest.raises(StormRuntimeError, match=message):
        build_invocation(argv, home)


def test_unprovisioned_home_says_how_to_provision(tmp_path: Path) -> None:
    with pytest.raises(StormRuntimeError, match="make storm-runtime"):
        build_invocation(["version"], StormHome(tmp_path / "nothing"))


def test_a_flux_file_whose_multilang_sides_disagree_is_refused(
    home: StormHome, jar: str, tmp_path: Path
) -> None:
    # What `sparse run` passes: components given `-s msgpack` (config.json's "serializer")
    # while the JVM side stays JSON would wait on each other silently (multilang_check).
    key = "topology.multilang.serializer"
    shell = {"constructorArgs": [["streamparse_run", "-s msgpack bolts.a.B"], ["x"]]}
    flux = {"config": {}, "bolts": [{"id": "b", "className": "x.FluxShellBolt", **shell}]}
    flux_file = tmp_path / "t.yaml"
    flux_file.write_text(yaml.safe_dump(flux))
    argv = ["jar", jar, FLUX_MAIN, "--local", "--sleep", "5", str(flux_file)]
    with pytest.raises(StormRuntimeError, match="component 'b' speaks msgpack"):
        build_invocation(argv, home)
    flux["config"] = {key: "squall.storm.MsgpackSerializer"}
    flux_file.write_text(yaml.safe_dump(flux))
    assert "org.apache.storm.LocalCluster" in build_invocation(argv, home).argv


def test_a_flux_file_with_a_spout_batch_the_spouts_would_refuse_is_refused(
    home: StormHome, jar: str, tmp_path: Path
) -> None:
    # `sparse run -o squall.spout.batch=0`: said before a JVM starts, not in a worker log
    flux = {"config": {"squall.spout.batch": 0}, "bolts": []}
    flux_file = tmp_path / "t.yaml"
    flux_file.write_text(yaml.safe_dump(flux))
    argv = ["jar", jar, FLUX_MAIN, "--local", "--sleep", "5", str(flux_file)]
    with pytest.raises(StormRuntimeError, match=r"t\.yaml's config: squall\.spout\.batch must"):
        build_invocation(argv, home)
    flux["config"] = {"squall.spout.batch": 4}
    flux_file.write_text(yaml.safe_dump(flux))
    assert "org.apache.storm.LocalCluster" in build_invocation(argv, home).argv
