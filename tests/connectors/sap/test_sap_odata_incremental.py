"""The tap against the fake S/4HANA: paging, incremental overlap + de-dup, crash resume."""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from singer_sdk.singerlib import RecordMessage, StateMessage

from connectors.sap.fake import FakeS4, serve_fake
from connectors.sap.odata.streams import STREAMS
from connectors.sap.odata.tap import SapODataStream, SapODataTap
from connectors.sdk import CallbackWriter, embeddable

USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
COUNTS = {"business_partners": 60, "products": 20, "sales_orders": 30, "billing_documents": 20}


class CrashError(Exception):
    """Stands for the process dying while the hub consumes messages."""


class Run:
    """One tap run: records per stream, and the STATE messages in order."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.states: list[dict[str, Any]] = []

    def keys(self, stream: str) -> list[str]:
        key = STREAMS[stream].key[0]
        return [r[key] for r in self.records.get(stream, [])]


def run_tap(
    config: dict[str, Any], state: dict[str, Any] | None = None, *, crash_after: int | None = None
) -> Run:
    run = Run()
    seen = 0

    def on_message(message: Any) -> None:
        nonlocal seen
        if isinstance(message, RecordMessage):
            if crash_after is not None and seen >= crash_after:
                raise CrashError
            seen += 1
            run.records.setdefault(message.stream, []).append(message.record)
        elif isinstance(message, StateMessage):
            run.states.append(copy.deepcopy(dict(message.value)))

    tap = embeddable(SapODataTap)(
        config=config,
        state=copy.deepcopy(state) if state else None,
        message_writer=CallbackWriter(on_message),
    )
    with contextlib.suppress(CrashError):
        tap.sync_all()
    return run


@pytest.fixture
def fake() -> FakeS4:
    return FakeS4(
        business_partners=COUNTS["business_partners"],
        products=COUNTS["products"],
        sales_orders=COUNTS["sales_orders"],
        billing_documents=COUNTS["billing_documents"],
        seed=7,
        page_size=7,
        username=USER,
        password=PASSWORD,
    )


@pytest.fixture
def base_url(fake: FakeS4) -> Iterator[str]:
    with serve_fake(fake) as url:
        yield url


def settings(base_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": base_url,
        "sap_client": "100",
        "auth": {"type": "basic", "username": USER, "password": PASSWORD},
        "page_size": 1000,
        "overlap_seconds": 300,
    }
    config.update(overrides)
    return config


def requests_for(fake: FakeS4, entity_set: str) -> int:
    return int(fake.stats()["requests"].get(f"GET {entity_set}", 0))


# ---------------------------------------------------------------------- paging


def test_server_paging_is_followed_through_next_links(fake: FakeS4, base_url: str) -> None:
    run = run_tap(settings(base_url, streams=["sales_orders"]))
    keys = run.keys("sales_orders")
    assert len(keys) == COUNTS["sales_orders"]
    assert len(set(keys)) == len(keys)
    # 30 orders, 7 per server page, one $top window of 1000: five requests.
    assert requests_for(fake, "A_SalesOrder") == 5


def test_client_windows_seek_by_timestamp_and_miss_nothing(fake: FakeS4, base_url: str) -> None:
    run = run_tap(settings(base_url, page_size=4))
    for stream, count in COUNTS.items():
        keys = run.keys(stream)
        assert sorted(keys) == sorted(set(keys)), f"{stream}: duplicates"
        assert len(keys) == count, stream
    assert requests_for(fake, "A_SalesOrder") >= COUNTS["sales_orders"] // 4


def test_records_are_emitted_in_replication_key_order_within_a_branch(base_url: str) -> None:
    run = run_tap(settings(base_url, streams=["sales_orders", "products"], page_size=6))
    for stream in ("sales_orders", "products"):
        stamps = [r["LastChangeDateTime"] for r in run.records[stream]]
        parsed = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
        assert parsed == sorted(parsed)


def test_business_partners_changed_and_never_changed_are_all_read(
    fake: FakeS4, base_url: str
) -> None:
    run = run_tap(settings(base_url, streams=["business_partners"], page_size=9))
    records = run.records["business_partners"]
    assert len({r["BusinessPartner"] for r in records}) == COUNTS["business_partners"]
    never_changed = [r for r in records if r["LastChangeDate"] is None]
    assert never_changed, "the fake has partners never changed; they must be read too"
    for record in never_changed:
        assert record["_changed_at"] == f"{record['CreationDate']}T{record['CreationTime']}Z"
    state = run.states[-1]["bookmarks"]["business_partners"]
    assert set(state["branches"]) == {"changed", "created"}


# ---------------------------------------------------------------------- incremental


def test_second_run_emits_only_what_changed(fake: FakeS4, base_url: str) -> None:
    config = settings(base_url)
    first = run_tap(config)
    assert {s: len(first.keys(s)) for s in COUNTS} == COUNTS
    state = first.states[-1]

    unchanged = run_tap(config, state)
    assert unchanged.records == {}

    fake.touch("A_SalesOrder", "7", PurchaseOrderByCustomer="PO-CHANGED-7")
    fake.touch("A_SalesOrder", "12")
    fake.touch("A_Product", first.keys("products")[3])
    partner = first.keys("business_partners")[5]
    fake.touch("A_BusinessPartner", partner, SearchTerm1="TOUCHED")
    changed = run_tap(config, unchanged.states[-1])
    assert sorted(changed.keys("sales_orders")) == ["12", "7"]
    assert changed.keys("products") == [first.keys("products")[3]]
    assert changed.keys("business_partners") == [partner]
    assert changed.records["business_partners"][0]["SearchTerm1"] == "TOUCHED"
    order_7 = next(r for r in changed.records["sales_orders"] if r["SalesOrder"] == "7")
    assert order_7["PurchaseOrderByCustomer"] == "PO-CHANGED-7"

    # Re-read inside the overlap window, but already emitted with these stamps: skipped.
    again = run_tap(config, changed.states[-1])
    assert again.records == {}

    # A newer version of a record already emitted inside the window comes again.
    time.sleep(0.01)
    fake.touch("A_SalesOrder", "7", PurchaseOrderByCustomer="PO-CHANGED-AGAIN")
    newer = run_tap(config, again.states[-1])
    assert newer.keys("sales_orders") == ["7"]
    assert newer.records["sales_orders"][0]["PurchaseOrderByCustomer"] == "PO-CHANGED-AGAIN"


def test_many_partners_changed_in_the_same_second_are_all_read_once(
    fake: FakeS4, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(base_url, streams=["business_partners"], page_size=3)
    first = run_tap(config)
    touched = first.keys("business_partners")[:10]
    for key in touched:  # the fake stamps partners to the second: one or two buckets
        fake.touch("A_BusinessPartner", key)
    caplog.set_level("INFO", logger="connectors.sap.odata")
    second = run_tap(config, first.states[-1])
    assert sorted(second.keys("business_partners")) == sorted(touched)
    # More rows than a page share one second: the bucket was read by key seek.
    assert "more than 3 rows at" in caplog.text


def test_state_keeps_only_keys_inside_the_overlap_window(base_url: str) -> None:
    run = run_tap(settings(base_url, streams=["sales_orders"]))
    state = run.states[-1]["bookmarks"]["sales_orders"]
    branch = state["branches"]["changed"]
    watermark = datetime.fromisoformat(branch["watermark"].replace("Z", "+00:00"))
    assert state["replication_key"] == "LastChangeDateTime"
    assert state["replication_key_value"] == branch["watermark"]
    for stamp in branch["seen"].values():
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert (watermark - moment).total_seconds() <= 300
    assert "progress_markers" not in state


def test_start_date_limits_the_first_run(base_url: str) -> None:
    everything = run_tap(settings(base_url, streams=["sales_orders"]))
    stamps = sorted(r["LastChangeDateTime"] for r in everything.records["sales_orders"])
    start = stamps[len(stamps) // 2]
    later = run_tap(settings(base_url, streams=["sales_orders"], start_date=start))
    expected = [
        r["SalesOrder"]
        for r in everything.records["sales_orders"]
        if r["LastChangeDateTime"] >= start
    ]
    assert sorted(later.keys("sales_orders")) == sorted(expected)
    assert 0 < len(expected) < len(stamps)


# ---------------------------------------------------------------------- crash resume


def test_a_crash_mid_stream_resumes_from_the_last_state_without_losing_records(
    monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    monkeypatch.setattr(SapODataStream, "STATE_MSG_FREQUENCY", 5)
    config = settings(base_url, page_size=4)
    crashed = run_tap(config, crash_after=37)
    assert sum(len(v) for v in crashed.records.values()) == 37
    assert crashed.states, "state must be written while a stream is read"
    committed = crashed.states[-1]
    resumed = run_tap(config, committed)
    total = sum(COUNTS.values())
    assert sum(len(v) for v in resumed.records.values()) < total, "resume must not start over"
    for stream, count in COUNTS.items():
        before = set(crashed.keys(stream))
        after = resumed.keys(stream)
        assert len(before | set(after)) == count, stream
        # At least once: only records after the last STATE can come twice.
        assert len(after) == len(set(after)), stream
    again = run_tap(config, resumed.states[-1])
    assert again.records == {}
