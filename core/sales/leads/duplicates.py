"""Duplicates of leads in the store: one lead against leads, accounts and contacts, and a
batch scan of all open leads. Scoring is core.sales.dedup's (weights documented there).

Candidate retrieval for one lead (`find_duplicates`) never scans a table without bound:

=============  ===========================================================================
signal         how candidates are fetched
=============  ===========================================================================
uscc           equality on the indexed `uscc` of leads and accounts
email          equality on the indexed `email` of leads and contacts (stored lower-cased
               by the schema's Email type); accounts' `email` has no index, so that query
               is capped at `CANDIDATE_CAP` rows
company name   accounts: `name_key IN (key, key+集团, key+集團, key+group)` on the indexed
               name key — dedup's key drops group markers that names.py keeps. Leads (no
               name key column): the first word of the name that is also the start of the
               key, as a case-insensitive substring of `company`, capped
phone          the last 8 digits of each E.164 number as a substring of phone/mobile with
               spaces, dashes, dots, brackets and ``+`` removed in SQL, capped
=============  ===========================================================================

Every fetched row is then scored in memory (dedup.score_keys), so a loose query never
adds a false match; a capped one can only miss one (the batch `scan` does not). Values
stored in full-width forms are not found by the substring queries; `scan` finds them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Row, Table, func, or_, select
from sqlalchemy.orm import Session

from core.errors import DataError, NotFoundError
from core.model.tables import Account, Contact, Lead, table_of
from core.sales.dedup import (
    MAX_SCORE,
    DedupKeys,
    DedupRecord,
    MatchReason,
    record_keys,
    score_keys,
)
from core.sales.leads.claim_rules import CLOSED_STATUSES
from core.store.xref import batches, member_of

Entity = Literal["lead", "account", "contact"]
LEAD = table_of(Lead)
ACCOUNT = table_of(Account)
CONTACT = table_of(Contact)
DEFAULT_MIN_SCORE: Final = 70
CANDIDATE_CAP: Final = 200
"""Rows one non-indexed candidate query may return."""
BUCKET_CAP: Final = 500
"""`scan` ignores a key shared by more open leads than this: such keys are placeholders
(13800000000, info@…), and pairing them would cost n² for nothing."""
SCAN_CHUNK: Final = 5000
_GROUP_SUFFIXES: Final = ("", "集团", "集團", "group")
_WORD_BREAK = re.compile(r"[\s\-_,.·•'\"&/()（）\[\]【】]+")
_PHONE_NOISE: Final = (" ", "-", "(", ")", ".", "+")

_LEAD_COLUMNS = tuple(
    LEAD.c[n] for n in ("id", "name", "company", "uscc", "email", "phone", "mobile")
)
_ACCOUNT_COLUMNS = tuple(ACCOUNT.c[n] for n in ("id", "name", "uscc", "email", "phone"))
_CONTACT_COLUMNS = tuple(CONTACT.c[n] for n in ("id", "name", "email", "phone", "mobile"))


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """A record that may be the same party as the lead: score 0..100 and the shared keys."""

    entity: Entity
    id: uuid.UUID
    name: str
    score: int
    reasons: tuple[MatchReason, ...]


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """Two open leads scoring at least the scan's threshold (`a` is the older id)."""

    a: uuid.UUID
    b: uuid.UUID
    score: int
    reasons: tuple[MatchReason, ...]


