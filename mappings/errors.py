"""Errors of mapping documents.

A mapping document is configuration: everything wrong with it is a `ConfigError` that the
user fixes in the YAML. Compilation collects every problem of a document before raising,
so one run of `l2c mapping test` shows them all, each with file, line, column and the
field path (`fields.credit_limit.transform[0]`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.errors import ConfigError

PathItem = str | int
Path = tuple[PathItem, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a mapping document, located by its path in the document.

    `on_key` points the location at the mapping key rather than its value (an unknown
    field name is wrong as a name); `offset` is a character offset inside a scalar (where
    a JMESPath expression stops parsing).
    """

    path: Path
    message: str
    hint: str | None = None
    on_key: bool = False
    offset: int | None = None
    line: int | None = None
    column: int | None = None
    file: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.file and self.line else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{format_path(self.path)}: {self.message}{hint}"


class MappingSpecError(ConfigError):
    """A mapping document that cannot be compiled; `problems` lists every reason."""

    def __init__(self, problems: Sequence[Problem], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        lines = [p.render() for p in self.problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            head = f"{source}: {len(lines)} problems" if source else f"{len(lines)} problems"
            message = "\n  ".join([head, *lines])
        super().__init__(message, problems=[p.render() for p in self.problems])


def format_path(path: Path) -> str:
    """A path as people read it: ('fields', 'qty', 'transform', 0) -> fields.qty.transform[0]."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else item
    return out or "(document)"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest valid choice, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def problems_from_validation(
    exc: ValidationError,
    base: Path = (),
    *,
    known: Iterable[str] = (),
    skip: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Turn pydantic errors into located problems with plain-language messages.

    `skip` lists loc items that are not document keys (tags of discriminated unions);
    `known` feeds the 'did you mean' of unknown keys.
    """
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        loc: Path = tuple(item for item in error["loc"] if item not in skip)
        path = (*base, *loc)
        kind = error["type"]
        if kind == "extra_forbidden" and loc:
            key = str(loc[-1])
            problems.append(Problem(path, f"unknown key {key!r}", did_you_mean(key, known), True))
        elif kind == "missing" and loc:
            problems.append(Problem(path[:-1], f"missing required key {loc[-1]!r}"))
        elif loc and loc[-1] == "[key]":
            problems.append(
                Problem(path[:-1], f"keys must be text, got {error['input']!r}", None, True)
            )
        elif kind in ("value_error", "assertion_error"):
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
            problems.append(Problem(path, message))
        elif kind.startswith(("union_tag", "literal")) or kind.endswith("_type"):
            problems.append(Problem(path, f"{_lower(error['msg'])}, got {_short(error['input'])}"))
        else:
            problems.append(Problem(path, _lower(error["msg"]), _unknown_key_hint(error, known)))
    return problems


def _unknown_key_hint(error: Any, known: Iterable[str]) -> str | None:
    """For a mapping of no known form ({form: city}), point at a misspelt key."""
    given = error.get("input")
    if not isinstance(given, dict):
        return None
    choices = list(known)
    return next((h for k in given if (h := did_you_mean(str(k), choices))), None)


def _lower(message: str) -> str:
    message = re.sub(r" or instance of \w+", "", message)  # pydantic's wording for models
    return message[:1].lower() + message[1:]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
