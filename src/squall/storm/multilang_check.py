"""Refuse a Flux topology whose two multilang halves would not understand each other.

Storm's ShellBolt / ShellSpout speak the format ``topology.multilang.serializer`` names (JSON
by default); each Python component speaks what its ``streamparse_run -s <name>`` says, which
``sparse`` takes from config.json's ``"serializer"``. When they differ, each side waits for the
other's first message in a format it cannot read, and the topology stalls without an error.
``squall.storm.topology.Topology`` keeps them together; a topology derived from streamparse's
own Topology does not, so ``storm jar ... Flux`` (what ``sparse run`` calls) checks first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from squall.storm.errors import StormRuntimeError

JVM_SERIALIZER_KEY = "topology.multilang.serializer"
# the JVM side that picks each component's format from its shell command: JSON under Flux,
# whose components are Java objects (src/squall/storm/jvm/MultilangSerializer.java)
AUTO_SERIALIZER = "squall.storm.MultilangSerializer"
# Python serializer -> the JVM classes that speak it under Flux (Storm's default speaks JSON)
JVM_SIDE = {
    "json": (None, "org.apache.storm.multilang.JsonSerializer", AUTO_SERIALIZER),
    "msgpack": ("squall.storm.MsgpackSerializer",),
}
_SHELL_CLASSES = ("FluxShellBolt", "FluxShellSpout")


def script_serializer(script: str) -> str | None:
    """The serializer a Python component's ``streamparse_run`` script names (``-s <name>
    module.Class``, as ``sparse`` prefixes it), None when it names none."""
    words = script.split()
    return words[1] if len(words) > 1 and words[0] == "-s" else None


def python_serializers(flux: Mapping[str, Any]) -> dict[str, str]:
    """Component id -> the ``-s`` serializer its ``streamparse_run`` was given (if any)."""
    found: dict[str, str] = {}
    for entry in [*(flux.get("spouts") or []), *(flux.get("bolts") or [])]:
        if not str(entry.get("className", "")).endswith(_SHELL_CLASSES):
            continue
        args = entry.get("constructorArgs") or []
        command = args[0] if args and isinstance(args[0], list) else []
        serializer = script_serializer(str(command[1]) if len(command) > 1 else "")
        if serializer is not None:
            found[str(entry.get("id"))] = serializer
    return found


def check_flux_serializers(flux: Mapping[str, Any], where: str) -> None:
    """StormRuntimeError naming the mismatch if a Python component's serializer is not the
    one the JVM side will speak; ``where``: the Flux file, for the message."""
    jvm = (flux.get("config") or {}).get(JVM_SERIALIZER_KEY)
    for component, serializer in sorted(python_serializers(flux).items()):
        speaks = JVM_SIDE.get(serializer)
        if speaks is None or jvm in speaks:
            continue  # a serializer squall does not know: Storm's and the user's business
        jvm_text = jvm or "Storm's default, JSON"
        raise StormRuntimeError(
            f"{where}: component {component!r} speaks {serializer} (config.json "
            f'"serializer"), but {JVM_SERIALIZER_KEY} is {jvm_text}: the two halves of '
            f"multilang would not understand each other. Derive the topology from "
            f"squall.storm.topology.Topology (`from squall.storm import topology`), which sets "
            f"it from that one setting, or pass -o {JVM_SERIALIZER_KEY}={speaks[0] or 'null'} "
            f'(docs/storm.md, "MessagePack multilang")'
        )


FUSED_BOLT_SCRIPT = "squall.storm.fused_bolt.FusedBolt"


def check_fused_serializer(flux: Mapping[str, Any], where: str) -> None:
    """StormRuntimeError if the Flux topology has fused Python bolts (``squall.storm.fusion``)
    but a JVM serializer that would not give their receivers the members' names back."""
    jvm = (flux.get("config") or {}).get(JVM_SERIALIZER_KEY)
    fused = [
        str(entry.get("id"))
        for entry in flux.get("bolts") or []
        if FUSED_BOLT_SCRIPT in str((entry.get("constructorArgs") or [[]])[0])
    ]
    if fused and jvm not in (AUTO_SERIALIZER, *JVM_SIDE["msgpack"]):
        jvm_text = jvm or "Storm's default, JSON"
        raise StormRuntimeError(
            f"{where}: component(s) {fused} run fused Python bolts, but {JVM_SERIALIZER_KEY} is "
            f"{jvm_text}, which would show their receivers the fused names "
            f"(member~stream): leave {JVM_SERIALIZER_KEY} unset (squall picks its own) or run "
            f'with -o squall.chaining=false (docs/storm.md, "Fused Python bolts")'
        )
