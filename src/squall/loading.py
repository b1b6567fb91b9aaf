"""Find the Topology class a user names (a file path ``topologies/x.py`` or ``module:Class``)
and read the options a run is given (config.json's environment, ``-o key=value``)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from streamparse import Topology

from squall.errors import ConfigError, TopologyError
from squall.settings import check_overrides


def _topologies_in(module: Any) -> list[type[Topology]]:
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, Topology)
        and v is not Topology
        and v.__module__ == module.__name__
    ]


def load_topology(target: str) -> type[Topology]:
    """Import the topology named by ``target``.

    A file is loaded the way ``sparse`` loads it: its project's ``src/`` folder (the sibling of
    ``topologies/``) must be importable, because topology files import their components from it.
    That folder is added to ``sys.path`` — the streamparse project convention, not a workaround.
    """
    if ":" in target and not target.endswith(".py"):
        module_name, _, class_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise TopologyError(f"cannot import topology module {module_name!r}: {exc}") from exc
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Topology)):
            raise TopologyError(
                f"{target!r}: {class_name!r} is not a Topology class in {module_name}"
            )
        return cls
    path = Path(target)
    if not path.is_file():
        raise TopologyError(f"topology file {target!r} not found (give a .py file or module:Class)")
    src = path.resolve().parent.parent / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    module_name = f"squall_topology_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TopologyError(f"cannot load {target!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    found = _topologies_in(module)
    if len(found) != 1:
        names = [c.__name__ for c in found]
        raise TopologyError(
            f"{target!r} defines {len(found)} Topology classes {names}; expected exactly one"
        )
    return found[0]


def config_file_options(path: Path, environment: str | None) -> dict[str, Any]:
    """The ``options`` of one environment of a streamparse ``config.json`` (the lowest precedence)."""
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise TopologyError(f"{path}: not valid JSON ({exc})") from exc
    envs = config.get("envs") or {}
    if environment is None:
        if not envs:
            return {}
        environment = next(iter(envs))
    if environment not in envs:
        raise TopologyError(f"{path}: no environment {environment!r}; environments: {sorted(envs)}")
    options = envs[environment].get("options") or {}
    if not isinstance(options, dict):
        raise TopologyError(
            f"{path}: envs.{environment}.options must be an object, got {options!r}"
        )
    return dict(options)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML value, as ``sparse -o`` parses it (``true`` -> True, ``5`` -> 5)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(
            f"option {text!r}: expected key=value, e.g. topology.max.spout.pending=100"
        )
    return key, yaml.safe_load(raw)


def run_conf(
    topology: type[Topology],
    options: Mapping[str, Any],
    config: Path = Path("config.json"),
    environment: str | None = None,
) -> dict[str, Any]:
    """A run's options, lowest precedence first: ``config``'s environment, the topology's own
    config, then ``options`` (the command line's ``-o``) — sparse's order. An option that
    would change a setting the topology's shape was built from is refused
    (:func:`squall.settings.check_overrides`)."""
    check_overrides(options, topology.config or {})
    conf = config_file_options(config, environment)
    conf.update(topology.config or {})
    conf.update(options)
    return conf


def topology_name(target: str) -> str | None:
    """The name a run gives its topology: a file's stem (as sparse names it), else the class's."""
    return Path(target).stem if target.endswith(".py") else None
