"""Where the project's Storm lives (``STORM_HOME``), and the classpaths and ``-D`` options its
Java programs are launched with (which ``java``: :func:`squall.services.java_command`).

The layout follows Storm's binary distribution (lib/, lib-worker/, extlib/, extlib-daemon/,
conf/, log4j2/, bin/) so that Storm's own code, which looks things up relative to
``-Dstorm.home``, finds them. One addition: lib-flux/ holds flux-core, which the launcher puts on
the classpath of ``storm jar|local ... org.apache.storm.flux.Flux`` (see runtime/storm/pom.xml).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from squall.services import project_root
from squall.storm.errors import StormRuntimeError

# Keep in step with runtime/storm/pom.xml and project.clj.
STORM_VERSION = "2.8.3"
HOME_ENV = "SQUALL_STORM_HOME"
FLUX_MAIN = "org.apache.storm.flux.Flux"


@dataclass(frozen=True)
class StormHome:
    """A provisioned (or to-be-provisioned) STORM_HOME folder."""

    path: Path
    # The conf folder (storm.yaml) to use instead of $STORM_CONF_DIR / <home>/conf, e.g. a
    # cluster's own (see squall.storm.cluster).
    conf: Path | None = None

    @classmethod
    def default(cls) -> StormHome:
        """``$SQUALL_STORM_HOME`` if set, else ``<project>/.runtime/storm``."""
        env = os.environ.get(HOME_ENV)
        if env:
            return cls(Path(env).resolve())
        return cls(project_root() / ".runtime" / "storm")

    def dir(self, name: str) -> Path:
        return self.path / name

    @property
    def conf_dir(self) -> Path:
        """``$STORM_CONF_DIR`` (as Storm's CLI and Supervisor read it) or ``<home>/conf``."""
        if self.conf is not None:
            return self.conf
        env = os.environ.get("STORM_CONF_DIR")
        return Path(env).resolve() if env else self.path / "conf"

    @property
    def launcher(self) -> Path:
        return self.path / "bin" / "storm"

    def is_provisioned(self) -> bool:
        return (self.path / "PROVISIONED").is_file() and self.launcher.is_file()

    def require(self) -> None:
        if not self.is_provisioned():
            raise StormRuntimeError(
                f"Storm is not provisioned in {self.path}: run `make storm-runtime` "
                "(or `squall storm provision`)"
            )

    def jars(self, *dirs: str) -> list[str]:
        """Wildcard classpath entries (``<home>/<dir>/*``) for each existing folder."""
        return [str(self.path / d / "*") for d in dirs if (self.path / d).is_dir()]

    def daemon_classpath(self) -> list[str]:
        return [*self.jars("lib", "extlib", "extlib-daemon"), str(self.conf_dir)]

    def client_classpath(self) -> list[str]:
        """What `storm list|kill|...` need: the command classes live in storm-core (lib/)."""
        return [*self.jars("lib", "extlib"), str(self.conf_dir)]

    def log_dir(self) -> Path:
        return self.path / "logs"

    def system_properties(
        self, daemon_name: str, log4j_file: str, log_dir: Path | None = None
    ) -> list[str]:
        """The -D options Storm's daemons and commands expect (see Storm's bin/storm.py)."""
        return [
            f"-Ddaemon.name={daemon_name}",
            f"-Dstorm.home={self.path}",
            f"-Dstorm.log.dir={log_dir or self.log_dir()}",
            f"-Dlogfile.name={daemon_name or 'storm'}.log",
            f"-Dlog4j.configurationFile={self.path / 'log4j2' / log4j_file}",
        ]
