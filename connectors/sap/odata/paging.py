"""Incremental reading: watermark, overlap window, de-duplication, gap-free paging.

Pages are *seeks*, not offsets. ``$skip`` paging over a changing table loses rows:
an entity changed while we page moves to the end and every row after it shifts one
place, so one row is never returned. Each window here asks for ``stamp ge <last
stamp seen>`` ordered by stamp then key, and rows already emitted are skipped. Only
when one timestamp bucket (1 ms for DateTimeOffset, 1 s for Date+Time) holds more
rows than a page, that bucket is read on its own, ordered by key with a key seek.

State of one stream (kept by the tap, carried in STATE messages)::

    {"replication_key": "LastChangeDateTime",
     "replication_key_value": "2024-05-01T10:00:00.125000Z",      # max over branches
     "branches": {"changed": {"watermark": "2024-05-01T10:00:00.125000Z",
                              "seen": {"4711": "2024-05-01T09:58:12.000000Z", ...}}}}

A run reads from ``watermark - overlap``; `seen` holds the keys emitted inside that
window with the stamp emitted, so a re-read row with the same stamp is skipped and
a newer version is emitted. Records are marked as emitted only after they were
handed over (`mark_emitted`), so a STATE snapshot never claims an unsent record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from connectors.sap.odata.client import ODataClient
from connectors.sap.odata.streams import StreamDef, convert
from connectors.sap.odata.values import (
    datetime_literal,
    datetimeoffset_literal,
    parse_edm_time,
    parse_wire_datetime,
    quote,
    time_literal,
)

__all__ = [
    "Branch",
    "DateTimeBranch",
    "IncrementalReader",
    "OffsetBranch",
    "branches_for",
    "stamp_text",
]

log = logging.getLogger("connectors.sap.odata")

_PRUNE_EVERY = 2000


class Branch(Protocol):
    """One ordered query over the entity set (a stream has one or two)."""

    @property
    def name(self) -> str: ...
    @property
    def order(self) -> tuple[str, ...]: ...
    @property
    def base(self) -> str | None: ...
    @property
    def width(self) -> timedelta: ...
    def since(self, low: datetime) -> str: ...
    def in_bucket(self, bucket: datetime) -> str: ...
    def stamp(self, record: Mapping[str, Any]) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class OffsetBranch:
    """Ordered by one Edm.DateTimeOffset (``LastChangeDateTime``); V2 JSON gives ms."""

    name: str
    column: str
    width: timedelta = timedelta(milliseconds=1)

    @property
    def order(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def base(self) -> str | None:
        return f"{self.column} ne null"

    def since(self, low: datetime) -> str:
        return f"{self.column} ge {datetimeoffset_literal(low)}"

    def in_bucket(self, bucket: datetime) -> str:
        return (
            f"{self.column} ge {datetimeoffset_literal(bucket)} and "
            f"{self.column} lt {datetimeoffset_literal(bucket + self.width)}"
        )

    def stamp(self, record: Mapping[str, Any]) -> datetime | None:
        value = record.get(self.column)
        return parse_wire_datetime(value) if value else None


@dataclass(frozen=True, slots=True)
class DateTimeBranch:
    """Ordered by an Edm.DateTime date plus an Edm.Time (business partners), to the second."""

    name: str
    date_column: str
    time_column: str
    base: str | None
    width: timedelta = timedelta(seconds=1)

    @property
    def order(self) -> tuple[str, ...]:
        return (self.date_column, self.time_column)

    def since(self, low: datetime) -> str:
        day, moment = datetime_literal(low.date()), time_literal(low.time().replace(microsecond=0))
        same_day = f"{self.time_column} ge {moment}"
        if low.time() == time(0):
            same_day = f"({same_day} or {self.time_column} eq null)"
        return f"({self.date_column} gt {day} or ({self.date_column} eq {day} and {same_day}))"

    def in_bucket(self, bucket: datetime) -> str:
        day, moment = datetime_literal(bucket.date()), time_literal(bucket.time())
        at = f"{self.time_column} eq {moment}"
        if bucket.time() == time(0):
            at = f"({at} or {self.time_column} eq null)"
        return f"{self.date_column} eq {day} and {at}"

    def stamp(self, record: Mapping[str, Any]) -> datetime | None:
        day = record.get(self.date_column)
        if not day:
            return None
        moment = record.get(self.time_column)
        clock = _clock(moment) if moment else time(0)
        return datetime.combine(datetime.fromisoformat(str(day)[:10]).date(), clock, tzinfo=UTC)


def branches_for(stream: StreamDef) -> tuple[Branch, ...]:
    """Business partners: changed ones by LastChange*, never-changed ones by Creation*."""
    if stream.name == "business_partners":
        return (
            DateTimeBranch("changed", "LastChangeDate", "LastChangeTime", "LastChangeDate ne null"),
            DateTimeBranch("created", "CreationDate", "CreationTime", "LastChangeDate eq null"),
        )
    return (OffsetBranch("changed", stream.replication_key),)


def stamp_text(moment: datetime) -> str:
    """Fixed-width UTC text, so state values compare correctly as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class IncrementalReader:
    """Reads one stream from its state; call `mark_emitted` for each record handed over."""

    def __init__(
        self,
        client: ODataClient,
        stream: StreamDef,
        state: dict[str, Any],
        *,
        page_size: int,
        overlap: timedelta,
        start: datetime | None = None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.state = state
        self.page_size = page_size
        self.overlap = overlap
        self.start = start
        self.branches = branches_for(stream)
        self._current: Branch | None = None
        self._marks = 0
        state["replication_key"] = stream.replication_key
        state.setdefault("branches", {})
        if len(stream.key) != 1:
            raise ValueError(f"{stream.name}: incremental paging needs a single-property key")
        self._key = stream.key[0]

    # ------------------------------------------------------------------ reading

    def records(self) -> Iterator[dict[str, Any]]:
        for branch in self.branches:
            self._current = branch
            yield from self._read_branch(branch)
            self._prune_to_window(self._branch_state(branch))
        self._current = None

    def _read_branch(self, branch: Branch) -> Iterator[dict[str, Any]]:
        """Window after window; the next window is fetched while this one is consumed.

        Where the next window starts depends only on the rows of this one (their
        count and the last stamp), not on what the consumer does with them, so it
        is requested at once in a worker thread and overlaps the hub's processing.
        """
        bstate = self._branch_state(branch)
        low = self._low(bstate)
        if low is not None:
            self._prune(bstate, stamp_text(low - timedelta(microseconds=1)))
            low = _floor(low, branch.width)
        log.info("%s/%s: reading from %s", self.stream.name, branch.name, low or "the start")
        window: _Window | None = _Window(low=low)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sap-odata-prefetch")
        try:
            pending = pool.submit(self._fetch, branch, _Window(low=low))
            while window is not None:
                rows = pending.result()
                window = self._next_window(branch, window, rows)
                if window is not None:
                    pending = pool.submit(self._fetch, branch, window)
                yield from self._fresh(branch, rows, bstate)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _next_window(
        self, branch: Branch, window: _Window, rows: list[dict[str, Any]]
    ) -> _Window | None:
        """Seek past `rows`; when a whole page shares one stamp bucket, walk it by key."""
        if window.bucket is not None:  # walking one bucket by key
            if len(rows) < self.page_size:
                return _Window(low=window.bucket + branch.width)
            return _Window(bucket=window.bucket, after=str(rows[-1][self._key]))
        if len(rows) < self.page_size:
            return None
        last = branch.stamp(rows[-1])
        if last is None:
            return None  # cannot seek past a row without a stamp; the base filter prevents it
        bucket = _floor(last, branch.width)
        if window.low is None or bucket > window.low:
            return _Window(low=bucket)
        log.info(
            "%s/%s: more than %d rows at %s", self.stream.name, branch.name, self.page_size, bucket
        )
        return _Window(bucket=bucket)

    def _fetch(self, branch: Branch, window: _Window) -> list[dict[str, Any]]:
        if window.bucket is None:
            since = branch.since(window.low) if window.low is not None else None
            return self._window([branch.base, since], (*branch.order, self._key))
        after = f"{self._key} gt {quote(window.after)}" if window.after is not None else None
        return self._window([branch.base, branch.in_bucket(window.bucket), after], (self._key,))

    def _window(self, filters: list[str | None], order: tuple[str, ...]) -> list[dict[str, Any]]:
        """One $top window (the server's __next followed inside it), converted."""
        params = {"$orderby": ",".join(order), "$top": str(self.page_size)}
        parts = [f for f in filters if f]
        if parts:
            params["$filter"] = (
                " and ".join(f"({f})" for f in parts) if len(parts) > 1 else parts[0]
            )
        if self.stream.expand:
            params["$expand"] = ",".join(self.stream.expand)
        rows: list[dict[str, Any]] = []
        for page in self.client.iter_pages(self.stream.service, self.stream.entity_set, params):
            rows.extend(convert(entity, self.stream.name) for entity in page)
            if len(rows) >= self.page_size:
                break  # a server ignoring $top must not make a window unbounded
        return rows[: self.page_size]

    def _fresh(
        self, branch: Branch, rows: list[dict[str, Any]], bstate: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        seen: dict[str, str] = bstate["seen"]
        for record in rows:
            moment = branch.stamp(record)
            if moment is None:
                continue
            previous = seen.get(str(record[self._key]))
            if previous is not None and previous >= stamp_text(moment):
                continue
            yield record

    # ------------------------------------------------------------------ state

    def mark_emitted(self, record: Mapping[str, Any]) -> None:
        """The record was handed over: remember it and advance the watermark."""
        branch = self._current
        if branch is None:
            return
        moment = branch.stamp(record)
        if moment is None:
            return
        bstate = self._branch_state(branch)
        text = stamp_text(moment)
        bstate["seen"][str(record[self._key])] = text
        if text > (bstate.get("watermark") or ""):
            bstate["watermark"] = text
            if text > (self.state.get("replication_key_value") or ""):
                self.state["replication_key_value"] = text
        self._marks += 1
        if self._marks % _PRUNE_EVERY == 0:
            self._prune_to_window(bstate)

    def _prune_to_window(self, bstate: dict[str, Any]) -> None:
        """Keep only keys the next run can re-read: stamps at or after watermark - overlap."""
        if bstate.get("watermark"):
            low = _parse_stamp(bstate["watermark"]) - self.overlap
            self._prune(bstate, stamp_text(low - timedelta(microseconds=1)))

    def _branch_state(self, branch: Branch) -> dict[str, Any]:
        bstate: dict[str, Any] = self.state["branches"].setdefault(branch.name, {})
        bstate.setdefault("seen", {})
        return bstate

    def _low(self, bstate: Mapping[str, Any]) -> datetime | None:
        watermark = bstate.get("watermark")
        if watermark:
            return _parse_stamp(watermark) - self.overlap
        return self.start

    @staticmethod
    def _prune(bstate: dict[str, Any], below: str) -> None:
        """Forget keys emitted before the re-read window: they cannot come back unchanged."""
        seen: dict[str, str] = bstate["seen"]
        for key in [k for k, v in seen.items() if v <= below]:
            del seen[key]


@dataclass(frozen=True, slots=True)
class _Window:
    """One request window: rows from `low` on, or one stamp bucket after key `after`."""

    low: datetime | None = None
    bucket: datetime | None = None
    after: str | None = None


def _floor(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // width) * width


def _parse_stamp(text: str) -> datetime:
    return parse_wire_datetime(text)


def _clock(value: Any) -> time:
    text = str(value)
    return parse_edm_time(text) if text.startswith("P") else time.fromisoformat(text)
