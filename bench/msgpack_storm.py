"""A STORM_HOME for the benchmark whose JVM side speaks MessagePack to pystorm.

Storm has no MessagePack multilang serializer (STORM-1565 was closed "Won't Fix") and none for
Storm 2 is on Maven Central, so ``squall.bench.MsgpackSerializer``
(bench/storm_msgpack/src) is compiled here with ``javac`` against the provisioned Storm and
msgpack-core from Maven Central (fetched with ``mvn dependency:copy``).

The provisioned ``.runtime/storm`` is not touched: ``.runtime/bench-storm`` is an overlay whose
entries link to it, plus ``extlib/`` (on the local-mode classpath) holding the serializer and
msgpack-core, and its own ``bin/storm`` pointing the launcher at the overlay.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "storm_msgpack" / "src" / "squall" / "bench" / "MsgpackSerializer.java"
SERIALIZER_CLASS = "squall.bench.MsgpackSerializer"
MSGPACK_CORE = "org.msgpack:msgpack-core:0.9.8"


class BuildError(RuntimeError):
    """The overlay could not be built (message says which step and why)."""


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise BuildError(
            f"{what} failed ({' '.join(cmd[:3])} ...): {(proc.stdout + proc.stderr)[-1500:]}"
        )


def overlay_home(storm_home: Path) -> Path:
    """Build (once; again when the Java source changes) and return the overlay STORM_HOME."""
    overlay = storm_home.parent / "bench-storm"
    extlib = overlay / "extlib"
    jar = extlib / "squall-bench-msgpack.jar"
    if jar.is_file() and jar.stat().st_mtime >= SOURCE.stat().st_mtime:
        return overlay
    overlay.mkdir(parents=True, exist_ok=True)
    for entry in storm_home.iterdir():
        if entry.name in ("bin", "extlib", "clusters"):
            continue
        link = overlay / entry.name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(entry)
    extlib.mkdir(exist_ok=True)
    _run(
        [
            "mvn",
            "-q",
            "dependency:copy",
            f"-Dartifact={MSGPACK_CORE}",
            f"-DoutputDirectory={extlib}",
        ],
        "fetching msgpack-core from Maven Central",
    )
    with tempfile.TemporaryDirectory() as build:
        classpath = os.pathsep.join([str(storm_home / "lib-worker" / "*"), str(extlib / "*")])
        _run(["javac", "-nowarn", "-d", build, "-cp", classpath, str(SOURCE)], "javac")
        _run(["jar", "cf", str(jar), "-C", build, "squall"], "jar")
    bin_dir = overlay / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "storm"
    launcher.write_text(
        "#!/bin/sh\n# The benchmark's overlay of the provisioned Storm (bench/msgpack_storm.py).\n"
        f'export SQUALL_STORM_HOME="{overlay}"\n'
        f'exec "{sys.executable}" -m squall.storm.launcher "$@"\n'
    )
    launcher.chmod(0o755)
    return overlay


def remove_overlay(storm_home: Path) -> None:
    shutil.rmtree(storm_home.parent / "bench-storm", ignore_errors=True)
