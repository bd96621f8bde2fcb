"""The JSON Schema of mapping documents, for editors (YAML language servers) and the API.

Generated from the pydantic model in mappings/spec.py plus the transform registry, and
committed as mappings/schema.json (a test checks it is current). Regenerate with

    .venv/bin/python -m mappings.schema
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mappings.spec import STEP_MARKER, MappingSpec
from mappings.transforms import REGISTRY

SCHEMA_PATH = Path(__file__).with_name("schema.json")


def transform_schema() -> dict[str, Any]:
    """JSON Schema of one pipeline step, built from the transform registry."""
    bare = sorted(name for name, t in REGISTRY.items() if not t.needs_args)
    choices: list[dict[str, Any]] = [{"enum": bare}]
    for name, spec in sorted(REGISTRY.items()):
        if spec.args is None:
            arguments: dict[str, Any] = {"type": "null"}
        else:
            arguments = spec.args.model_json_schema()
            arguments.pop("title", None)
            if spec.primary is not None:
                arguments = {"anyOf": [arguments, arguments["properties"][spec.primary]]}
        choices.append(
            {
                "type": "object",
                "description": spec.summary,
                "properties": {name: arguments},
                "required": [name],
                "additionalProperties": False,
            }
        )
    return {"description": "A transform: a name or {name: arguments}", "anyOf": choices}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping document (what `mappings/schema.json` holds)."""
    schema = _swap_markers(MappingSpec.model_json_schema(by_alias=True))
    schema["$defs"]["Transform"] = transform_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:l2c-hub:schema:mapping:1",
        **schema,
    }


def _swap_markers(node: Any) -> Any:
    if node == STEP_MARKER:
        return {"$ref": "#/$defs/Transform"}
    if isinstance(node, dict):
        return {key: _swap_markers(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_swap_markers(value) for value in node]
    return node


def render_schema() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(f"writing {SCHEMA_PATH}\n")
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
