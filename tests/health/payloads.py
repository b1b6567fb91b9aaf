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
