"""docs/mappings.md runs: its mapping example, its error example, every transform row."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.errors import DataError
from mappings.errors import MappingSpecError
from mappings.loader import load_text, parse_yaml
from mappings.preview import preview, to_json
from mappings.transforms import REGISTRY, Context, parse_step

DOC = (Path(__file__).parents[2] / "docs" / "mappings.md").read_text(encoding="utf-8")
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks_after(marker: str, count: int) -> list[str]:
    start = DOC.index(marker)
    return [m.group(2) for m in FENCE.finditer(DOC, start)][:count]


def _rows() -> list[tuple[str, str, str]]:
    """(step, input, output) of the transform table; output 'error <code>' for errors."""
    table = DOC[DOC.index("<!-- examples: transforms -->") : DOC.index("<!-- /examples -->")]
    rows = []
    for line in table.splitlines():
        columns = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(columns) != 3 or not columns[0].startswith("`"):
            continue
        step, given, expected = (c.strip("`") for c in columns)
        if expected.startswith("error "):
            expected = "error " + expected.removeprefix("error ").strip("`")
        rows.append((step, given, expected))
    return rows


def test_first_mapping_example_prints_what_the_doc_says() -> None:
    spec, sample, output = _blocks_after("<!-- example: mapping -->", 3)
    mapping = load_text(spec, file="example.yaml")
    assert preview(mapping, json.loads(sample)) == json.loads(output)


def test_error_example_prints_what_the_doc_says() -> None:
    spec, output = _blocks_after("<!-- example: errors -->", 2)
    with pytest.raises(MappingSpecError) as caught:
        load_text(spec, file="broken.yaml")
    assert str(caught.value) == output.rstrip("\n")


def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (sample,) = _blocks_after("<!-- example: mapping -->", 2)[1:]
    (tmp_path / "sample.json").write_text(sample, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = next(m.group(2) for m in FENCE.finditer(DOC) if m.group(1) == "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/mappings.md", "exec"), {})
    assert "'external_id': 'C000123'" in out.getvalue()


ROWS = _rows()


@pytest.mark.parametrize(("step", "given", "expected"), ROWS, ids=[f"{s} {g}" for s, g, _ in ROWS])
def test_transform_example(step: str, given: str, expected: str) -> None:
    parsed, problems = parse_step(parse_yaml(step), ("transform",))
    assert not problems, [p.render() for p in problems]
    assert parsed is not None
    fn = parsed.build(Context(mapping="docs", field="f", timezone=ZoneInfo("UTC")))
    value: Any = json.loads(given)
    if expected.startswith("error "):
        with pytest.raises(DataError) as caught:
            fn(value)
        assert caught.value.code == expected.removeprefix("error ")
    else:
        result = None if value is None and not parsed.transform.accepts_none else fn(value)
        assert to_json(result) == json.loads(expected)


def test_every_transform_has_an_example() -> None:
    shown = {next(iter(parse_yaml(step))) if step.startswith("{") else step for step, _, _ in ROWS}
    assert set(REGISTRY) - shown == set()
