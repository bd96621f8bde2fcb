"""Replay quarantined records through their mapping and the store, once fixed.

A record can be fixed three ways: the source is corrected (the next run re-reads it),
the mapping is corrected (replay re-maps the stored raw payload), or the payload is
edited (replay uses the edited payload). Unresolved references are also replayed at the
end of every run, when the records they point at may have arrived.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import DataError
from core.model.entities import entity
from core.model.tables import Quarantine
from core.store.quarantine import mark_resolved, record_failure
from core.store.upsert import WriteContext, upsert_batch
from core.sync.engine import Counts
from core.sync.pipeline import prepare, resolve
from core.sync.ports import Mapper


@dataclass(slots=True)
class ReplayResult:
    counts: Counts = field(default_factory=Counts)
    replayed: list[uuid.UUID] = field(default_factory=list)
    still_bad: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """(entry id, reason message)."""

    def fail(self, session: Session, entry: Quarantine, error: DataError) -> None:
        record_failure(session, entry, error)
        self.still_bad.append((entry.id, entry.message))


def replay_entries(
    session: Session,
    *,
    run_id: uuid.UUID | None,
    mappers: Mapping[str, Sequence[Mapper]],
    entries: Sequence[Quarantine],
) -> ReplayResult:
    """Replay entries (all of one tenant); entries whose mapping is unknown stay open."""
    result = ReplayResult()
    groups: dict[tuple[uuid.UUID | None, str, str | None], list[Quarantine]] = {}
    for entry in entries:
        groups.setdefault((entry.connection_id, entry.stream, entry.mapping), []).append(entry)
    for (connection_id, stream, mapping_name), group in groups.items():
        mapper = next((m for m in mappers.get(stream, ()) if m.name == mapping_name), None)
        if mapper is None or connection_id is None:
            for entry in group:
                result.fail(
                    session,
                    entry,
                    DataError(
                        f"mapping {mapping_name!r} for stream {stream!r} is not available",
                        code=entry.reason,
                        hint="replay with the job that uses this mapping",
                    ),
                )
            continue
        _replay_group(session, run_id, connection_id, mapper, group, result)
    return result


def _replay_group(
    session: Session,
    run_id: uuid.UUID | None,
    connection_id: uuid.UUID,
    mapper: Mapper,
    group: Sequence[Quarantine],
    result: ReplayResult,
) -> None:
    spec = entity(mapper.entity)
    prepared = prepare(mapper, [entry.payload for entry in group])
    items, unresolved = resolve(session, connection_id, spec, prepared)
    outcome = upsert_batch(
        session,
        WriteContext(group[0].tenant_id, connection_id, run_id, utcnow()),
        spec=spec,
        object_=mapper.object,
        items=items,
        owns=mapper.owns,
        match=mapper.match,
    )
    failed: dict[int, DataError] = {p: e for p, e, _ in (*prepared.rejected, *unresolved)}
    failed.update(dict(outcome.rejected))
    ok: list[uuid.UUID] = []
    for position, entry in enumerate(group):
        if position in failed:
            result.fail(session, entry, failed[position])
        else:
            ok.append(entry.id)
    mark_resolved(session, ok, "replayed")
    counts = result.counts
    counts.read += len(group)
    counts.inserted += outcome.inserted
    counts.updated += outcome.updated
    counts.unchanged += outcome.unchanged
    counts.skipped += prepared.skipped
    counts.unchanged += prepared.unchanged
    result.replayed += ok
