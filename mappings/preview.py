"""What a sample record becomes: the output of `l2c mapping test SPEC SAMPLE.json` and of
the console's mapping preview.

Values are made JSON-friendly here (Decimal and datetimes as text, references as
`{"ref": {...}}`). Validation against the entity's schema is the caller's business.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DataError
from core.model.mapped import Ref
from mappings.runtime import CompiledMapping


def preview(mapping: CompiledMapping, record: Mapping[str, Any]) -> dict[str, Any]:
    """`{external_id, entity, values, source_ts}` or `{skipped: true, reason}`.

    DataError (the record would be quarantined) and ConfigError propagate.
    """
    mapped = mapping.map(record)
    if mapped is None:
        return {"skipped": True, "reason": f"when: {mapping.when_text}"}
    return {
        "external_id": mapped.external_id,
        "entity": mapping.entity,
        "values": to_json(mapped.values),
        "source_ts": to_json(mapped.source_ts),
    }


def outcome(mapping: CompiledMapping, record: Mapping[str, Any]) -> dict[str, Any]:
    """One record's result as golden files store it: mapped, skipped, or error."""
    try:
        shown = preview(mapping, record)
    except DataError as exc:
        return {"error": {"field": exc.field, "code": exc.code, "message": exc.message}}
    if shown.get("skipped"):
        return {"skipped": True}
    return {k: shown[k] for k in ("external_id", "values", "source_ts")}


def read_sample(path: str | Path) -> list[dict[str, Any]]:
    """Records of a sample file: a JSON object, a JSON list of objects, or JSON Lines."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    records = data if isinstance(data, list) else [data]
    if not all(isinstance(r, dict) for r in records):
        raise ConfigError(f"{path}: a sample is a JSON object or a list of objects")
    return records


def to_json(value: Any) -> Any:
    """Decimal -> '1200000.00', datetime/date -> ISO 8601, Ref -> {'ref': {...}}."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Ref):
        return {"ref": {"object": value.object, "external_id": value.external_id}}
    return value
