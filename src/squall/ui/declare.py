"""What a topology asks the live view to show besides its graph and counters.

A topology declares its panels in a class attribute, next to its wiring::

    class HealthTopology(Topology):
        ...
        ui_panels = (
            Chart(trend, x="window_end_ms", y="count", series="rule", title="alerts per rule"),
            Feed((parse["invalid"], bmi["invalid"]), fields=("reason",), private=("raw",)),
        )

A source is a component spec (its ``default`` stream), ``spec["stream"]``, or the text
``"component"`` / ``"component:stream"``. ``squall run --ui`` taps exactly those streams (the
last ``keep`` records each, per progress tick); nothing else is observed. Declaring panels
costs nothing under Storm or a run without ``--ui``: they are plain data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from squall.engine.model import TopologyModel
from squall.errors import TopologyError

PANELS_ATTRIBUTE = "ui_panels"


@dataclass(frozen=True)
class Chart:
    """Records of ``source`` as points over time: ``y`` against ``x``, a line per ``series``.

    E.g. the trend windows: ``count`` against ``window_end_ms`` (epoch ms), a line per ``rule``.
    """

    source: Any
    x: str
    y: str
    series: str | None = None
    title: str = ""
    keep: int = 120  # points kept per line


@dataclass(frozen=True)
class Feed:
    """The latest records of ``sources``: ``fields`` shown, ``private`` fields (raw payloads)
    only with ``--ui-show-payloads``. ``id_of`` names the record's subject (a reading id) from
    its fields, private ones included, without showing them."""

    sources: Any  # one source or a tuple of them
    fields: tuple[str, ...]
    private: tuple[str, ...] = ()
    title: str = ""
    keep: int = 20
    id_of: Callable[[dict[str, Any]], str | None] | None = None


@dataclass(frozen=True)
class Tap:
    """One stream the live view observes: ``fields`` are its declared fields, in order."""

    component: str
    stream: str
    fields: tuple[str, ...]
    keep: int


@dataclass(frozen=True)
class Panel:
    """A declared panel, its sources resolved against the topology's model."""

    kind: str  # "chart" or "feed"
    title: str
    taps: tuple[Tap, ...]
    spec: Chart | Feed


def _source(source: Any, where: str) -> tuple[str, str]:
    """(component, stream) of one declared source."""
    if isinstance(source, str):
        component, _, stream = source.partition(":")
        return component, stream or "default"
    if hasattr(source, "componentId") and hasattr(source, "streamId"):  # spec["stream"]
        cid = source.componentId
        return str(getattr(cid, "name", cid)), str(source.streamId)
    name = getattr(source, "name", None)
    if isinstance(name, str):  # a component spec
        return name, "default"
    raise TopologyError(
        f"{where}: source {source!r} is not a stream; use a component spec, spec['stream'], "
        "'component' or 'component:stream'"
    )


def _tap(model: TopologyModel, source: Any, needs: Sequence[str], keep: int, where: str) -> Tap:
    component, stream = _source(source, where)
    comp = model.components.get(component)
    if comp is None:
        raise TopologyError(
            f"{where}: unknown component {component!r}; components: {sorted(model.components)}"
        )
    sdef = comp.streams.get(stream)
    if sdef is None:
        raise TopologyError(
            f"{where}: component {component!r} has no stream {stream!r}; "
            f"declared: {sorted(comp.streams)}"
        )
    missing = [f for f in needs if f not in sdef.fields]
    if missing:
        raise TopologyError(
            f"{where}: stream {component}:{stream} has no field(s) {missing}; "
            f"its fields: {list(sdef.fields)}"
        )
    if keep < 1:
        raise TopologyError(f"{where}: keep={keep}; it must be at least 1")
    return Tap(component, stream, sdef.fields, keep)


def resolve_panels(topology: type, model: TopologyModel) -> list[Panel]:
    """The topology's ``ui_panels``, checked against its streams; [] when it declares none."""
    declared = getattr(topology, PANELS_ATTRIBUTE, ())
    if isinstance(declared, (Chart, Feed)):
        declared = (declared,)
    panels: list[Panel] = []
    for i, spec in enumerate(declared):
        where = f"{topology.__name__}.{PANELS_ATTRIBUTE}[{i}]"
        if isinstance(spec, Chart):
            needs = [spec.x, spec.y] + ([spec.series] if spec.series else [])
            taps: tuple[Tap, ...] = (_tap(model, spec.source, needs, spec.keep, where),)
            panels.append(Panel("chart", spec.title or f"{taps[0].component}", taps, spec))
        elif isinstance(spec, Feed):
            sources = spec.sources if isinstance(spec.sources, (tuple, list)) else (spec.sources,)
            if not sources:
                raise TopologyError(f"{where}: a Feed needs at least one source")
            needs = list(spec.fields) + list(spec.private)
            taps = tuple(_tap(model, s, needs, spec.keep, where) for s in sources)
            title = spec.title or ", ".join(f"{t.component}:{t.stream}" for t in taps)
            panels.append(Panel("feed", title, taps, spec))
        else:
            raise TopologyError(
                f"{where} is a {type(spec).__name__}; a panel is a squall.ui.Chart or Feed"
            )
    return panels


def taps_of(panels: Sequence[Panel]) -> list[Tap]:
    """Each observed stream once, keeping the most records any panel wants of it."""
    keep: dict[tuple[str, str], Tap] = {}
    for panel in panels:
        for tap in panel.taps:
            key = (tap.component, tap.stream)
            if key not in keep or keep[key].keep < tap.keep:
                keep[key] = tap
    return list(keep.values())
