"""Provision Apache Storm into STORM_HOME (``.runtime/storm``) from Maven Central.

Steps, each skipped when already done (the run is idempotent and prints what it does):

1. tools: ``mvn`` and Leiningen (``lein`` builds topology jars for ``sparse``) from Debian's
   packages when missing;
2. jars: ``mvn -f runtime/storm/pom.xml package`` copies storm-core, storm-client and
   flux-core with their dependencies into lib/, lib-worker/, lib-flux/ (Maven's output goes to
   ``<STORM_HOME>/provision.log``, the screen gets one progress line: :mod:`squall.maven`);
3. files written here: conf/storm.yaml (single-node defaults), log4j2/*.xml, bin/storm (the
   launcher, :mod:`squall.storm.launcher`), empty extlib/ and extlib-daemon/.

A ``PROVISIONED`` stamp records a digest of the poms and of this module's templates, so a change
to either re-runs the step that depends on it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from squall.maven import StatusLine, failure_report, final_line, run_maven
from squall.services import project_root
from squall.storm.errors import StormRuntimeError
from squall.storm.home import STORM_VERSION, StormHome

Progress = Callable[[str], None]

POMS = ("pom.xml", "lib/pom.xml", "lib-worker/pom.xml", "lib-flux/pom.xml")
JAR_DIRS = ("lib", "lib-worker", "lib-flux")

# Single-node defaults for `storm` used against $STORM_HOME/conf. A cluster started by
# `squall storm start` writes its own storm.yaml (ports, dirs) in its own folder instead.
STORM_YAML = """\
# Written by `squall storm provision`; `squall storm start` writes per-cluster copies.
storm.zookeeper.servers: ["127.0.0.1"]
storm.zookeeper.port: 2181
nimbus.seeds: ["localhost"]
nimbus.thrift.port: 6627
storm.local.hostname: "localhost"
supervisor.slots.ports: [6700, 6701]
ui.port: 8080
nimbus.childopts: "-Xmx256m"
supervisor.childopts: "-Xmx160m"
worker.heap.memory.mb: 256
"""

# Daemons log to <log dir>/<logfile.name>; Storm's own configs add rolling, syslog and metrics
# appenders this project does not need.
CLUSTER_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `squall storm provision`: Storm daemons log to ${sys:storm.log.dir}. -->
<Configuration monitorInterval="60" shutdownHook="disable">
  <Properties>
    <Property name="pattern">%d{yyyy-MM-dd HH:mm:ss.SSS} %c{1.} %t [%p] %msg%n</Property>
  </Properties>
  <Appenders>
    <RollingFile name="A1" fileName="${sys:storm.log.dir}/${sys:logfile.name}"
                 filePattern="${sys:storm.log.dir}/${sys:logfile.name}.%i.gz">
      <PatternLayout pattern="${pattern}"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.zookeeper" level="WARN"/>
    <Logger name="org.apache.storm.shade.org.apache.zookeeper" level="WARN"/>
    <Logger name="org.apache.storm.shade.org.apache.curator" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="A1"/></Root>
  </Loggers>
</Configuration>
"""

# Workers: worker.log per topology and port under workers-artifacts, as the Supervisor expects.
# The LogWriter turns the worker's stdout/stderr into the STDOUT/STDERR loggers.
WORKER_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `squall storm provision`: one worker.log per topology and slot. -->
<Configuration monitorInterval="60" shutdownHook="disable">
  <Properties>
    <Property name="pattern">%d{yyyy-MM-dd HH:mm:ss.SSS} %c{1.} %t [%p] %msg%n</Property>
  </Properties>
  <Appenders>
    <RollingFile name="A1"
                 fileName="${sys:workers.artifacts}/${sys:storm.id}/${sys:worker.port}/${sys:logfile.name}"
                 filePattern="${sys:workers.artifacts}/${sys:storm.id}/${sys:worker.port}/${sys:logfile.name}.%i.gz">
      <PatternLayout pattern="${pattern}"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.zookeeper" level="WARN"/>
    <Logger name="org.apache.storm.shade.org.apache.zookeeper" level="WARN"/>
    <Logger name="org.apache.storm.shade.org.apache.curator" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="A1"/></Root>
  </Loggers>
</Configuration>
"""

# Local mode (`storm local`, `sparse run`) and the CLI commands print to the console.
LOCAL_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `squall storm provision`: `storm local` / `sparse run` log to the console. -->
<Configuration shutdownHook="disable">
  <Appenders>
    <Console name="console" target="SYSTEM_OUT">
      <PatternLayout pattern="%d{HH:mm:ss.SSS} %c{1.} %t [%p] %msg%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.zookeeper" level="WARN"/>
    <Logger name="org.apache.storm.shade.org.apache.zookeeper" level="WARN"/>
    <Logger name="org.apache.storm.shade.org.apache.curator" level="WARN"/>
    <Logger name="org.apache.storm.zookeeper" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="console"/></Root>
  </Loggers>
</Configuration>
"""

