"""``Topology``: streamparse's Topology, plus the JVM half of the multilang serializer.

streamparse reads ``"serializer"`` from config.json and starts every Python component with
``streamparse_run -s <serializer>`` (the Python half), but Storm's ShellBolt and ShellSpout
speak what ``topology.multilang.serializer`` names, JSON unless told otherwise: with
``"serializer": "msgpack"`` alone, each side waits for the other's first message in a format
it cannot read. A topology written against this class gets both halves from that one setting,
through the JVM classes project.clj compiles into the topology jar (src/squall/storm/jvm):

* ``sparse run`` gives the components ``-s msgpack`` before it reads the config, which then
  names ``squall.storm.MsgpackSerializer`` (``-s json``: Storm's default is kept);
* ``sparse submit`` reads the config first: it names ``squall.storm.MultilangSerializer``,
  which picks each component's format on the worker from its command in the submitted
  topology (``-s msgpack``: MessagePack, else JSON).

An explicit ``topology.multilang.serializer`` (the topology's own config, ``-o``) is kept.

Import the module, not the class: ``from squall.storm import topology`` and
``class HealthTopology(topology.Topology)``. ``sparse`` takes the first Topology class it finds
in a topology module other than streamparse's own, and this base, imported by name, would be
it; that case is a clear error (``config`` below) instead of Storm's "does not have any spout".
"""

from __future__ import annotations

from typing import Any

from streamparse import Topology as StreamparseTopology
from streamparse.dsl.topology import TopologyType

from squall.storm.fused_bolt import CHAINING_KEY
from squall.storm.fusion import (
    fused_flux_dict,
    fused_thrift_topology,
    fusion_mode,
    fusion_plan,
)
from squall.storm.multilang_check import (
    AUTO_SERIALIZER,
    JVM_SERIALIZER_KEY,
    JVM_SIDE,
    script_serializer,
)

MSGPACK_JVM_SERIALIZER = JVM_SIDE["msgpack"][0]


def python_serializer(topology: Any) -> str | None:
    """The serializer streamparse gave the topology's Python components (``"json"``,
    ``"msgpack"``), None if it gave none yet. streamparse gives every component the same one
    (``set_topology_serializer``), so the first found is the topology's."""
    components = [b.bolt_object for b in topology.thrift_bolts.values()]
    components += [s.spout_object for s in topology.thrift_spouts.values()]
    for component in components:
        if component.shell is not None:
            serializer = script_serializer(component.shell.script)
            if serializer is not None:
                return serializer
    return None


class _SerializerAwareType(TopologyType):
    """streamparse's metaclass; ``config`` also names the JVM side of the Python serializer."""

    @property
    def config(cls) -> dict[str, Any]:
        if cls.__module__ == __name__:  # the base itself: what sparse picks if imported by name
            raise TypeError(
                "sparse took squall.storm.topology.Topology for the topology: import the "
                "module in the topology file, `from squall.storm import topology`, and derive "
                "from `topology.Topology` (sparse picks the first Topology class it sees)"
            )
        own = _own_config(cls)
        if JVM_SERIALIZER_KEY in own:
            return own
        python_side = python_serializer(cls)
        if python_side == "msgpack":
            return {**own, JVM_SERIALIZER_KEY: MSGPACK_JVM_SERIALIZER}
        if python_side is None or _fuses(cls, own):
            # JSON with fused bolts: MultilangSerializer gives their receivers the members'
            # own names back (FusedJsonSerializer); everything else keeps Storm's JsonSerializer.
            # Not given yet: `sparse submit` reads the config before it gives the components
            # their `-s`, so the worker decides from each component's command (JSON without
            # one). The embedded runner ignores the key.
            return {**own, JVM_SERIALIZER_KEY: AUTO_SERIALIZER}
        return own

    @property
    def thrift_topology(cls) -> Any:
        """What ``sparse submit`` sends: streamparse's, with consecutive Python bolts fused
        (``squall.storm.fusion``) unless the topology's config says ``squall.chaining: false``."""
        unfused = cls.__dict__["thrift_topology"]
        if cls.__module__ == __name__ or not _fuses(cls, _own_config(cls)):
            return unfused
        return fused_thrift_topology(cls.specs, unfused, _mode(cls))


def _own_config(cls: Any) -> dict[str, Any]:
    return next(k.__dict__["config"] for k in cls.__mro__ if "config" in k.__dict__)


def _fuses(cls: Any, own: dict[str, Any]) -> bool:
    """Whether Storm gets ``cls`` with fused bolts (its own config's ``squall.chaining``)."""
    if own.get(CHAINING_KEY, True) in (False, "false"):
        return False
    return bool(fusion_plan(cls.specs, _mode(cls)).groups)


def _mode(cls: Any) -> str:
    return fusion_mode(_own_config(cls), f"topology {cls.__name__}")


class Topology(StreamparseTopology, metaclass=_SerializerAwareType):
    """A streamparse Topology whose ``config`` wires the JVM side of MessagePack multilang, and
    whose Storm forms (Flux, thrift) fuse consecutive Python bolts (``squall.storm.fusion``)."""

    @classmethod
    def to_flux_dict(cls, name: str) -> dict[str, Any]:
        """What ``sparse run`` gives Flux: streamparse's, fused where the topology allows (the
        launcher picks the unfused form if the run's config says ``squall.chaining: false``)."""
        flux: dict[str, Any] = super().to_flux_dict(name)
        if not _fuses(cls, _own_config(cls)):
            return flux
        return fused_flux_dict(cls.specs, flux, cls._spec_to_flux_dict, _mode(cls))
