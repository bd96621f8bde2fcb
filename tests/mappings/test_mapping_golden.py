"""Golden tests: every mapping shipped under mappings/ against recorded inputs and outcomes.

Each built-in mapping `<connector>/<name>` needs tests/mappings/golden/<connector>/<name>/
with `input.json` (a list of source records) and `expected.json` (one outcome per input:
`{external_id, values, source_ts}` in preview form, `{skipped: true}`, or
`{error: {field, code, message}}`).

To record new expectations after an intended change, run

    L2C_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/mappings/test_mapping_golden.py

which rewrites expected.json from the current behaviour; review the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from core.errors import DataError
from core.model.entities import ENTITIES
from core.model.mapped import Ref
from mappings.catalog import BUILTIN_DIR, list_builtin, load_mapping
from mappings.outbound import list_outbound, load_outbound
from mappings.preview import outcome

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("L2C_UPDATE_GOLDEN") == "1"

ROOT = Path(__file__).resolve().parents[2]
OTHER_MAPPINGS = {
    "bench/sap_bp_account": ROOT / "bench" / "mappings" / "sap_bp_account.yaml",
    "fixtures/crash_accounts": ROOT / "tests" / "fixtures" / "mappings" / "crash_accounts.yaml",
}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list_builtin())
def test_shipped_mapping_gives_its_golden_outcomes(name: str) -> None:
    folder = GOLDEN / name
    inputs = folder / "input.json"
    assert inputs.is_file(), f"{name} has no golden test: create {inputs} (a list of records)"
    records = _read(inputs)
    mapping = load_mapping(name)
    got = [outcome(mapping, record) for record in records]
    expected_file = folder / "expected.json"
    if UPDATE:
        text = json.dumps(got, ensure_ascii=False, indent=2) + "\n"
        expected_file.write_text(text, encoding="utf-8")
    assert expected_file.is_file(), f"no {expected_file}: run with L2C_UPDATE_GOLDEN=1 and review"
    expected = _read(expected_file)
    assert len(expected) == len(records), "expected.json needs one outcome per input record"
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"{name} record {i}"


@pytest.mark.parametrize("name", list_outbound())
def test_shipped_outbound_mapping_gives_its_golden_payloads(name: str) -> None:
    """Outbound goldens: input.json is a list of {record, xrefs} where `record` is a
    canonical record as the store reads it (lines included) and `xrefs` maps
    "<entity>:<id>" to the external id the target connection holds; expected.json has
    one {payload} (or {skipped: true}, or {error: {field, code, message}}) per input."""
    folder = GOLDEN / name
    cases = _read(folder / "input.json")
    mapping = load_outbound(name)
    got: list[dict[str, Any]] = []
    for case in cases:
        xrefs = case.get("xrefs") or {}
        record = case["record"]
        if not mapping.wants(record):
            got.append({"skipped": True})
            continue
        try:
            payload = mapping.payload(record, lambda e, i, x=xrefs: x.get(f"{e}:{i}"))
        except DataError as error:
            got.append(
                {"error": {"field": error.field, "code": error.code, "message": error.message}}
            )
        else:
            got.append({"payload": payload})
    expected_file = folder / "expected.json"
    if UPDATE:
        text = json.dumps(got, ensure_ascii=False, indent=2) + "\n"
        expected_file.write_text(text, encoding="utf-8")
    expected = _read(expected_file)
    assert len(expected) == len(cases), "expected.json needs one outcome per input"
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"{name} case {i}"
    assert any("error" in o for o in expected) and any("payload" in o for o in expected)


def test_every_yaml_under_mappings_is_a_builtin_with_a_golden_test() -> None:
    shipped = {
        path.relative_to(BUILTIN_DIR).with_suffix("").as_posix()
        for path in BUILTIN_DIR.rglob("*.y*ml")
    }
    outbound = set(list_outbound())
    assert shipped - outbound == set(list_builtin()), (
        "built-in mappings live in mappings/<dir>/*.yaml, outbound ones in "
        "mappings/<dir>/outbound/*.yaml"
    )
    assert all((GOLDEN / name / "input.json").is_file() for name in shipped)


def test_every_golden_folder_belongs_to_a_shipped_mapping() -> None:
    folders = {f"{p.parent.name}/{p.name}" for p in GOLDEN.glob("*/*") if p.is_dir()}
    folders |= {
        f"{p.parent.parent.name}/outbound/{p.name}"
        for p in GOLDEN.glob("*/outbound/*")
        if p.is_dir()
    }
    folders.discard("sap/outbound")
    assert folders - set(list_builtin()) - set(list_outbound()) - set(OTHER_MAPPINGS) == set()


def test_golden_inputs_exercise_errors_and_successes() -> None:
    for name in list_builtin():
        expected = _read(GOLDEN / name / "expected.json")
        assert any("error" in o for o in expected), f"{name}: add a record that must fail"
        assert any("values" in o for o in expected), f"{name}: add a record that maps"


def test_shipped_refs_point_at_shipped_objects_of_the_right_entity() -> None:
    mappings = [load_mapping(name) for name in list_builtin()]
    produced = {(m.spec.source.connector, m.object): m.entity for m in mappings}

    def refs(fields: dict[str, Any], entity: str) -> list[tuple[str, str, str]]:
        spec = ENTITIES[entity]
        found: list[tuple[str, str, str]] = []
        for field, fspec in fields.items():
            if hasattr(fspec, "ref"):
                found.append((field, fspec.ref.object, spec.references[field]))
            if hasattr(fspec, "each"):
                child = spec.children[field]
                for sub, sub_spec in fspec.fields.items():
                    if hasattr(sub_spec, "ref"):
                        found.append((sub, sub_spec.ref.object, child.references[sub]))
        return found

    for m in mappings:
        for field, obj, target in refs(m.spec.fields, m.entity):
            key = (m.spec.source.connector, obj)
            assert key in produced, f"{m.name}: {field} refers to {obj}, which no mapping produces"
            assert produced[key] == target, (
                f"{m.name}: {field} needs a {target}, {obj} gives {produced[key]}"
            )


def _without_refs(values: dict[str, Any]) -> dict[str, Any]:
    """References resolve to UUIDs in the sync engine; here they are left out."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Ref):
            continue
        if isinstance(value, list):
            out[key] = [_without_refs(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("name", list_builtin())
def test_shipped_mapping_output_validates_against_the_entity(name: str) -> None:
    mapping = load_mapping(name)
    spec = ENTITIES[mapping.entity]
    records = _read(GOLDEN / name / "input.json")
    for i, record in enumerate(records):
        try:
            result = mapping.map(record)
        except DataError:
            continue
        if result is None:
            continue
        values = _without_refs(result.values)
        missing = spec.required - {k for k, v in values.items() if v is not None}
        assert not missing, f"{name} record {i}: required fields missing: {sorted(missing)}"
        spec.batch_adapter.validate_python([values])


def test_every_other_mapping_in_the_repo_is_listed_here() -> None:
    found = {
        path
        for folder in (ROOT / "bench", ROOT / "tests" / "fixtures", ROOT / "docs")
        for path in folder.rglob("*.y*ml")
    }
    assert found == set(OTHER_MAPPINGS.values())


@pytest.mark.parametrize("name", sorted(OTHER_MAPPINGS))
def test_other_mapping_gives_its_golden_outcomes(name: str) -> None:
    folder = GOLDEN / name
    records = _read(folder / "input.json")
    mapping = load_mapping(str(OTHER_MAPPINGS[name]))
    got = [outcome(mapping, record) for record in records]
    if UPDATE:
        text = json.dumps(got, ensure_ascii=False, indent=2) + "\n"
        (folder / "expected.json").write_text(text, encoding="utf-8")
    assert got == _read(folder / "expected.json")
