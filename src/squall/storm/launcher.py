"""The ``storm`` command (``$STORM_HOME/bin/storm``), written here because Storm's own CLI ships
only in its release tarball, which is neither reachable nor on Maven Central.

It implements what ``sparse`` and this project's users call, with Storm's classpaths and system
properties (see Storm's ``bin/storm.py`` for the originals):

=====================  =========================================================================
``version``            ``org.apache.storm.utils.VersionInfo`` (``sparse`` parses ``Storm X.Y.Z``)
``jar J C args``       run ``C`` with ``-Dstorm.jar=J`` (submits to the cluster in storm.yaml).
                       ``sparse run`` calls ``jar J org.apache.storm.flux.Flux --local --sleep T``;
                       Flux 2.x ignores ``--local`` and would submit to a cluster, so that form
                       is run in local mode instead, exactly like ``local`` below.
``local J C args``     ``org.apache.storm.LocalCluster C args``: an in-process cluster that runs
                       for ``--local-ttl`` seconds after ``C`` returns (default 20, as Storm's).
``nimbus``,            the daemons, in the foreground, configured by ``$STORM_CONF_DIR`` (or
``supervisor``,        ``$STORM_HOME/conf``)/storm.yaml
``dev-zookeeper``
``ui``                 the UI's REST API (``squall.storm.ui``): storm-webapp is not on Maven
                       Central, so the Java UI cannot be provisioned
``list``, ``kill``,    the topology commands of storm-core
``activate``, ...
=====================  =========================================================================

Global options, before the command: ``-c key=value`` (repeatable; passed as ``storm.options``)
and ``--config FILE`` (``storm.conf.file``), as in Storm's CLI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

import yaml

from squall.errors import ConfigError, ServiceError
from squall.services import HOST, java_command
from squall.storm.batched_spout import storm_spout_batch
from squall.storm.bind_shim import ADDRESS_ENV, bind_env
from squall.storm.errors import StormRuntimeError
from squall.storm.fusion import settle_flux
from squall.storm.home import FLUX_MAIN, StormHome
from squall.storm.multilang_check import check_flux_serializers, check_fused_serializer

# LocalCluster sleeps ``ttl * 1000`` ms in a long multiplication: sparse's "forever"
# (Long.MAX_VALUE) overflows it. 2**31 s is ~68 years, i.e. "until Ctrl-C".
MAX_LOCAL_TTL_S = 2**31
DEFAULT_LOCAL_TTL_S = 20

COMMAND_CLASSES = {
    "list": "org.apache.storm.command.ListTopologies",
    "kill": "org.apache.storm.command.KillTopology",
    "activate": "org.apache.storm.command.Activate",
    "deactivate": "org.apache.storm.command.Deactivate",
    "rebalance": "org.apache.storm.command.Rebalance",
    "get-errors": "org.apache.storm.command.GetErrors",
    "kill_workers": "org.apache.storm.command.KillWorkers",
}
DAEMON_CLASSES = {
    "nimbus": "org.apache.storm.daemon.nimbus.Nimbus",
    "supervisor": "org.apache.storm.daemon.supervisor.Supervisor",
    "dev-zookeeper": "org.apache.storm.command.DevZookeeper",
}
# storm.yaml key holding each daemon's JVM options, and what to use when it is absent
# (smaller than Storm's defaults: this runs on a 2-core development machine).
DAEMON_CHILDOPTS = {
    "nimbus": ("nimbus.childopts", "-Xmx256m"),
    "supervisor": ("supervisor.childopts", "-Xmx160m"),
    "dev-zookeeper": ("dev.zookeeper.childopts", "-Xmx128m"),
}
USAGE = """usage: storm [-c key=value ...] [--config FILE] COMMAND [args]

commands: version | jar JAR CLASS [args] | local JAR CLASS [--local-ttl S] [args]
          nimbus | supervisor | dev-zookeeper | ui
          list | kill NAME [-w S] | activate NAME | deactivate NAME | rebalance NAME ...
          get-errors NAME | kill_workers
"""


@dataclass(frozen=True)
class Invocation:
    """A fully resolved command line, with the environment changes it needs."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class GlobalOptions:
    conf_options: list[str] = field(default_factory=list)
    config_file: str = ""


def _parse_global(argv: Sequence[str]) -> tuple[GlobalOptions, list[str]]:
    opts = GlobalOptions()
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag in ("-h", "--help"):
            return opts, ["help"]
        if not rest:
            raise StormRuntimeError(f"storm: option {flag} needs a value")
        value = rest.pop(0)
        if flag == "-c":
            if "=" not in value:
                raise StormRuntimeError(f"storm: -c {value!r} must look like key=value")
            opts.conf_options.append(value)
        elif flag == "--config":
            opts.config_file = value
        else:
            raise StormRuntimeError(
                f"storm: unknown option {flag!r}; valid: -c key=value, --config FILE"
            )
    return opts, rest


