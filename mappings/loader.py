"""Read a mapping document from YAML, validate and compile it, and say exactly where
every problem is: `file:line:column: fields.credit_limt: account has no field ...`.

YAML is parsed once with PyYAML's safe machinery (no object construction from tags).
The node tree is kept to turn problem paths into line and column. Two deliberate
departures from `yaml.safe_load`, both because mapping documents are full of codes:

- Plain scalars follow YAML 1.2's JSON-like rules: only true/false are booleans, only
  `-?(0|[1-9][0-9]*)` is an integer. Under YAML 1.1 a value map's `N: no` would map
  False to False, a code `01` would become 1, `14:30` would be the integer 870 and
  `2024-05-01` a date.
- Mapping keys are always text (the key as written), so `01:`, `true:` and `1:` are
  the strings '01', 'true' and '1'.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mappings.compiler import compile_spec
from mappings.errors import MappingSpecError, Path, Problem, problems_from_validation
from mappings.runtime import CompiledMapping
from mappings.spec import DOCUMENT_KEYS, TAGS, MappingSpec

_OPTIONAL = frozenset({"description", "source_ts", "when", "match", "owns", "options"})


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 JSON-like scalars and text keys (see the module doc)."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class registry

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                key: Any = key_node.value
            else:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a plain value", key_node.start_mark
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^-?(?:0|[1-9][0-9]*)$", "-0123456789"),
    ("float", r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$", "-0123456789"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def load_file(path: str | FilePath, *, name: str | None = None) -> CompiledMapping:
    """Compile the mapping document at `path`; `name` defaults to the path as given."""
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingSpecError([Problem((), f"cannot read the mapping: {exc}")]) from None
    return load_text(text, file=display_path(file), name=name or str(path))


def load_text(text: str, *, file: str = "<text>", name: str | None = None) -> CompiledMapping:
    """Compile a mapping document given as YAML text (the console's preview uses this)."""
    data, root = _parse(text, file)
    problems = list(_duplicate_keys(root))
    spec, found, lenient = _validate(data)
    problems.extend(found)
    compiled: CompiledMapping | None = None
    if spec is not None:
        try:
            compiled = compile_spec(spec, name=name or file, lenient=lenient)
        except MappingSpecError as exc:
            problems.extend(exc.problems)
    if problems:
        located = sorted(
            (_locate(p, root, file) for p in problems), key=lambda p: (p.line or 0, p.column or 0)
        )
        raise MappingSpecError(located, source=file)
    assert compiled is not None
    return compiled


def parse_yaml(text: str, *, file: str = "<text>") -> Any:
    """The document's data as this loader reads it (YAML 1.2 scalars, text keys)."""
    return _parse(text, file)[0]


def display_path(path: FilePath) -> str:
    """The path relative to the working directory when it is below it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(FilePath.cwd()))
    except ValueError:
        return str(path)


def _parse(text: str, file: str) -> tuple[Any, Node]:
    try:
        loader = _Loader(text)  # the reader refuses control characters right here
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        message = f"invalid YAML: character #x{exc.character:04x} is not allowed"
        hint = "remove control characters from the document"
        raise MappingSpecError(
            [Problem((), message, hint, file=file, line=line, column=column)], source=file
        ) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise MappingSpecError(
                [Problem((), "the document is empty", file=file, line=1, column=1)]
            )
        return loader.construct_document(root), root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"invalid YAML: {exc.problem or exc.context}"
        hint = None
        if "expected ',' or '}'" in message or "expected ',' or ']'" in message:
            hint = "inside { } or [ ], quote text that contains [ ] { } or ','"
        raise MappingSpecError(
            [Problem((), message, hint, file=file, line=line, column=column)], source=file
        ) from None
    finally:
        loader.dispose()


def _validate(data: Any) -> tuple[MappingSpec | None, list[Problem], frozenset[str]]:
    """Validate the shape; on failure, drop what is broken and validate the rest again so
    the compiler can still report its own problems in the same run."""
    try:
        return MappingSpec.model_validate(data), [], frozenset()
    except ValidationError as exc:
        problems = problems_from_validation(exc, skip=TAGS, known=DOCUMENT_KEYS)
    if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
        return None, problems, frozenset()
    pruned, fields, dropped = dict(data), dict(data["fields"]), set()
    for problem in problems:
        path = problem.path
        if len(path) >= 2 and path[0] == "fields":
            fields.pop(str(path[1]), None)
            dropped.add(str(path[1]))
        elif path and (path[0] in _OPTIONAL or path[0] not in MappingSpec.model_fields):
            pruned.pop(str(path[0]), None)
        else:
            return None, problems, frozenset()
    pruned["fields"] = fields
    try:
        return MappingSpec.model_validate(pruned), problems, frozenset(dropped)
    except ValidationError:
        return None, problems, frozenset()


def _duplicate_keys(node: Node) -> Iterator[Problem]:
    """PyYAML silently keeps the last of two equal keys; a mapping must say it once."""
    stack: list[tuple[Node, Path]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        if isinstance(current, MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in current.value:
                key = key_node.value if isinstance(key_node, ScalarNode) else None
                if key is None or key == "<<":
                    continue
                if key in seen:
                    yield Problem(
                        (*path, key),
                        f"{key!r} is given twice (first on line {seen[key]})",
                        line=key_node.start_mark.line + 1,
                        column=key_node.start_mark.column + 1,
                    )
                seen.setdefault(key, key_node.start_mark.line + 1)
                stack.append((value_node, (*path, key)))
        elif isinstance(current, SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(current.value))


def _locate(problem: Problem, root: Node, file: str) -> Problem:
    """Fill in file, line and column; the shown path keeps only what the YAML has."""
    if problem.line is not None:
        return Problem(
            problem.path,
            problem.message,
            problem.hint,
            file=file,
            line=problem.line,
            column=problem.column,
        )
    node, key_node = root, None
    shown: list[Any] = []
    rest = list(problem.path)
    while rest:
        item = rest[0]
        if isinstance(item, int):
            if isinstance(node, SequenceNode):
                if not 0 <= item < len(node.value):
                    break
                node, key_node = node.value[item], None
                shown.append(item)
            rest.pop(0)  # a lone step written without a list has index 0 in the model
            continue
        if not isinstance(node, MappingNode):
            break
        match = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == item]
        if not match:
            break
        key_node, node = match[-1]
        shown.append(item)
        rest.pop(0)
    target = key_node if problem.on_key and key_node is not None else node
    mark = target.start_mark
    column = mark.column + 1
    if (
        problem.offset is not None
        and isinstance(target, ScalarNode)
        and (target.start_mark.line == target.end_mark.line)
    ):
        column += problem.offset + (1 if target.style in ("'", '"') else 0)
    return Problem(
        (*shown, *rest), problem.message, problem.hint, file=file, line=mark.line + 1, column=column
    )
