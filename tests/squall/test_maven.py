"""squall.maven and the runtimes' provisioning through it, with a recorded Maven output and a
fake ``mvn`` (no network, no JVM): one progress line instead of Maven's, everything in the log,
and on failure the log's tail in the error."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

from squall import maven
from squall.kafka import provision as kafka_provision
from squall.kafka.errors import KafkaRuntimeError
from squall.maven import DownloadCount, StatusLine
from squall.storm import provision as storm_provision
from squall.storm.errors import StormRuntimeError
from squall.storm.home import StormHome

ROOT = Path(__file__).resolve().parents[2]

# Recorded from `mvn -B -f runtime/kafka/pom.xml package` (Maven 3.8.7) with an empty
# ~/.m2, shortened: sizes in B, kB and MB, with and without a rate, poms, jars and metadata.
MAVEN_SAMPLE = """\
[INFO] Scanning for projects...
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/maven/plugins/maven-dependency-plugin/3.8.1/maven-dependency-plugin-3.8.1.pom
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/maven/plugins/maven-dependency-plugin/3.8.1/maven-dependency-plugin-3.8.1.pom (19 kB at 61 kB/s)
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/maven/plugins/maven-dependency-plugin/3.8.1/maven-dependency-plugin-3.8.1.jar
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/maven/plugins/maven-dependency-plugin/3.8.1/maven-dependency-plugin-3.8.1.jar (207 kB at 1.1 MB/s)
[INFO]
[INFO] ---------------------< squall:kafka-runtime >----------------------
[INFO] Building kafka-runtime 1
[INFO] --------------------------------[ pom ]---------------------------------
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/4.1.0/kafka_2.13-4.1.0.pom
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/4.1.0/kafka_2.13-4.1.0.pom (3.9 kB)
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/scala-lang/scala-library/maven-metadata.xml
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/scala-lang/scala-library/maven-metadata.xml (565 B at 4.2 kB/s)
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/4.1.0/kafka_2.13-4.1.0.jar
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/apache/kafka/kafka_2.13/4.1.0/kafka_2.13-4.1.0.jar (6.5 MB at 9.8 MB/s)
[INFO] Downloading from central: https://repo.maven.apache.org/maven2/org/scala-lang/scala-library/2.13.16/scala-library-2.13.16.jar
[INFO] Downloaded from central: https://repo.maven.apache.org/maven2/org/scala-lang/scala-library/2.13.16/scala-library-2.13.16.jar (5.9 MB at 7.0 MB/s)
[INFO]
[INFO] --- maven-dependency-plugin:3.8.1:copy-dependencies (copy-broker-jars) @ kafka-runtime ---
[INFO] ------------------------------------------------------------------------
[INFO] BUILD SUCCESS
[INFO] ------------------------------------------------------------------------
"""
SAMPLE_FILES = 6
SAMPLE_JARS = 3
SAMPLE_BYTES = 19_000 + 207_000 + 3_900 + 565 + 6_500_000 + 5_900_000

MAVEN_FAILURE = """\
[INFO] BUILD FAILURE
[INFO] ------------------------------------------------------------------------
[ERROR] Failed to execute goal on project kafka-runtime: Could not resolve dependencies for project squall:kafka-runtime:pom:1: Could not find artifact org.apache.kafka:kafka_2.13:jar:9.9.9 in central (https://repo.maven.apache.org/maven2) -> [Help 1]
[ERROR]
[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.
"""


class FakeClock:
    """A clock the test moves by hand."""

    __test__ = False

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def fake_mvn(folder: Path, output: str, exit_code: int = 0) -> Path:
    """An ``mvn`` that prints ``output`` and, on success, puts jars where the pom would copy
    them (``-Dkafka.lib.dir=`` or ``-Dstorm.home=``/lib*); ``folder`` is to go first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "output.txt").write_text(output)
    script = folder / "mvn"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        "here = pathlib.Path(__file__).parent\n"
        "sys.stdout.write((here / 'output.txt').read_text())\n"
        f"if {exit_code}:\n"
        f"    sys.exit({exit_code})\n"
        "props = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('-D'))\n"
        "dirs = [pathlib.Path(props['kafka.lib.dir'])] if 'kafka.lib.dir' in props else [\n"
        "    pathlib.Path(props['storm.home'], d) for d in ('lib', 'lib-worker', 'lib-flux')]\n"
        "for d in dirs:\n"
        "    d.mkdir(parents=True, exist_ok=True)\n"
        "    (d / 'kafka_2.13-4.1.0.jar').write_bytes(b'x' * 1_500_000)\n"
        "    (d / 'scala-library-2.13.16.jar').write_bytes(b'x' * 500_000)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def kafka_root(tmp_path: Path) -> Path:
    """A checkout with the real Kafka pom (its digest is what the stamp records)."""
    root = tmp_path / "checkout"
    (root / "runtime" / "kafka").mkdir(parents=True)
    (root / "runtime" / "kafka" / "pom.xml").write_bytes(
        (ROOT / "runtime" / "kafka" / "pom.xml").read_bytes()
    )
    return root


def test_downloads_are_counted_from_maven_lines() -> None:
    count = DownloadCount()
    seen = [count.feed(line) for line in MAVEN_SAMPLE.splitlines(keepends=True)]
    assert sum(seen) == SAMPLE_FILES
    assert (count.files, count.artifacts, count.bytes) == (SAMPLE_FILES, SAMPLE_JARS, SAMPLE_BYTES)
    assert count.describe("kafka runtime", 12.4) == (
        "kafka runtime: resolving, 3 artifacts (6 files), 12.6 MB downloaded, 12 s"
    )


def test_downloading_and_other_lines_are_not_counted() -> None:
    count = DownloadCount()
    assert not count.feed("[INFO] Downloading from central: https://x/y.jar\n")
    assert not count.feed("[WARNING] Downloaded from nowhere, it said (1 kB)\n")
    assert count == DownloadCount()


def test_without_a_terminal_a_line_at_most_every_five_seconds() -> None:
    said: list[str] = []
    clock = FakeClock()
    status = StatusLine(said.append, io.StringIO(), clock=clock)
    for now_s, text in [(0.0, "a"), (1.0, "b"), (4.9, "c"), (5.0, "d"), (9.0, "e"), (10.1, "f")]:
        clock.now_s = now_s
        status.update(text)
    status.done("final")
    assert said == ["a", "d", "f", "final"]


def test_on_a_terminal_the_line_is_redrawn_in_place() -> None:
    said: list[str] = []
    clock = FakeClock()
    tty = Terminal()
    status = StatusLine(said.append, tty, tty_prefix="[storm] ", clock=clock)
    status.update("one")
    clock.now_s = 1.0
    status.update("two")
    status.done("final")
    assert tty.getvalue() == "\r[storm] one\x1b[K\r[storm] two\x1b[K\r\x1b[K"
    assert said == ["final"]  # only the summary is a line of its own


def test_run_maven_keeps_every_line_in_the_log(tmp_path: Path) -> None:
    mvn = fake_mvn(tmp_path / "bin", MAVEN_SAMPLE) / "mvn"
    said: list[str] = []
    log = tmp_path / "runtime" / "provision.log"
    cmd = [str(mvn), "-B", f"-Dkafka.lib.dir={tmp_path / 'lib'}", "package"]
    run = maven.run_maven(cmd, name="kafka runtime", log=log, status=StatusLine(said.append))
    assert run.ok
    assert run.downloads.artifacts == SAMPLE_JARS
    assert log.read_text() == f"$ {' '.join(cmd)}\n" + MAVEN_SAMPLE
    [line] = said  # the first download; the next ones came within five seconds
    assert line.startswith("kafka runtime: resolving, 0 artifacts (1 files), 0.0 MB downloaded, ")


def test_a_failure_reports_the_logs_tail_and_path(tmp_path: Path) -> None:
    mvn = fake_mvn(tmp_path / "bin", MAVEN_SAMPLE + MAVEN_FAILURE, exit_code=1) / "mvn"
    log = tmp_path / "provision.log"
    run = maven.run_maven([str(mvn)], name="x", log=log, status=StatusLine(lambda _line: None))
    assert run.returncode == 1
    report = maven.failure_report(run, "assembling the broker", lines=5)
    assert report.splitlines() == [
        "Maven failed (exit 1) assembling the broker; the last 5 lines of its log:",
        *("  " + line for line in MAVEN_FAILURE.splitlines()),
        f"full log: {log}",
    ]


def test_kafka_provisioning_prints_one_progress_line_and_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_mvn(tmp_path / "bin", MAVEN_SAMPLE)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = kafka_root(tmp_path)
    out = io.StringIO()
    lib = kafka_provision.provision(root, out=out)
    log = root / ".runtime" / "kafka" / "provision.log"
    lines = out.getvalue().splitlines()
    assert lines[0] == f"kafka runtime: assembling Apache Kafka from Maven Central into {lib}"
    assert lines[1].startswith("kafka runtime: resolving, 0 artifacts (1 files), 0.0 MB")
    assert lines[2].startswith("kafka runtime: 2 artifacts, 2.0 MB, ")
    assert lines[2].endswith(f" s — log: {log}")
    assert len(lines) == 3
    assert "Downloaded from" in log.read_text()
    assert kafka_provision.is_provisioned(root)


def test_kafka_provisioning_failure_names_the_error_and_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_mvn(tmp_path / "bin", MAVEN_SAMPLE + MAVEN_FAILURE, exit_code=1)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = kafka_root(tmp_path)
    with pytest.raises(KafkaRuntimeError) as failure:
        kafka_provision.provision(root, out=io.StringIO())
    message = str(failure.value)
    assert message.startswith("Maven failed (exit 1) assembling the broker from ")
    assert "Could not find artifact org.apache.kafka:kafka_2.13:jar:9.9.9" in message
    assert message.endswith(f"full log: {root / '.runtime' / 'kafka' / 'provision.log'}")
    assert not kafka_provision.is_provisioned(root)


def test_storm_provisioning_goes_through_the_same_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_mvn(tmp_path / "bin", MAVEN_SAMPLE)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(storm_provision, "ensure_tools", lambda progress: None)  # no apt-get
    home = StormHome(tmp_path / "storm")
    said: list[str] = []
    storm_provision.provision(home, progress=said.append)
    progress, summary = [line for line in said if line.startswith("storm runtime")]
    assert progress.startswith("storm runtime: resolving, 0 artifacts (1 files), 0.0 MB ")
    assert summary.startswith("storm runtime: 6 artifacts, 6.0 MB, ")
    assert summary.endswith(f" s — log: {home.path / 'provision.log'}")


def test_storm_provisioning_failure_names_the_error_and_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = fake_mvn(tmp_path / "bin", MAVEN_SAMPLE + MAVEN_FAILURE, exit_code=1)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(storm_provision, "ensure_tools", lambda progress: None)
    home = StormHome(tmp_path / "storm")
    with pytest.raises(StormRuntimeError, match="Could not find artifact") as failure:
        storm_provision.provision(home, progress=lambda _line: None)
    assert str(failure.value).endswith(f"full log: {home.path / 'provision.log'}")
    assert not (home.path / "PROVISIONED").exists()
