"""The inbound folder's life cycle: which files to read, and when a file may leave.

A file leaves `inbound_dir` (to `archive_dir`, or to `error_dir` with a
``<name>.error.txt``) only once the hub has **committed** what was read from it.
The tap cannot see commits; it sees the state it is started with, which the hub
committed by definition. So each stream's bookmark lists the files it has fully
emitted::

    {"files": {"ORDERS05_0001.xml": {"sha256": "...", "size": 1834, "mtime": 1717400000,
                                     "streams": ["orders"], "idocs": 1}}}

``streams`` are the streams the file's IDocs route to (for an unreadable file: the
one stream that reported it). At the start of a run, a file is moved when every
stream in its ``streams`` lists it, with the same sha256, in the committed state;
then the rest is read. A crash between emitting and committing therefore re-reads
the file on the next run and emits the same DOCNUMs (the hub's xref makes them
no-ops); nothing is moved before it is safe.

One `Inbox` serves the three streams of a run: one listing, one set of moves, and
a small cache so a file is downloaded and parsed once even when two streams need it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import posixpath
import re
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.sap.idoc.config import IdocConfig
from connectors.sap.idoc.idoc import read_idocs
from connectors.sap.idoc.sftp import RemoteFile, SftpSession, connect
from connectors.sdk.errors import DataError

__all__ = ["STREAMS", "Inbox", "Parsed", "is_candidate", "route"]

STREAMS = ("debmas", "invoic", "orders")
"""Stream names, in sync order."""

CACHE_BYTES = 64 * 1024 * 1024
"""Source bytes of parsed files kept for the other streams of the same run."""
RAW_EXCERPT = 64 * 1024
"""How much of an unreadable file goes into its `_raw` (the file itself is kept)."""

_TYPES = rb"(DEBMAS|INVOIC|ORDERS|ORDRSP|ORDCHG)"
_CONTENT_HINT = re.compile(rb"<\s*(?:IDOCTYP>\s*)?" + _TYPES, re.I)
_NAME_HINT = re.compile(_TYPES, re.I)


def route(idoctyp: str | None, mestyp: str | None) -> str | None:
    """The stream an IDoc belongs to, from its basic type and message type."""
    kind = (idoctyp or "").upper()
    message = (mestyp or "").upper()
    if kind.startswith("DEBMAS") or message == "DEBMAS":
        return "debmas"
    if kind.startswith("INVOIC") or message in ("INVOIC", "GSVERF"):
        return "invoic"
    if kind.startswith(("ORDERS", "ORDRSP", "ORDCHG")) or message in (
        "ORDERS",
        "ORDRSP",
        "ORDCHG",
    ):
        return "orders"
    return None


def is_candidate(file: RemoteFile, pattern: str) -> bool:
    """Matches the pattern (case-insensitively) and is no temp or hidden file."""
    name = file.name
    if name.startswith(".") or name.lower().endswith(".tmp"):
        return False
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


@dataclass
class Parsed:
    """One downloaded file: its IDoc records by stream, or why it cannot be read."""

    file: RemoteFile
    sha256: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None
    raw: str | None = None
    guess: str | None = None
    """For an unreadable file, the stream its content suggests."""
    unrouted: list[str] = field(default_factory=list)
    """IDoc types in the file that no stream reads."""

    @property
    def streams(self) -> list[str]:
        return [name for name in STREAMS if name in self.records]


class Inbox:
    """Shared by the streams of one run (see the module docstring)."""

    def __init__(
        self,
        settings: IdocConfig,
        committed: Mapping[str, Any],
        selected: Collection[str],
        logger: logging.Logger,
    ) -> None:
        self.settings = settings
        self.committed = _bookmarks(committed)
        self.selected = [name for name in STREAMS if name in selected]
        self.logger = logger
        self._session: SftpSession | None = None
        self._candidates: list[RemoteFile] | None = None
        self._present: set[str] = set()
        self._cache: dict[str, Parsed] = {}
        self._cached_bytes = 0

    # -------------------------------------------------------------- session

    @contextmanager
    def opened(self) -> Iterator[None]:
        """An SFTP session for one stream's sync, closed when its records are done.

        Per stream rather than per run: singer-sdk's dry run (`run_sync_dry_run`,
        final) syncs streams without a hook at the end of the run.
        """
        with connect(self.settings) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    @property
    def session(self) -> SftpSession:
        assert self._session is not None, "use `with inbox.opened():`"
        return self._session

    # -------------------------------------------------------------- the run

    def candidates(self) -> list[RemoteFile]:
        """Files to read this run; the first call first moves what is committed."""
        if self._candidates is None:
            listing = self.session.list_files(self.settings.inbound_dir, setting="inbound_dir")
            moved = self._settle_committed(listing)
            remaining = [f for f in listing if f.name not in moved]
            self._present = {f.name for f in remaining}
            cutoff = time.time() - self.settings.settle_seconds
            fresh = [f for f in remaining if is_candidate(f, self.settings.file_pattern)]
            settling = [f for f in fresh if f.mtime > cutoff]
            if settling:
                self.logger.info(
                    "%d file(s) modified in the last %ss left for the next run: %s",
                    len(settling),
                    self.settings.settle_seconds,
                    ", ".join(f.name for f in settling[:5]),
                )
            self._candidates = [f for f in fresh if f.mtime <= cutoff]
        return self._candidates

    def prune(self, files: dict[str, Any]) -> None:
        """Drop bookmark entries of files no longer in the inbound folder."""
        self.candidates()
        for name in [n for n in files if n not in self._present]:
            del files[name]

    def load(self, file: RemoteFile) -> Parsed | None:
        """The file's records by stream (cached for this run); None if it is still growing."""
        cached = self._cache.get(file.name)
        if cached is not None:
            return cached
        data = self.session.read(file.path, setting="inbound_dir")
        if len(data) != file.size:
            self.logger.info("%s changed while it was read; left for the next run", file.name)
            return None
        parsed = self._parse(file, data)
        if self._cached_bytes + file.size <= CACHE_BYTES:
            self._cache[file.name] = parsed
            self._cached_bytes += file.size
        return parsed

    def reporter(self, parsed: Parsed) -> str | None:
        """The one selected stream that reports an unreadable file."""
        if parsed.guess in self.selected:
            return parsed.guess
        return self.selected[0] if self.selected else None

    # -------------------------------------------------------------- internals

    def _parse(self, file: RemoteFile, data: bytes) -> Parsed:
        parsed = Parsed(file=file, sha256=hashlib.sha256(data).hexdigest())
        try:
            records = read_idocs(data, file=file.name, timezone=self.settings.timezone)
        except DataError as exc:
            parsed.error = str(exc)
            match = _CONTENT_HINT.search(data[:4096]) or _NAME_HINT.search(file.name.encode())
            parsed.guess = route(match.group(1).decode().upper(), None) if match else None
            parsed.raw = _excerpt(data)
            return parsed
        for record in records:
            stream = route(record.get("IDOCTYP"), record.get("MESTYP"))
            if stream is None:
                parsed.unrouted.append(f"{record.get('IDOCTYP')}/{record.get('MESTYP')}")
            else:
                parsed.records.setdefault(stream, []).append(record)
        if parsed.unrouted:
            self.logger.warning(
                "%s: no stream reads IDoc type(s) %s; %s",
                file.name,
                ", ".join(sorted(set(parsed.unrouted))),
                "they are archived with the file"
                if parsed.records
                else "the file is left in inbound_dir",
            )
        return parsed

    def _settle_committed(self, listing: list[RemoteFile]) -> set[str]:
        """Move the files the committed state says are done; return their names."""
        by_name = {f.name: f for f in listing}
        moved: set[str] = set()
        for name, entry in _done_entries(self.committed).items():
            file = by_name.get(name)
            if file is None:
                continue  # moved by an earlier run whose state was not committed
            if (file.size, file.mtime) != (entry.get("size"), entry.get("mtime")):
                self.logger.warning("%s changed since it was read; reading it again", name)
                continue
            if entry.get("error"):
                self._move_to_errors(file, str(entry["error"]), str(entry.get("sha256")))
            else:
                self._move(file, self.settings.archive_dir, "archive_dir", entry.get("sha256"))
            moved.add(name)
        if moved:
            self.logger.info("moved %d committed file(s) out of inbound_dir", len(moved))
        return moved

    def _move(self, file: RemoteFile, folder: str, setting: str, sha256: Any) -> str:
        """Rename into `folder` (see `_free_target`); returns the new path."""
        target = self._free_target(file, folder, setting, sha256)
        self.session.replace(file.path, target, setting=setting)
        return target

    def _move_to_errors(self, file: RemoteFile, reason: str, sha256: str) -> None:
        """Write the note first: a file never sits in error_dir without its reason."""
        target = self._free_target(file, self.settings.error_dir, "error_dir", sha256)
        note = (
            f"{file.name} could not be read as IDoc-XML and was moved here by L2C Hub "
            f"(sap_idoc) on {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC.\n\n"
            f"Reason: {reason}\n\nsha256: {sha256}\n\n"
            "The hub quarantined it as one record; fix the file and drop it into the "
            "inbound folder again to have it read.\n"
        )
        self.session.write(f"{target}.error.txt", note.encode(), setting="error_dir")
        self.session.replace(file.path, target, setting="error_dir")

    def _free_target(self, file: RemoteFile, folder: str, setting: str, sha256: Any) -> str:
        """``folder/name``, or ``folder/stem.<sha256 prefix>.ext`` if that name is taken.

        Nothing already in the folder is overwritten: a taken name gets the content's
        hash, and a file with that hashed name already holds the same content.
        """
        target = posixpath.join(folder, file.name)
        if not self.session.exists(target, setting=setting):
            return target
        stem, dot, suffix = file.name.rpartition(".")
        tag = str(sha256 or "")[:12] or str(int(time.time()))
        return posixpath.join(folder, f"{stem}.{tag}.{suffix}" if dot else f"{file.name}.{tag}")


def _bookmarks(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    bookmarks = state.get("bookmarks") if isinstance(state, Mapping) else None
    if not isinstance(bookmarks, Mapping):
        return {}
    result: dict[str, dict[str, Any]] = {}
    for stream in STREAMS:
        files = (bookmarks.get(stream) or {}).get("files")
        if isinstance(files, Mapping):
            result[stream] = dict(files)
    return result


def _done_entries(bookmarks: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Files whose every routed stream has committed the same content."""
    done: dict[str, Mapping[str, Any]] = {}
    for files in bookmarks.values():
        for name, entry in files.items():
            if name in done or not isinstance(entry, Mapping):
                continue
            streams = entry.get("streams") or []
            if streams and all(
                (bookmarks.get(stream) or {}).get(name, {}).get("sha256") == entry.get("sha256")
                for stream in streams
            ):
                done[name] = entry
    return done


def _excerpt(data: bytes) -> str:
    """The file's start as text; NUL becomes U+FFFD (PostgreSQL text cannot hold NUL)."""
    text = data[:RAW_EXCERPT].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if len(data) > RAW_EXCERPT:
        text += f"\n... ({len(data) - RAW_EXCERPT} more bytes in the file)"
    return text
