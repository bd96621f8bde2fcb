"""Helpers for the mapping tests: build one transform, compile a small document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mappings.loader import load_text
from mappings.runtime import CompiledMapping
from mappings.transforms import Context, parse_step

Make = Callable[..., Callable[[Any], Any]]


@pytest.fixture
def make() -> Make:
    """`make("decimal")` or `make({"decimal": {"thousands": "."}})` -> the built function."""

    def build(step: Any, *, tz: str = "UTC", field: str = "f", mapping: str = "m") -> Any:
        parsed, problems = parse_step(step, ("transform",))
        assert not problems, [p.render() for p in problems]
        assert parsed is not None
        return parsed.build(Context(mapping=mapping, field=field, timezone=ZoneInfo(tz)))

    return build


HEAD = """\
version: 1
source: {connector: files, stream: customers}
target: account
key: code
"""


@pytest.fixture
def compile_yaml() -> Callable[[str], CompiledMapping]:
    """Compile a document; a body without `version:` gets the account header above."""

    def build(text: str, name: str = "test/mapping") -> CompiledMapping:
        doc = text if text.lstrip().startswith("version:") else HEAD + text
        return load_text(doc, file="test.yaml", name=name)

    return build
