"""The document model's JSON Schema: committed, current, and true to the compiler."""

from __future__ import annotations

import json

import pytest

from mappings.catalog import builtin_path, list_builtin
from mappings.loader import parse_yaml
from mappings.schema import SCHEMA_PATH, render_schema
from mappings.transforms import REGISTRY

jsonschema = pytest.importorskip("jsonschema")


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "mappings/schema.json is stale: run `.venv/bin/python -m mappings.schema`"
    )


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(render_schema()))


@pytest.mark.parametrize("name", list_builtin())
def test_shipped_mappings_follow_the_schema(name: str) -> None:
    data = parse_yaml(builtin_path(name).read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(render_schema()))


def test_schema_knows_every_transform() -> None:
    schema = json.loads(render_schema())
    choices = schema["$defs"]["Transform"]["anyOf"]
    named = {next(iter(c["properties"])) for c in choices if "properties" in c}
    assert named == set(REGISTRY)
    assert "trim" in choices[0]["enum"]
    assert "truncate" not in choices[0]["enum"]  # it needs a length


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2},
        {
            "version": 1,
            "source": {"connector": "files", "stream": "s"},
            "target": "account",
            "key": "k",
            "fields": {"name": {"from": "a", "transform": "decimel"}},
        },
        {
            "version": 1,
            "source": {"connector": "files", "stream": "s"},
            "target": "account",
            "key": "k",
            "fields": {"name": {"form": "a"}},
        },
    ],
)
def test_schema_rejects_broken_documents(doc: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(render_schema()))
