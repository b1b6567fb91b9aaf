"""Which reading an invalid record was about, without showing its payload.

The live view (``squall run --ui``) lists invalid inputs by id and reason; the raw payload is
health data and stays hidden unless asked for. An invalid payload is by definition not a
well-formed reading, so the id is found on a best-effort basis, in the shapes the feeds send:
the course form ``[id, {...}]``, the self-describing ``{"id": ...}``, and text that still
starts like one of those (a truncated payload, ``id=7 weight=80``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# "[123," (a course-form start) or id=123 / "id": 123 / "id": "abc" anywhere
_ID_TEXT = re.compile(r'^\s*\[\s*"?([\w-]+)"?\s*,|\bid"?\s*[:=]\s*"?([\w-]+)')


def reading_id_of(record: Mapping[str, Any]) -> str | None:
    """The reading id in an invalid record's ``raw`` payload, or None when it has none."""
    raw = record.get("raw")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    found = _id_in(doc)
    if found is not None:
        return found
    match = _ID_TEXT.search(raw)
    return None if match is None else match.group(1) or match.group(2)


def _id_in(doc: Any) -> str | None:
    if isinstance(doc, list) and doc and isinstance(doc[0], (int, str)):
        return str(doc[0])
    if isinstance(doc, dict):
        if isinstance(doc.get("id"), (int, str)):
            return str(doc["id"])
        for value in doc.values():  # one level of wrong nesting: {"reading": [id, ...]}
            if isinstance(value, list) and value and isinstance(value[0], (int, str)):
                return str(value[0])
    return None
