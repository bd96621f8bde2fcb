"""From raw source records to validated `Incoming` records, in two steps.

`prepare` is pure CPU (map, validate the whole batch, derive, hash) and needs no
database, so the engine runs it on its main thread while the previous batch is being
written. `resolve` turns references into canonical ids with one query per batch and
runs in the writer. Quarantine replay and previews use the same two steps, so a record
is judged the same way wherever it comes from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.errors import DataError
from core.model.entities import EntitySpec, entity
from core.model.mapped import MappedRecord, Ref
from core.store.upsert import Incoming, record_hash
from core.store.xref import resolve as resolve_refs
from core.sync.ports import Mapper

Reject = tuple[int, DataError, str | None]
"""(position in the batch, error, external id if known)."""
_PLACEHOLDER = uuid.UUID(int=0)


Known = Callable[[Sequence[str]], Mapping[str, bytes]]
"""External ids -> the content hashes the store holds for them."""


@dataclass(slots=True)
class Prepared:
    valid: list[Incoming] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    skipped: int = 0
    unchanged: int = 0
    has_refs: bool = False
    """Whether the mapping emits reference fields (then `resolve` has work to do)."""


def prepare(
    mapper: Mapper, records: Sequence[Mapping[str, Any]], known: Known | None = None
) -> Prepared:
    """Hash, skip what the store already holds, then map, validate and derive the rest.

    `known` tells which content hashes the store holds for a batch's external ids; a
    record whose hash is among them costs a key read and a hash, nothing more.
    """
    spec = entity(mapper.entity)
    out = Prepared()
    fingerprint = mapper.fingerprint
    keyed: list[tuple[int, str, bytes]] = []
    for position, record in enumerate(records):
        source_error = record.get("_error")
        if source_error:
            out.rejected.append((position, DataError(str(source_error), code="source_error"), None))
            continue
        try:
            external_id = mapper.key_of(record)
        except DataError as error:
            out.rejected.append((position, error, None))
            continue
        keyed.append((position, external_id, record_hash(fingerprint, record)))
    held = known([external_id for _, external_id, _ in keyed]) if known and keyed else {}
    mapped: list[tuple[int, MappedRecord, bytes]] = []
    for position, external_id, digest in keyed:
        if held.get(external_id) == digest:
            out.unchanged += 1
            continue
        try:
            result = mapper.map(records[position])
        except DataError as error:
            out.rejected.append((position, error, external_id))
            continue
        if result is None:
            out.skipped += 1
        else:
            mapped.append((position, result, digest))
    _validate(spec, mapped, out)
    return out


def _with_placeholders(spec: EntitySpec, values: dict[str, Any]) -> dict[str, Any]:
    """References validate as ids; they are resolved later, in the writer."""
    probe: dict[str, Any] = {
        k: _PLACEHOLDER if v.__class__ is Ref else v for k, v in values.items()
    }
    for child_field in spec.children:
        lines = values.get(child_field)
        if lines:
            probe[child_field] = [
                {k: _PLACEHOLDER if v.__class__ is Ref else v for k, v in line.items()}
                for line in lines
            ]
    return probe


def _restore_refs(spec: EntitySpec, raw: Mapping[str, Any], clean: dict[str, Any]) -> None:
    """Put the Ref objects back into validated values (they are resolved in the writer)."""
    for name, value in raw.items():
        if value.__class__ is Ref:
            clean[name] = value
        elif name in spec.children and value:
            for raw_line, clean_line in zip(value, clean[name], strict=True):
                for key, item in raw_line.items():
                    if item.__class__ is Ref:
                        clean_line[key] = item


def _validate(
    spec: EntitySpec, mapped: list[tuple[int, MappedRecord, bytes]], out: Prepared
) -> None:
    """Validate the batch at once; on errors, reject the culprits and keep the rest."""
    # A mapping emits the same fields for every record: look at the first one to know
    # whether reference fields (or child lines, which may hold them) are mapped at all.
    keys = mapped[0][1].values.keys() if mapped else ()
    has_refs = any(f in keys for f in spec.references) or any(c in keys for c in spec.children)
    out.has_refs = has_refs
    probes = [
        _with_placeholders(spec, record.values) if has_refs else record.values
        for _, record, _ in mapped
    ]
    try:
        clean = spec.batch_adapter.validate_python(probes)
    except ValidationError as exc:
        bad: dict[int, DataError] = {}
        for error in exc.errors(include_url=False):
            index = error["loc"][0]
            if isinstance(index, int) and index not in bad:
                bad[index] = _data_error(error)
        for index, problem in bad.items():
            position, record, _ = mapped[index]
            out.rejected.append((position, problem, record.external_id))
        mapped = [pair for i, pair in enumerate(mapped) if i not in bad]
        probes = [p for i, p in enumerate(probes) if i not in bad]
        clean = spec.batch_adapter.validate_python(probes)
    for (position, record, digest), values in zip(mapped, clean, strict=True):
        if has_refs:
            _restore_refs(spec, record.values, values)
        out.valid.append(
            Incoming.of(spec, position, record.external_id, values, record.source_ts, digest)
        )


def resolve(
    session: Session,
    connection_id: uuid.UUID,
    spec: EntitySpec,
    prepared: Prepared,
) -> tuple[list[Incoming], list[Reject]]:
    """Replace references by canonical ids (one query); unknown ones reject the record."""
    items = prepared.valid
    if not prepared.has_refs:
        return items, []
    wanted = {
        (target, ref.object, ref.external_id)
        for item in items
        for target, ref in _refs_in(spec, item.values)
    }
    if not wanted:
        return items, []
    known = resolve_refs(session, connection_id, wanted)
    kept: list[Incoming] = []
    rejected: list[Reject] = []
    for item in items:
        try:
            item.values = _substitute(spec, item.values, known)
        except DataError as error:
            rejected.append((item.position, error, item.external_id))
        else:
            kept.append(item)
    return kept, rejected


def _refs_in(spec: EntitySpec, values: Mapping[str, Any]) -> list[tuple[str, Ref]]:
    """(target entity, ref) pairs in a record, including its child lines."""
    found = [(spec.references[k], v) for k, v in values.items() if v.__class__ is Ref]
    for child_field, child in spec.children.items():
        for line in values.get(child_field) or ():
            found += [(child.references[k], v) for k, v in line.items() if v.__class__ is Ref]
    return found


def _substitute(
    spec: EntitySpec, values: dict[str, Any], known: Mapping[tuple[str, str, str], uuid.UUID]
) -> dict[str, Any]:
    resolved = dict(values)
    for name, value in values.items():
        if value.__class__ is Ref:
            resolved[name] = _lookup(spec.references[name], name, value, known)
        elif name in spec.children and value:
            child = spec.children[name]
            resolved[name] = [
                {
                    k: _lookup(child.references[k], f"{name}.{k}", v, known)
                    if v.__class__ is Ref
                    else v
                    for k, v in line.items()
                }
                for line in value
            ]
    return resolved


def _lookup(
    target: str, name: str, ref: Ref, known: Mapping[tuple[str, str, str], uuid.UUID]
) -> uuid.UUID:
    found = known.get((target, ref.object, ref.external_id))
    if found is None:
        raise DataError(
            f"{name}: no {target} with {ref.object} id {ref.external_id!r} has been synced yet",
            field=name,
            code="unresolved_reference",
            hint=f"sync the {ref.object} records first; the record is replayed automatically "
            "at the end of the run",
        )
    return found


def _data_error(error: Any) -> DataError:
    path = ".".join(str(p) for p in error["loc"][1:])
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    message = str(error["msg"]).removeprefix("Value error, ")
    return DataError(
        f"{path}: {message} (got {shown})",
        field=path or None,
        code=error["type"],
        hint="fix the source value or add a transform to the mapping",
    )


def check_values(entity_name: str, values: Mapping[str, Any]) -> list[DataError]:
    """Validate one mapped record against its entity (references count as resolved).

    What `l2c mapping test` and the API's mapping preview use to say 'this would store'.
    """
    spec = entity(entity_name)
    probe = _with_placeholders(spec, dict(values))
    try:
        spec.batch_adapter.validate_python([probe])
    except ValidationError as exc:
        return [_data_error(error) for error in exc.errors(include_url=False)]
    missing = [f for f in sorted(spec.required) if probe.get(f) is None]
    return [
        DataError(
            f"{f}: required to create a {spec.name} (missing)",
            field=f,
            code="required",
            hint="map it, unless this source only updates existing records",
        )
        for f in missing
    ]
