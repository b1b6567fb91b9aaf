"""Bench-only subclasses swapped into a project topology's own wiring: src/ is not touched."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from streamparse import Topology


def with_components(path: Path, swap: dict[str, type], name: str) -> type[Topology]:
    """The topology in ``path`` (its config and wiring) with ``swap``'s classes for those
    component ids: each spec is copied, so the loaded topology itself is unchanged."""
    from squall.loading import load_topology

    topology = load_topology(str(path))
    attrs: dict[str, Any] = {"config": dict(topology.config)}
    for spec in topology.specs:
        if spec.name in swap:
            spec = copy.copy(spec)
            spec.component_cls = swap[spec.name]
        attrs[spec.name] = spec
    return type(name, (Topology,), attrs)