CLI_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `squall storm provision`: `storm list|kill|...` print warnings only. -->
<Configuration shutdownHook="disable">
  <Appenders>
    <Console name="console" target="SYSTEM_ERR">
      <PatternLayout pattern="%d{HH:mm:ss.SSS} %c{1.} [%p] %msg%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="console"/></Root>
  </Loggers>
</Configuration>
"""

LAUNCHER_SH = """\
#!/bin/sh
# Written by `squall storm provision`: Storm's CLI for this STORM_HOME (squall.storm.launcher).
export SQUALL_STORM_HOME="{home}"
exec "{python}" -m squall.storm.launcher "$@"
"""

TEMPLATES = {
    "conf/storm.yaml": STORM_YAML,
    "log4j2/cluster.xml": CLUSTER_XML,
    "log4j2/worker.xml": WORKER_XML,
    "log4j2/local.xml": LOCAL_XML,
    "log4j2/cli.xml": CLI_XML,
}


def _say(message: str) -> None:
    print(f"[storm] {message}", flush=True)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for pom in POMS:
        h.update((root / "runtime" / "storm" / pom).read_bytes())
    for name, text in sorted(TEMPLATES.items()):
        h.update(name.encode() + text.encode())
    h.update(LAUNCHER_SH.encode() + sys.executable.encode())
    return h.hexdigest()


def _apt_install(package: str, progress: Progress) -> None:
    if os.geteuid() != 0:
        raise StormRuntimeError(
            f"`{package}` is missing: install it with `sudo apt-get install -y {package}`"
        )
    progress(f"installing the Debian package {package} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        if subprocess.run(cmd, env=env).returncode != 0:
            raise StormRuntimeError(f"`{' '.join(cmd)}` failed: install {package} by hand")


def ensure_tools(progress: Progress = _say) -> None:
    """mvn (provisioning) and lein (sparse builds topology jars with it), from Debian if missing."""
    if not shutil.which("java"):
        _apt_install("openjdk-17-jdk-headless", progress)
    if not shutil.which("mvn"):
        _apt_install("maven", progress)
    if not shutil.which("lein"):
        _apt_install("leiningen", progress)


def provision_log(home: StormHome) -> Path:
    """Maven's full output of the last provisioning (the screen shows one progress line)."""
    return home.path / "provision.log"


def _run_maven(root: Path, home: StormHome, progress: Progress) -> None:
    progress(f"resolving Storm {STORM_VERSION} jars from Maven Central into {home.path} (mvn)")
    cmd = [
        "mvn",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(root / "runtime" / "storm" / "pom.xml"),
        f"-Dstorm.home={home.path}",
        "package",
    ]
    # Only this module's own printer owns the terminal; a caller's progress callback (tests,
    # `squall storm start`) gets whole lines, at most every few seconds.
    tty = sys.stdout if progress is _say else None
    status = StatusLine(progress, tty, tty_prefix="[storm] ")
    run = run_maven(cmd, name="storm runtime", log=provision_log(home), status=status)
    if not run.ok:
        raise StormRuntimeError(failure_report(run, f"assembling Storm into {home.path}"))
    for folder in JAR_DIRS:
        if not any((home.path / folder).glob("*.jar")):
            raise StormRuntimeError(
                f"Maven finished but {home.path / folder} holds no jars; see {run.log}"
            )
    status.done(final_line("storm runtime", [home.path / d for d in JAR_DIRS], run))


def _write_files(home: StormHome) -> None:
    for name, text in TEMPLATES.items():
        target = home.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for folder in ("extlib", "extlib-daemon", "logs"):
        (home.path / folder).mkdir(exist_ok=True)
    launcher = home.launcher
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCHER_SH.format(home=home.path, python=sys.executable))
    launcher.chmod(0o755)


def provision(
    home: StormHome | None = None, *, force: bool = False, progress: Progress = _say
) -> StormHome:
    """Make ``home`` a working STORM_HOME; return it. Cheap when already done."""
    root = project_root()
    home = home or StormHome.default()
    stamp = home.path / "PROVISIONED"
    digest = _digest(root)
    if (
        not force
        and stamp.is_file()
        and stamp.read_text().strip() == digest
        and home.launcher.is_file()
    ):
        progress(f"Storm {STORM_VERSION} already provisioned in {home.path}")
        stamp.touch()  # newer than its inputs: `make storm-runtime` need not ask again
        return home
    ensure_tools(progress)
    home.path.mkdir(parents=True, exist_ok=True)
    _run_maven(root, home, progress)
    _write_files(home)
    stamp.write_text(digest + "\n")
    progress(f"Storm {STORM_VERSION} ready: {home.launcher} (put {home.launcher.parent} on PATH)")
    return home
