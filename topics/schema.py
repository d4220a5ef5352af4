"""JSON Schema files for integrators (``outcomes schema --out DIR``), from the models.

Generated, never hand-written, so the published contract is what the service enforces. A
schema states structure, types, patterns and enumerations; the rules it cannot state (item
keys and ranges per measure, SNOMED codes, dates against the clock, the NHS-number check)
are described in ``docs/integrating.md`` and reported by the service with stable error codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import TypeAdapter

from topics.events import EVENT_MODELS, Event
from topics.registry import AGGREGATES, ALERTS, DEAD_LETTERS, OUTCOMES, SCORED

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
EVENTS_FILE: Final = "events.schema.json"
"""Any input event: the union discriminated on ``event_type``."""

OUTPUTS: Final[dict[str, TypeAdapter[Any]]] = {
    "scored": SCORED.value,
    "outcome": OUTCOMES.value,
    "aggregate": AGGREGATES.value,
    "alert": ALERTS.value,
    "deadletter": DEAD_LETTERS.value,
}


def event_schema_file(event_type: str) -> str:
    return f"event.{event_type}.schema.json"


def record_schema_file(name: str) -> str:
    return f"record.{name}.schema.json"


SchemaMode = Literal["validation", "serialization"]


def _schema(
    adapter: TypeAdapter[Any], file_name: str, title: str, mode: SchemaMode
) -> dict[str, Any]:
    body = adapter.json_schema(mode=mode)
    return {"$schema": DIALECT, "$id": file_name, **body, "title": title}


def schemas() -> dict[str, dict[str, Any]]:
    """File name → schema: every input event type, their union, and every output record."""
    documents = {
        EVENTS_FILE: _schema(TypeAdapter(Event), EVENTS_FILE, "ROMs input event", "validation")
    }
    for event_type, model in EVENT_MODELS.items():
        name = event_schema_file(event_type)
        documents[name] = _schema(TypeAdapter(model), name, event_type, "validation")
    for record, adapter in OUTPUTS.items():
        name = record_schema_file(record)
        documents[name] = _schema(adapter, name, f"ROMs {record} record", "serialization")
    return documents


def write_schemas(out_dir: Path) -> list[Path]:
    """Write :func:`schemas` into ``out_dir`` (created if needed); return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in schemas().items():
        path = out_dir / name
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