def _java(
    home: StormHome,
    opts: GlobalOptions,
    classpath: list[str],
    main: str,
    args: Sequence[str],
    *,
    daemon_name: str = "",
    log4j_file: str = "cluster.xml",
    jvm_opts: Sequence[str] = (),
) -> list[str]:
    # Like Storm's CLI: storm.log.dir from storm.yaml wins over <home>/logs.
    log_dir = _conf_value(home, "storm.log.dir", "")
    return [
        java_command(),
        *jvm_opts,
        *home.system_properties(daemon_name, log4j_file, Path(log_dir) if log_dir else None),
        "-Dstorm.options=" + ",".join(quote_plus(o) for o in opts.conf_options),
        "-Dstorm.conf.file=" + opts.config_file,
        "-cp",
        os.pathsep.join(classpath),
        main,
        *args,
    ]


def _conf_value(home: StormHome, key: str, default: str) -> str:
    """A value from storm.yaml, read directly (Storm's CLI starts a JVM per lookup)."""
    conf_file = home.conf_dir / "storm.yaml"
    if not conf_file.is_file():
        return default
    loaded = yaml.safe_load(conf_file.read_text()) or {}
    value = loaded.get(key, default)
    return " ".join(value) if isinstance(value, list) else str(value)


def _split_local_args(args: Sequence[str]) -> tuple[list[str], int]:
    """Pull Storm's ``--local-ttl S`` out of ``local``'s arguments; return (rest, ttl)."""
    rest: list[str] = []
    ttl = DEFAULT_LOCAL_TTL_S
    items = list(args)
    while items:
        item = items.pop(0)
        if item == "--local-ttl":
            if not items:
                raise StormRuntimeError("storm local: --local-ttl needs a number of seconds")
            ttl = _ttl(items.pop(0), "--local-ttl")
        else:
            rest.append(item)
    return rest, ttl