@dataclass(frozen=True, slots=True)
class GroupMember:
    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Open leads connected by duplicate pairs. Members are in id order (ids are
    time-ordered), so the first is the oldest: the natural survivor of a merge. A member
    may be linked to another only through a third; `pairs` says which pairs matched."""

    members: tuple[GroupMember, ...]
    score: int
    pairs: tuple[DuplicatePair, ...]


# ----------------------------------------------------------------------------- records
def lead_record(row: Any) -> DedupRecord:
    return DedupRecord(
        str(row.id),
        "lead",
        row.company,
        row.uscc,
        _present(row.email),
        _present(row.phone, row.mobile),
    )


def account_record(row: Any) -> DedupRecord:
    return DedupRecord(
        str(row.id), "account", row.name, row.uscc, _present(row.email), _present(row.phone)
    )


def contact_record(row: Any) -> DedupRecord:
    return DedupRecord(
        str(row.id), "contact", None, None, _present(row.email), _present(row.phone, row.mobile)
    )


def _present(*values: str | None) -> tuple[str, ...]:
    return tuple(v for v in values if v)


def lead_label(name: str, company: str | None) -> str:
    """How a lead is shown in a list: its name and, when known, its company."""
    return f"{name} · {company}" if company else name


def name_key_variants(company_key: str) -> list[str]:
    """Account name keys (names.py) that dedup's company key equals: names.py keeps a
    group marker or a trailing 集团 that dedup drops."""
    return [company_key + suffix for suffix in _GROUP_SUFFIXES]


def _check_min_score(min_score: int) -> None:
    if not 1 <= min_score <= MAX_SCORE:
        raise DataError(
            f"min_score: must be within 1..{MAX_SCORE}, got {min_score}",
            field="min_score",
            code="out_of_range",
            hint="70 shows every single strong signal; 100 only USCC or two signals",
        )


# ----------------------------------------------------------------------------- one lead
def find_duplicates(
    session: Session,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    *,
    min_score: int = DEFAULT_MIN_SCORE,
) -> list[DuplicateMatch]:
    """Leads, accounts and contacts of the tenant scoring at least `min_score` against
    the lead, best first (ties: entity, then id). Retrieval: module docstring."""
    _check_min_score(min_score)
    lead = session.execute(
        select(*_LEAD_COLUMNS).where(LEAD.c.tenant_id == tenant_id, LEAD.c.id == lead_id)
    ).first()
    if lead is None:
        raise NotFoundError(f"no lead {lead_id} in this tenant", hint="list leads: GET /v1/leads")
    keys = record_keys(lead_record(lead))
    found: list[DuplicateMatch] = []
    for row in _candidate_leads(session, tenant_id, lead, keys):
        if row.id != lead_id:
            found += _scored("lead", row, lead_label(row.name, row.company), keys, lead_record)
    for row in _candidate_accounts(session, tenant_id, keys):
        found += _scored("account", row, row.name, keys, account_record)
    for row in _candidate_contacts(session, tenant_id, keys):
        found += _scored("contact", row, row.name, keys, contact_record)
    found = [m for m in found if m.score >= min_score]
    found.sort(key=lambda m: (-m.score, m.entity, str(m.id)))
    return found


def _scored(
    entity: Entity, row: Any, name: str, keys: DedupKeys, make: Any
) -> list[DuplicateMatch]:
    score, reasons = score_keys(keys, record_keys(make(row)))
    return [DuplicateMatch(entity, row.id, name, score, reasons)] if score > 0 else []


def _fetch(
    session: Session,
    table: Table,
    columns: Sequence[ColumnElement[Any]],
    tenant_id: uuid.UUID,
    conditions: Sequence[ColumnElement[bool]],
    capped: bool,
) -> list[Row[Any]]:
    if not conditions:
        return []
    query = select(*columns).where(table.c.tenant_id == tenant_id, or_(*conditions))
    if capped:
        query = query.order_by(table.c.id.desc()).limit(CANDIDATE_CAP)
    return list(session.execute(query))


def _unique(rows: Iterable[Row[Any]]) -> list[Row[Any]]:
    return list({row.id: row for row in rows}.values())


def _candidate_leads(
    session: Session, tenant_id: uuid.UUID, lead: Row[Any], keys: DedupKeys
) -> list[Row[Any]]:
    exact: list[ColumnElement[bool]] = []
    if keys.uscc:
        exact.append(LEAD.c.uscc == keys.uscc)
    if keys.emails:
        exact.append(LEAD.c.email.in_(sorted(keys.emails)))
    loose = _phone_conditions(keys, LEAD.c.phone, LEAD.c.mobile)
    rows = _fetch(session, LEAD, _LEAD_COLUMNS, tenant_id, exact, capped=False)
    rows += _fetch(session, LEAD, _LEAD_COLUMNS, tenant_id, loose, capped=True)
    if keys.company and (needle := _company_needle(lead.company, keys.company)):
        pattern = f"%{_escape_like(needle)}%"
        condition = func.lower(LEAD.c.company).like(pattern, escape="\\")
        rows += _fetch(session, LEAD, _LEAD_COLUMNS, tenant_id, [condition], capped=True)
    return _unique(rows)


def _candidate_accounts(session: Session, tenant_id: uuid.UUID, keys: DedupKeys) -> list[Row[Any]]:
    exact: list[ColumnElement[bool]] = []
    if keys.uscc:
        exact.append(ACCOUNT.c.uscc == keys.uscc)
    if keys.company:
        exact.append(ACCOUNT.c.name_key.in_(name_key_variants(keys.company)))
    loose = _phone_conditions(keys, ACCOUNT.c.phone)
    if keys.emails:
        loose.append(ACCOUNT.c.email.in_(sorted(keys.emails)))
    rows = _fetch(session, ACCOUNT, _ACCOUNT_COLUMNS, tenant_id, exact, capped=False)
    rows += _fetch(session, ACCOUNT, _ACCOUNT_COLUMNS, tenant_id, loose, capped=True)
    return _unique(rows)


def _candidate_contacts(session: Session, tenant_id: uuid.UUID, keys: DedupKeys) -> list[Row[Any]]:
    exact = [CONTACT.c.email.in_(sorted(keys.emails))] if keys.emails else []
    loose = _phone_conditions(keys, CONTACT.c.phone, CONTACT.c.mobile)
    rows = _fetch(session, CONTACT, _CONTACT_COLUMNS, tenant_id, exact, capped=False)
    rows += _fetch(session, CONTACT, _CONTACT_COLUMNS, tenant_id, loose, capped=True)
    return _unique(rows)


def _phone_conditions(keys: DedupKeys, *columns: ColumnElement[Any]) -> list[ColumnElement[bool]]:
    tails = sorted({phone.e164[1:][-8:] for phone in keys.phones})
    conditions: list[ColumnElement[bool]] = []
    for column in columns:
        digits: ColumnElement[Any] = column
        for noise in _PHONE_NOISE:
            digits = func.replace(digits, noise, "")
        conditions += [digits.like(f"%{tail}%") for tail in tails]
    return conditions


def _company_needle(company: str | None, key: str) -> str | None:
    """A substring every spelling with this key is likely to contain: the part of the
    name's first word that starts the key (上海汽车 of 上海汽车集团有限公司, acme of
    ACME Widgets Ltd.), else the key itself; None when under two characters."""
    text = unicodedata.normalize("NFKC", company or "").casefold()
    first = next((word for word in _WORD_BREAK.split(text) if word), "")
    shared = 0
    while shared < min(len(first), len(key)) and first[shared] == key[shared]:
        shared += 1
    needle = first[:shared] if shared >= 2 else key
    return needle if len(needle) >= 2 else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ----------------------------------------------------------------------------- batch scan
def scan(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    min_score: int = DEFAULT_MIN_SCORE,
    limit: int = 100,
) -> list[DuplicateGroup]:
    """Groups of duplicate open leads (status not converted/disqualified), best first
    (highest pair score, then the larger group, then the oldest member).

    Two passes, both in id-ordered chunks of `SCAN_CHUNK`: the first computes every open
    lead's keys and buckets lead ids by key (a hash of signal and value, so memory is a
    few ids per lead); the second reloads only the leads that share a key and scores the
    pairs within each bucket. Pairs at or above `min_score` connect leads into groups.
    Keys shared by more than `BUCKET_CAP` leads are ignored (placeholders)."""
    _check_min_score(min_score)
    if limit < 1:
        raise DataError(
            f"limit: must be at least 1, got {limit}",
            field="limit",
            code="out_of_range",
            hint="ask for 100 groups, then merge and scan again",
        )
    buckets: dict[int, list[uuid.UUID]] = {}
    for rows in _open_leads(session, tenant_id):
        for row in rows:
            for token in _tokens(record_keys(lead_record(row))):
                buckets.setdefault(token, []).append(row.id)
    shared = [ids for ids in buckets.values() if 2 <= len(ids) <= BUCKET_CAP]
    del buckets
    wanted = sorted({lead_id for ids in shared for lead_id in ids})
    keys: dict[uuid.UUID, DedupKeys] = {}
    names: dict[uuid.UUID, str] = {}
    for chunk in batches(session, wanted):
        for row in session.execute(
            select(*_LEAD_COLUMNS).where(
                LEAD.c.tenant_id == tenant_id, member_of(session, LEAD.c.id, chunk)
            )
        ):
            keys[row.id] = record_keys(lead_record(row))
            names[row.id] = lead_label(row.name, row.company)
    pairs = _pairs(shared, keys, min_score)
    return _groups(pairs, names)[:limit]


def _open_leads(session: Session, tenant_id: uuid.UUID) -> Iterable[list[Row[Any]]]:
    after: uuid.UUID | None = None
    is_open = or_(LEAD.c.status.is_(None), LEAD.c.status.not_in(sorted(CLOSED_STATUSES)))
    while True:
        query = select(*_LEAD_COLUMNS).where(LEAD.c.tenant_id == tenant_id, is_open)
        if after is not None:
            query = query.where(LEAD.c.id > after)
        rows = list(session.execute(query.order_by(LEAD.c.id).limit(SCAN_CHUNK)))
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _tokens(keys: DedupKeys) -> set[int]:
    tokens = {hash(("email", email)) for email in keys.emails}
    tokens |= {hash(("phone", phone.e164)) for phone in keys.phones}
    if keys.uscc:
        tokens.add(hash(("uscc", keys.uscc)))
    if keys.company:
        tokens.add(hash(("company", keys.company)))
    return tokens


def _pairs(
    buckets: Sequence[Sequence[uuid.UUID]], keys: dict[uuid.UUID, DedupKeys], min_score: int
) -> list[DuplicatePair]:
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
    pairs: list[DuplicatePair] = []
    for ids in buckets:
        ordered = sorted(set(ids))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                score, reasons = score_keys(keys[a], keys[b])
                if score >= min_score:
                    pairs.append(DuplicatePair(a, b, score, reasons))
    return pairs


def _groups(pairs: Sequence[DuplicatePair], names: dict[uuid.UUID, str]) -> list[DuplicateGroup]:
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(node: uuid.UUID) -> uuid.UUID:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for pair in pairs:
        ra, rb = root(pair.a), root(pair.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    grouped: dict[uuid.UUID, list[DuplicatePair]] = {}
    for pair in pairs:
        grouped.setdefault(root(pair.a), []).append(pair)
    groups = []
    for group_pairs in grouped.values():
        ids = sorted({i for p in group_pairs for i in (p.a, p.b)})
        group_pairs.sort(key=lambda p: (-p.score, p.a, p.b))
        groups.append(
            DuplicateGroup(
                tuple(GroupMember(i, names[i]) for i in ids),
                group_pairs[0].score,
                tuple(group_pairs),
            )
        )
    groups.sort(key=lambda g: (-g.score, -len(g.members), g.members[0].id))
    return groups
