"""The project's Apache Kafka 4.x, assembled from Maven Central into ``.runtime/kafka/``.

The release tarball is not reachable from here, so the broker's jars are resolved by
``runtime/kafka/pom.xml`` into the git-ignored ``.runtime/kafka/lib`` (``squall kafka provision``,
``make kafka-runtime``). A stamp in lib/ records the pom's digest: lib/ is rebuilt from scratch
when the pom changes, so no jar of another version stays on the classpath. Maven's own output
goes to ``.runtime/kafka/provision.log``; the screen gets one progress line (:mod:`squall.maven`).

This module also names the folders of the runtime: ``lib/`` (the classpath) and
``instances/<name>/`` (one per broker, see :mod:`squall.kafka.broker`).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path
from typing import TextIO

from squall.kafka.errors import KafkaRuntimeError
from squall.maven import StatusLine, failure_report, final_line, run_maven
from squall.services import project_root


def runtime_dir(root: Path | None = None) -> Path:
    """``<project>/.runtime/kafka``: everything of the project's Kafka (git-ignored)."""
    return (root or project_root()) / ".runtime" / "kafka"


def lib_dir(root: Path | None = None) -> Path:
    """The broker's classpath: the jars Maven resolved from ``runtime/kafka/pom.xml``."""
    return runtime_dir(root) / "lib"


def instance_dir(name: str, root: Path | None = None) -> Path:
    """The folder of broker instance ``name`` (a plain folder name: no ``/``, no leading dot)."""
    if not name or "/" in name or name.startswith("."):
        raise KafkaRuntimeError(
            f"bad broker instance name {name!r}: use a plain folder name such as 'default'"
        )
    return runtime_dir(root) / "instances" / name


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def is_provisioned(root: Path | None = None) -> bool:
    """True when lib/ was assembled from the current pom.xml (a stamp records its digest)."""
    root = root or project_root()
    stamp = lib_dir(root) / ".provisioned"
    pom = root / "runtime" / "kafka" / "pom.xml"
    return stamp.is_file() and stamp.read_text().strip() == _pom_digest(pom)


def provision_log(root: Path | None = None) -> Path:
    """Maven's full output of the last provisioning (the screen shows one progress line)."""
    return runtime_dir(root) / "provision.log"


def provision(
    root: Path | None = None, out: TextIO | None = sys.stderr, quiet: bool = False
) -> Path:
    """Assemble the broker's jars into ``.runtime/kafka/lib`` with Maven; a no-op when done.

    Maven's output goes to :func:`provision_log`; ``out`` gets one progress line (redrawn in
    place on a terminal) and a summary, or on failure the log's last lines in the raised error.
    Re-running after a pom change rebuilds lib/ from scratch so no stale jar of another version
    stays on the classpath.
    """
    root = root or project_root()
    lib = lib_dir(root)
    if is_provisioned(root):
        (lib / ".provisioned").touch()  # newer than pom.xml again, for make
        if out and not quiet:
            print(f"kafka runtime: up to date in {lib}", file=out)
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaRuntimeError(
            "Maven ('mvn') is not on PATH; it assembles the Kafka broker from Maven Central "
            "(install it, e.g. apt-get install maven)"
        )
    pom = root / "runtime" / "kafka" / "pom.xml"
    if lib.exists():
        shutil.rmtree(lib)
    stream = None if quiet else out

    def say(line: str) -> None:
        if stream:
            print(line, file=stream, flush=True)

    say(f"kafka runtime: assembling Apache Kafka from Maven Central into {lib}")
    status = StatusLine(say, stream)
    cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(pom), f"-Dkafka.lib.dir={lib}", "package"]
    run = run_maven(cmd, name="kafka runtime", log=provision_log(root), status=status)
    if not run.ok:
        raise KafkaRuntimeError(failure_report(run, f"assembling the broker from {pom}"))
    jars = sorted(lib.glob("kafka_2.13-*.jar"))
    if not jars:
        raise KafkaRuntimeError(f"Maven succeeded but no kafka_2.13 jar is in {lib}; see {run.log}")
    (lib / ".provisioned").write_text(_pom_digest(pom) + "\n")
    status.done(final_line("kafka runtime", [lib], run))
    return lib


def kafka_version(root: Path | None = None) -> str:
    """The provisioned Kafka's version, read from its ``kafka_2.13-<version>.jar``."""
    jars = sorted(lib_dir(root).glob("kafka_2.13-*.jar"))
    if not jars:
        raise KafkaRuntimeError(
            "the Kafka runtime is not provisioned: run `squall kafka provision`"
        )
    return jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar")