def _ttl(text: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise StormRuntimeError(
            f"storm: {where} {text!r} is not a whole number of seconds"
        ) from exc
    if value <= 0:
        return MAX_LOCAL_TTL_S
    return min(value, MAX_LOCAL_TTL_S)


def _flux_local_args(args: Sequence[str]) -> tuple[list[str], int] | None:
    """If ``args`` (after ``jar J Flux``) ask for Flux's ignored ``--local``, return the Flux
    arguments without the local-mode options, and the TTL from ``--sleep`` (seconds, as sparse
    means it); else None."""
    if "--local" not in args and "-l" not in args:
        return None
    rest: list[str] = []
    ttl = DEFAULT_LOCAL_TTL_S
    items = list(args)
    while items:
        item = items.pop(0)
        if item in ("--local", "-l"):
            continue
        if item in ("--sleep", "-s"):
            if not items:
                raise StormRuntimeError("storm jar ... Flux: --sleep needs a number of seconds")
            ttl = _ttl(items.pop(0), "Flux --sleep")
        else:
            rest.append(item)
    return rest, ttl


def _check_flux_file(args: Sequence[str]) -> None:
    """Refuse a Flux file (the last argument) whose multilang halves disagree or whose
    ``squall.spout.batch`` the spouts would refuse, before a JVM starts; settle its fused
    bolts (``squall.storm.fusion.settle_flux``: unfused if its config says
    ``squall.chaining: false``) in place."""
    flux_file = Path(args[-1]) if args and args[-1].endswith((".yaml", ".yml")) else None
    if flux_file is None or not flux_file.is_file():
        return  # Flux itself names a missing or unreadable file
    try:
        flux = yaml.safe_load(flux_file.read_text())
    except yaml.YAMLError:
        return  # Flux's own parse error says more
    if isinstance(flux, dict):
        if settle_flux(flux):
            flux_file.write_text(yaml.safe_dump(flux, default_flow_style=False))
        check_flux_serializers(flux, str(flux_file))
        check_fused_serializer(flux, str(flux_file))
        try:
            storm_spout_batch(flux.get("config") or {}, f"{flux_file}'s config")
        except ConfigError as exc:
            raise StormRuntimeError(str(exc)) from None


def _jar_path(text: str) -> str:
    path = Path(text)
    if not path.is_file():
        raise StormRuntimeError(f"storm: topology jar {text!r} does not exist")
    return str(path.resolve())


def local_invocation(
    home: StormHome, opts: GlobalOptions, jar: str, main: str, args: Sequence[str], ttl: int
) -> Invocation:
    """``org.apache.storm.LocalCluster main args`` with ``jar`` as the topology jar.

    The jar goes first on the classpath: Storm takes the multilang ``resources/`` folder from the
    first classpath entry that has one.
    """
    classpath = [jar, *home.jars("lib", "extlib"), str(home.conf_dir)]
    if main == FLUX_MAIN:
        classpath[1:1] = home.jars("lib-flux")
    argv = _java(
        home,
        opts,
        classpath,
        "org.apache.storm.LocalCluster",
        [main, *args],
        daemon_name="local",
        log4j_file="local.xml",
        jvm_opts=[f"-Dstorm.jar={jar}", f"-Dstorm.local.sleeptime={ttl}"],
    )
    # LocalCluster's in-process ZooKeeper listens on the wildcard address too (bind_shim says
    # why): loopback unless the caller chose an address (a test host's)
    address = os.environ.get(ADDRESS_ENV) or HOST
    return Invocation(argv, {**_python_on_path(), **bind_env(home.path, address)})


def _python_on_path() -> dict[str, str]:
    """Put this interpreter's bin/ first on PATH: multilang components are started as a bare
    ``streamparse_run``, found on the PATH of the JVM that runs them."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] == bin_dir:
        return {}
    return {"PATH": bin_dir + os.pathsep + path}


def build_invocation(argv: Sequence[str], home: StormHome | None = None) -> Invocation:
    """Resolve a ``storm`` command line into the program to run."""
    opts, rest = _parse_global(argv)
    if not rest or rest[0] in ("help", "-h", "--help"):
        raise StormRuntimeError(USAGE)
    command, args = rest[0], rest[1:]
    home = home or StormHome.default()
    home.require()

    if command == "version":
        return Invocation(
            _java(home, opts, home.jars("lib"), "org.apache.storm.utils.VersionInfo", [])
        )
    if command in ("jar", "local"):
        if len(args) < 2:
            raise StormRuntimeError(f"storm {command}: usage: storm {command} JAR CLASS [args]")
        jar, main, main_args = _jar_path(args[0]), args[1], args[2:]
        if command == "local":
            main_args, ttl = _split_local_args(main_args)
            return local_invocation(home, opts, jar, main, main_args, ttl)
        classpath = [*home.jars("lib-worker", "extlib"), jar, str(home.conf_dir)]
        if main == FLUX_MAIN:
            _check_flux_file(main_args)
            flux_local = _flux_local_args(main_args)
            if flux_local is not None:
                return local_invocation(home, opts, jar, main, *flux_local)
            classpath[0:0] = home.jars("lib-flux")
        return Invocation(
            _java(home, opts, classpath, main, main_args, jvm_opts=[f"-Dstorm.jar={jar}"]),
            _python_on_path(),
        )
    if command in DAEMON_CLASSES:
        key, default = DAEMON_CHILDOPTS[command]
        jvm_opts = _conf_value(home, key, default).split()
        return Invocation(
            _java(
                home,
                opts,
                home.daemon_classpath(),
                DAEMON_CLASSES[command],
                args,
                daemon_name=command,
                # Daemons never deserialize Java objects; workers and local mode must (spouts
                # and bolts travel as serialized objects), so only daemons turn it off.
                jvm_opts=["-server", "-Djava.deserialization.disabled=true", *jvm_opts],
            ),
            _python_on_path(),
        )
    if command == "ui":
        return Invocation(
            [
                sys.executable,
                "-m",
                "squall.storm.ui",
                "--conf",
                str(home.conf_dir / "storm.yaml"),
                *args,
            ]
        )
    if command in COMMAND_CLASSES:
        return Invocation(
            _java(
                home,
                opts,
                home.client_classpath(),
                COMMAND_CLASSES[command],
                args,
                log4j_file="cli.xml",
                jvm_opts=["-Xmx128m"],
            )
        )
    raise StormRuntimeError(f"storm: unknown command {command!r}\n{USAGE}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``$STORM_HOME/bin/storm``: replaces this process with the command."""
    try:
        invocation = build_invocation(sys.argv[1:] if argv is None else argv)
    except ServiceError as exc:  # a bad command line (StormRuntimeError) or no Java
        print(str(exc), file=sys.stderr)
        return 2
    env = {**os.environ, **invocation.env}
    sys.stdout.flush()
    os.execvpe(invocation.argv[0], invocation.argv, env)
    return 0  # not reached: execvpe replaces the process


if __name__ == "__main__":
    raise SystemExit(main())
