"""Malformed payloads for ParseBolt, shared by the harness and the multilang tests."""

import json

TS = 1_700_000_123_456

COURSE_OK = '[12, {"idade": 30, "altura": 170, "peso": 82}]'
SELF_OK = json.dumps({"id": 5, "age": 22, "height_cm": 150, "weight_kg": 90.5, "ts": TS})


def course(idade: object = 30, altura: object = 170, peso: object = 80) -> str:
    return json.dumps([1, {"idade": idade, "altura": altura, "peso": peso}])


def self_form(**changes: object) -> str:
    doc = {"id": 1, "age": 30, "height_cm": 170, "weight_kg": 80, "ts": TS, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...})


MALFORMED: dict[str, object] = {
    "not JSON": "id=1 weight=80",
    "truncated course form": COURSE_OK[:-5],
    "truncated self form": SELF_OK[:20],
    "trailing garbage": COURSE_OK + " x",
    "wrong nesting: object wraps array": json.dumps(
        {"reading": [1, {"idade": 30, "altura": 170, "peso": 80}]}
    ),
    "wrong nesting: array in array": json.dumps([[1, {"idade": 30, "altura": 170, "peso": 80}]]),
    "wrong order": json.dumps([{"idade": 30, "altura": 170, "peso": 80}, 1]),
    "three elements": json.dumps([1, {"idade": 30, "altura": 170, "peso": 80}, 2]),
    "empty array": "[]",
    "string for a number (course)": course(peso="80"),
    "string for a number (self)": self_form(age="30"),
    "string id": json.dumps(["1", {"idade": 30, "altura": 170, "peso": 80}]),
    "boolean for a number": self_form(weight_kg=True),
    "null for a number": course(altura=None),
    "NaN": course(idade=float("nan")),  # json.dumps writes the bare NaN token
    "Infinity": self_form(weight_kg=float("inf")),
    "-Infinity": course(peso=float("-inf")),
    "number overflowing to infinity": course().replace("170", "1e999"),
    "zero height": course(altura=0),
    "negative height": self_form(height_cm=-170),
    "height in metres": self_form(height_cm=1.7),
    "absurd weight": course(peso=5000),
    "absurd age": self_form(age=400),
    "negative id": json.dumps([-1, {"idade": 30, "altura": 170, "peso": 80}]),
    "fractional id": self_form(id=1.5),
    "id with 5000 digits": "[" + "9" * 5000 + ', {"idade": 30, "altura": 170, "peso": 80}]',
    "age with 400 digits": '[1, {"idade": ' + "1" * 400 + ', "altura": 170, "peso": 80}]',
    "id with 400 digits": "[" + "7" * 400 + ', {"idade": 30, "altura": 170, "peso": 80}]',
    "ts in epoch seconds": self_form(ts=1_700_000_000),
    "missing field (course)": json.dumps([1, {"idade": 30, "altura": 170}]),
    "missing field (self)": self_form(ts=...),
    "extra field (course)": json.dumps([1, {"idade": 30, "altura": 170, "peso": 80, "sexo": "F"}]),
    "extra field (self)": self_form(bmi=27.7),
    "duplicate key": '{"id": 1, "id": 2, "age": 30, "height_cm": 170, "weight_kg": 80, "ts": '
    + str(TS)
    + "}",
    "JSON null": "null",
    "JSON number": "42",
    "JSON string": '"hello"',
    "empty string": "",
    "empty bytes": b"",
    "whitespace only": " \n\t ",
    "non-UTF-8 bytes": b'[1, {"idade": 30, "altura": \xff\xfe170, "peso": 80}]',
    "UTF-16 bytes": COURSE_OK.encode("utf-16"),
    "10 MB payload": b'[1, {"idade": 30, "altura": 170, "peso": 80, "pad": "'
    + b"x" * 10_000_000
    + b'"}]',
    "deep nesting": "[" * 50_000 + "]" * 50_000,
    "not a string at all": None,
    "a dict instead of a payload": {"id": 1},
}


# What the reason of each malformed case must say: the bad value or what is wrong with the
# payload, where, and what is valid. Written from the input forms' rules (docs/health.md),
# not copied from the parser's output.
REASONS: dict[str, str] = {
    "not JSON": "not valid JSON: Expecting value at line 1 column 1",
    "truncated course form": "not valid JSON",
    "truncated self form": "not valid JSON",
    "trailing garbage": "not valid JSON: Extra data",
    "wrong nesting: object wraps array": "unexpected reading",
    "wrong nesting: array in array": "(2 elements); got 1 elements",
    "wrong order": "element 2 must be an object {idade, altura, peso}; got int",
    "three elements": "(2 elements); got 3 elements",
    "empty array": "(2 elements); got 0 elements",
    "string for a number (course)": "peso (weight) must be a number of kg in [1, 700]; got str '80'",
    "string for a number (self)": "age must be a number of years in [0, 130]; got str '30'",
    "string id": "id (element 1) must be an integer id in [0, 9007199254740992]; got str '1'",
    "boolean for a number": "weight_kg must be a number of kg in [1, 700]; got bool True",
    "null for a number": "altura (height) must be a number of cm in [30, 280]; got NoneType None",
    "NaN": "NaN is not valid JSON",
    "Infinity": "Infinity is not valid JSON",
    "-Infinity": "-Infinity is not valid JSON",
    "number overflowing to infinity": "altura (height) must be a finite number of cm; got inf",
    "zero height": "altura (height) must be in [30, 280] cm; got 0",
    "negative height": "height_cm must be in [30, 280] cm; got -170",
    "height in metres": "height_cm must be in [30, 280] cm; got 1.7",
    "absurd weight": "peso (weight) must be in [1, 700] kg; got 5000",
    "absurd age": "age must be in [0, 130] years; got 400",
    "negative id": "id (element 1) must be an integer id in [0, 9007199254740992]; got -1",
    "fractional id": "id must be an integer id in [0, 9007199254740992]; got float 1.5",
    "id with 5000 digits": "a number in the payload has more than 4300 digits",
    "age with 400 digits": "idade (age) must be in [0, 130] years; got an integer of 400 digits",
    "id with 400 digits": "id (element 1) must be an integer id in [0, 9007199254740992]; "
    "got an integer of 400 digits",
    "ts in epoch seconds": "ts must be an integer of epoch milliseconds in "
    "[946684800000, 4102444800000]; got 1700000000",
    "missing field (course)": "course form object has missing peso",
    "missing field (self)": "reading object has missing ts",
    "extra field (course)": "course form object has unexpected sexo",
    "extra field (self)": "reading object has unexpected bmi",
    "duplicate key": "duplicate key 'id'",
    "JSON null": "expected a JSON array [id, {idade, altura, peso}] or an object",
    "JSON number": "got int 42",
    "JSON string": "got str 'hello'",
    "empty string": "payload is empty",
    "empty bytes": "payload is empty",
    "whitespace only": "payload is empty",
    "non-UTF-8 bytes": "payload is not UTF-8: byte 0xff at offset 28",
    "UTF-16 bytes": "payload is not UTF-8: byte 0xff at offset 0",
    "10 MB payload": "payload is 10000056 bytes; the limit is 65536 bytes",
    "deep nesting": "payload is 100000 characters (at least as many bytes); the limit is 65536",
    "not a string at all": "payload must be str or bytes (a JSON document); got NoneType",
    "a dict instead of a payload": "payload must be str or bytes (a JSON document); got dict",
}
