"""Incremental reading by file fingerprint, resume inside a file, and STATE cadence."""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage

from connectors.files import FilesTap
from connectors.sdk.embedding import CallbackWriter, Capture, embeddable
from connectors.sdk.errors import TransientError

STREAM = {"name": "customers", "pattern": "customers*.csv", "key_properties": ["id"]}

Sync = Callable[..., Capture]  # the `sync` fixture of conftest.py


def write_rows(path: Path, ids: range | list[int]) -> None:
    path.write_text("id,name\n" + "".join(f"{i},name {i}\n" for i in ids), "utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ids(capture) -> list[str]:
    return [r["id"] for r in capture.records_of("customers")]


def test_second_run_over_the_same_files_emits_no_records(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", range(1, 4))
    write_rows(drop / "customers_2.csv", range(4, 6))

    first = sync(STREAM)
    second = sync(STREAM, state=first.last_state)

    assert ids(first) == ["1", "2", "3", "4", "5"]
    assert second.records == []
    assert second.last_state == first.last_state


def test_final_state_lists_each_file_by_fingerprint(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", range(1, 4))

    state = sync(STREAM).last_state

    assert state == {
        "bookmarks": {
            "customers": {
                "files": {sha256(drop / "customers_1.csv"): {"path": "customers_1.csv", "rows": 3}}
            }
        }
    }


def test_renamed_and_touched_file_is_still_skipped(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", range(1, 4))
    state = sync(STREAM).last_state

    renamed = (drop / "customers_1.csv").rename(drop / "customers_archive.csv")
    os.utime(renamed, None)

    assert sync(STREAM, state=state).records == []


def test_modified_file_is_read_again_in_full(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", range(1, 4))
    write_rows(drop / "customers_2.csv", [9])
    state = sync(STREAM).last_state

    write_rows(drop / "customers_1.csv", range(1, 5))  # a corrected export, one row more

    assert ids(sync(STREAM, state=state)) == ["1", "2", "3", "4"]


def test_resume_after_partial_state_skips_committed_rows(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", range(1, 6))
    sha = sha256(drop / "customers_1.csv")
    state = {
        "bookmarks": {
            "customers": {
                "files": {},
                "current": {"sha256": sha, "path": "customers_1.csv", "row": 2},
            }
        }
    }

    capture = sync(STREAM, state=state)

    assert ids(capture) == ["3", "4", "5"]
    assert [r["_row"] for r in capture.records_of("customers")] == [3, 4, 5]
    assert capture.last_state["bookmarks"]["customers"]["files"][sha]["rows"] == 5


def test_partial_state_of_other_content_does_not_skip_rows(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", range(1, 4))
    state = {"bookmarks": {"customers": {"current": {"sha256": "0" * 64, "row": 2}}}}

    assert ids(sync(STREAM, state=state)) == ["1", "2", "3"]


def test_files_are_read_in_sorted_path_order(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_2024-03-02.csv", [2])
    write_rows(drop / "customers_2024-03-10.csv", [3])
    write_rows(drop / "customers_2024-03-01.csv", [1])

    assert ids(sync(STREAM)) == ["1", "2", "3"]


def test_duplicate_keys_across_and_within_files_are_all_emitted(drop: Path, sync: Sync) -> None:
    write_rows(drop / "customers_1.csv", [1, 1])
    write_rows(drop / "customers_2.csv", [1])

    assert ids(sync(STREAM)) == ["1", "1", "1"]


def test_state_comes_every_n_records_and_after_each_file_never_ahead_of_records(
    drop: Path,
) -> None:
    write_rows(drop / "customers_1.csv", range(1, 6))
    write_rows(drop / "customers_2.csv", [6])
    messages: list = []
    tap = embeddable(FilesTap)(
        config={"path": str(drop), "streams": [STREAM], "state_every": 2},
        message_writer=CallbackWriter(messages.append),
    )

    tap.sync_all()

    trail = []
    last_row = None
    for message in messages:
        if isinstance(message, RecordMessage):
            last_row = (message.record["_file"], message.record["_row"])
        elif isinstance(message, StateMessage):
            stream = message.value["bookmarks"]["customers"]
            current = stream.get("current")
            if current:  # a STATE inside a file covers exactly the rows emitted so far
                assert (current["path"], current["row"]) == last_row
            done = sorted(f["path"] for f in stream["files"].values())
            trail.append((current and current["row"], done))
    assert trail == [
        (2, []),  # records 2 and 4: the every-N cadence
        (4, []),
        (None, ["customers_1.csv"]),  # file 1 complete
        (1, ["customers_1.csv"]),  # record 6 of the run, row 1 of file 2
        (None, ["customers_1.csv", "customers_2.csv"]),
    ]


def test_crash_mid_file_then_resume_delivers_every_row_once_after_the_last_state(
    drop: Path, sync: Sync
) -> None:
    write_rows(drop / "customers_1.csv", range(1, 8))
    committed: list[str] = []
    pending: list[str] = []
    last_state: dict = {}

    class CrashError(Exception):
        pass

    def host(message) -> None:
        """A host that commits records when a STATE arrives, and dies at record 6."""
        nonlocal last_state
        if isinstance(message, RecordMessage):
            if message.record["id"] == "6":
                raise CrashError
            pending.append(message.record["id"])
        elif isinstance(message, StateMessage):
            committed.extend(pending)
            pending.clear()
            last_state = copy.deepcopy(message.value)

    tap = embeddable(FilesTap)(
        config={"path": str(drop), "streams": [STREAM], "state_every": 2},
        message_writer=CallbackWriter(host),
    )
    with pytest.raises(CrashError):
        tap.sync_all()

    resumed = sync(STREAM, state=last_state, state_every=2)

    assert committed == ["1", "2", "3", "4"]
    assert committed + ids(resumed) == [str(i) for i in range(1, 8)]


def test_file_growing_while_read_is_a_transient_error_and_is_reread_next_time(
    drop: Path, sync: Sync
) -> None:
    path = drop / "customers_1.csv"
    write_rows(path, range(1, 3))
    states: list[dict] = []

    def append_once(message) -> None:
        if isinstance(message, StateMessage):
            states.append(message.value)
        if isinstance(message, RecordMessage) and message.record["_row"] == 1:
            with path.open("a", encoding="utf-8") as handle:
                handle.write("3,name 3\n")

    tap = embeddable(FilesTap)(
        config={"path": str(drop), "streams": [STREAM]},
        message_writer=CallbackWriter(append_once),
    )
    with pytest.raises(TransientError, match="changed while it was being read"):
        tap.sync_all()

    assert ids(sync(STREAM, state=states[-1] if states else None)) == ["1", "2", "3"]
