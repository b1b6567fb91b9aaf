"""squall.storm.MsgpackCodec (the JVM side of MessagePack multilang) against the reference
implementation, Python's msgpack (what pystorm uses): every value Python packs, Java reads and
packs again, and Python reads back the same value. Type boundaries included (each integer and
length width). javac only, no Storm: the codec has no dependency."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest

JVM_SOURCES = Path(__file__).parents[2] / "src" / "squall" / "storm" / "jvm"
# Echo: read values from stdin until it ends, write each back (the codec both ways).
ECHO = """
package squall.storm;
import java.io.*;
public final class CodecEcho {
    public static void main(String[] args) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(System.out));
        while (true) {
            Object value;
            try { value = MsgpackCodec.read(in); } catch (EOFException end) { break; }
            MsgpackCodec.write(out, value);
        }
        out.flush();
    }
}
"""

INTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1]
INTS += [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
LENGTHS = [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536]
VALUES: list[Any] = [
    None,
    True,
    False,
    *INTS,
    0.0,
    -2.5,
    1e300,
    "é ✓ 🚑",
    *("x" * n for n in LENGTHS),
    *(bytes(range(256)) * (n // 256) + bytes(n % 256) for n in LENGTHS),
    *([7] * n for n in (0, 15, 16, 65536)),
    *({f"k{i}": i for i in range(n)} for n in (0, 15, 16, 65536)),
    {"id": "-4:7", "comp": "parse", "stream": "default", "task": 3, "tuple": [[1, 2.5], None]},
]


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    if shutil.which("javac") is None:
        pytest.fail("javac (JDK 17) is needed: the machine's Java has no compiler")
    build = tmp_path_factory.mktemp("codec")
    (build / "CodecEcho.java").write_text(ECHO)
    sources = [str(JVM_SOURCES / "MsgpackCodec.java"), str(build / "CodecEcho.java")]
    subprocess.run(["javac", "-nowarn", "-d", str(build), *sources], check=True, timeout=120)
    return ["java", "-cp", str(build), "squall.storm.CodecEcho"]


def _through_java(echo: list[str], payload: bytes) -> bytes:
    done = subprocess.run(echo, input=payload, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


def test_every_value_round_trips_through_the_java_codec(echo: list[str]) -> None:
    packed = b"".join(msgpack.packb(v) for v in VALUES)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=2**30)
    unpacker.feed(_through_java(echo, packed))
    back = list(unpacker)
    assert len(back) == len(VALUES)
    for sent, got in zip(VALUES, back, strict=True):
        assert got == sent and type(got) is type(sent), repr(sent)[:80]


def test_java_writes_each_integer_in_its_smallest_form(echo: list[str]) -> None:
    # msgpack-python packs integers minimally too: the bytes must be the same, not just values
    for value in INTS:
        assert _through_java(echo, msgpack.packb(value)) == msgpack.packb(value), value


def test_a_float32_is_read_and_an_extension_refused(echo: list[str]) -> None:
    single = b"\xca" + struct.pack(">f", 1.5)
    assert msgpack.unpackb(_through_java(echo, single)) == 1.5
    done = subprocess.run(echo, input=b"\xd4\x01\x00", capture_output=True, timeout=120)
    assert done.returncode != 0
    assert b"type byte 0xd4 is an extension" in done.stderr
