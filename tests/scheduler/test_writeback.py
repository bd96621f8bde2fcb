"""Write-back jobs (scheduler/writeback.py) with an in-memory writer, on both databases.

The writer keeps "remote" sales orders in a dict and finds them by idempotency key the
way the SAP writer does, so the tests can count what the remote system holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk.errors import DataError, TransientError
from connectors.sdk.writer import WriteRequest, WriteResult
from core.errors import ConfigError
from core.model.entities import entity
from core.model.tables import Connection, ExternalRef, SyncRun, Tenant, WritebackItem, table_of
from core.store import writeback as queue
from core.store.bulk import bulk_writer
from core.store.direct import create_record, patch_record
from core.store.records import read_record
from scheduler import connections, jobs, writeback
from scheduler.jobs import add_job, run_job

MAPPING = "sap/outbound/order_to_sales_order"
ACCOUNT_REMOTE = "0010100001"


@dataclass
class RemoteSystem:
    """What the fake ERP holds, and what the next calls should do."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    calls: list[WriteRequest] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)
    lose_next_response: int = 0


class MemoryWriter:
    def __init__(self, remote: RemoteSystem) -> None:
        self.remote = remote

    def upsert(self, request: WriteRequest) -> WriteResult:
        self.remote.calls.append(request)
        if self.remote.fail_next:
            raise self.remote.fail_next.pop(0)
        if request.remote_id is not None:
            self.remote.orders[request.remote_id].update(
                {k: v for k, v in request.payload.items() if k in request.owned}
            )
            return WriteResult(request.remote_id, created=False, status="B")
        found = self.remote.by_key.get(request.idempotency_key)
        if found is not None:
            return WriteResult(found, created=False, status="A")
        number = str(5000000 + len(self.remote.orders) + 1)
        self.remote.orders[number] = dict(request.payload)
        self.remote.by_key[request.idempotency_key] = number
        if self.remote.lose_next_response:
            self.remote.lose_next_response -= 1
            raise TransientError("the response was lost (timeout)")
        return WriteResult(number, created=True, status="A")

    def close(self) -> None:
        pass


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> RemoteSystem:
    system = RemoteSystem()
    spec = SimpleNamespace(
        writer=lambda _config: MemoryWriter(system),
        config_schema={"type": "object", "properties": {}},
    )
    monkeypatch.setattr(connections, "_connector", lambda _name: spec)
    monkeypatch.setattr(writeback, "get_connector", lambda _name: spec)
    monkeypatch.setattr(jobs, "get_connector", lambda _name: spec)
    return system


@pytest.fixture
def s4(sessions: sessionmaker[Session], tenant: Tenant) -> Connection:
    with sessions.begin() as session:
        connection = Connection(tenant_id=tenant.id, name="s4", connector="sap_odata", config={})
        session.add(connection)
    return connection


@pytest.fixture
def account_id(sessions: sessionmaker[Session], tenant: Tenant, s4: Connection) -> uuid.UUID:
    """A customer SAP knows (an xref under business_partners, as the inbound sync makes)."""
    with sessions.begin() as session:
        account = create_record(session, tenant.id, entity("account"), {"name": "华东精密机械"})
        bulk_writer(session).upsert(
            table_of(ExternalRef),
            ["connection_id", "entity", "object", "external_id"],
            ["tenant_id", "entity_id", "content_hash"],
            [
                (
                    s4.id,
                    "account",
                    "business_partners",
                    ACCOUNT_REMOTE,
                    tenant.id,
                    account["id"],
                    bytes(16),
                )
            ],
        )
    return account["id"]


def _order(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    account: uuid.UUID | None,
    number: str,
    status: str = "confirmed",
) -> uuid.UUID:
    with sessions.begin() as session:
        record = create_record(
            session,
            tenant.id,
            entity("order"),
            {
                "number": number,
                "account_id": account,
                "order_date": date(2024, 5, 6),
                "status": status,
                "currency": "CNY",
                "lines": [
                    {"line_no": 10, "sku": "P-1001", "quantity": Decimal(2), "unit": "H87"},
                ],
            },
        )
    return record["id"]


@pytest.fixture
def writeback_job(
    sessions: sessionmaker[Session], tenant: Tenant, s4: Connection, remote: RemoteSystem
) -> str:
    with sessions.begin() as session:
        add_job(
            session,
            session.get_one(Tenant, tenant.id),
            name="orders-out",
            connection=session.get_one(Connection, s4.id),
            mappings=[MAPPING],
            kind="writeback",
        )
    return "orders-out"


def _items(sessions: sessionmaker[Session]) -> dict[uuid.UUID, WritebackItem]:
    with sessions() as session:
        return {i.record_id: i for i in session.scalars(select(WritebackItem))}


def test_confirmed_orders_are_written_once_with_ids_and_status_recorded(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    s4: Connection,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    first = _order(sessions, tenant, account_id, "SO-1")
    second = _order(sessions, tenant, account_id, "SO-2")
    draft = _order(sessions, tenant, account_id, "SO-3", status="draft")

    report = run_job(sessions, "acme", writeback_job)

    assert report.status == "completed"
    assert (report.counts.inserted, report.counts.skipped) == (2, 1)
    assert len(remote.orders) == 2
    keys = {call.idempotency_key for call in remote.calls}
    assert keys == {first.hex, second.hex}
    assert remote.orders[remote.by_key[first.hex]]["SoldToParty"] == ACCOUNT_REMOTE
    items = _items(sessions)
    assert items[draft].status == "skipped"
    with sessions() as session:
        order = read_record(session, tenant.id, entity("order"), first)
        assert order is not None
        assert order["erp_status"] == "A"
        refs = {(r["object"], r["external_id"]) for r in order["external_refs"]}
        assert ("sales_orders", remote.by_key[first.hex]) in refs

    # the status the system answered is not a change to send back; nothing else changed
    calls = len(remote.calls)
    again = run_job(sessions, "acme", writeback_job)
    assert again.status == "completed"
    assert len(remote.calls) == calls
    assert len(remote.orders) == 2


def test_a_changed_order_is_updated_not_created_again(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    order = _order(sessions, tenant, account_id, "SO-1")
    run_job(sessions, "acme", writeback_job)
    number = remote.by_key[order.hex]
    with sessions.begin() as session:
        patch_record(session, tenant.id, entity("order"), order, {"number": "SO-1-REV"})

    report = run_job(sessions, "acme", writeback_job)

    assert report.counts.updated == 1
    last = remote.calls[-1]
    assert last.remote_id == number
    assert "PurchaseOrderByShipToParty" in last.owned
    assert remote.orders[number]["PurchaseOrderByShipToParty"] == "SO-1-REV"
    assert len(remote.orders) == 1


def test_a_lost_response_is_retried_and_finds_the_order_it_created(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    order = _order(sessions, tenant, account_id, "SO-1")
    remote.lose_next_response = 1

    first = run_job(sessions, "acme", writeback_job)

    assert first.counts.inserted == 0
    item = _items(sessions)[order]
    assert item.status == "pending" and item.attempts == 1
    assert "lost" in (item.last_error or "")
    # make it due now (the schedule's first retry is seconds away)
    with sessions.begin() as session:
        session.get_one(WritebackItem, item.id).next_attempt_at = item.created_at
    second = run_job(sessions, "acme", writeback_job)

    # found by its key (not created again), then updated to the current version
    assert second.counts.inserted == 1
    assert [c.remote_id for c in remote.calls[-2:]] == [None, remote.by_key[order.hex]]
    assert len(remote.orders) == 1
    assert _items(sessions)[order].status == "written"


def test_refusals_are_parked_with_the_reason_and_can_be_retried(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    unknown_customer = _order(sessions, tenant, None, "SO-9")
    refused = _order(sessions, tenant, account_id, "SO-10")
    remote.fail_next.append(DataError("Material P-1001 does not exist in sales org 1010"))

    report = run_job(sessions, "acme", writeback_job)

    assert report.status == "completed_with_errors"
    assert report.counts.quarantined == 2
    items = _items(sessions)
    assert items[unknown_customer].status == "failed"
    assert "SoldToParty" in (items[unknown_customer].last_error or "")
    assert "P-1001" in (items[refused].last_error or "")
    assert remote.orders == {}

    with sessions.begin() as session:
        job = jobs.get_job(session, session.get_one(Tenant, tenant.id), writeback_job)
        assert (
            queue.retry(session, tenant_id=tenant.id, job_id=job.id, ids=[items[refused].id]) == 1
        )
    retried = run_job(sessions, "acme", writeback_job)
    assert retried.counts.inserted == 1
    assert _items(sessions)[unknown_customer].status == "failed"


def test_changes_that_came_from_the_connection_are_not_written_back(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    s4: Connection,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    order = _order(sessions, tenant, account_id, "SO-1", status="draft")
    run_job(sessions, "acme", writeback_job)
    with sessions.begin() as session:  # SAP confirmed it (as the inbound sync would write)
        patch_record(
            session, tenant.id, entity("order"), order, {"status": "confirmed"}, connection_id=s4.id
        )

    report = run_job(sessions, "acme", writeback_job)

    assert report.counts.read == 0
    assert remote.calls == []


def test_transient_failures_back_off_and_end_dead(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    order = _order(sessions, tenant, account_id, "SO-1")
    remote.fail_next.append(TransientError("503 Service Unavailable", retry_after=120))

    run_job(sessions, "acme", writeback_job)

    item = _items(sessions)[order]
    assert item.status == "pending"
    assert (item.next_attempt_at - item.updated_at).total_seconds() >= 119
    with sessions.begin() as session:
        due = queue.due(session, tenant_id=tenant.id, job_id=item.job_id)
        assert due == []  # not before its time
        stored = session.get_one(WritebackItem, item.id)
        stored.attempts = 10
        stored.next_attempt_at = stored.created_at
    remote.fail_next.append(TransientError("503 again"))
    run_job(sessions, "acme", writeback_job)
    assert _items(sessions)[order].status == "dead"


def test_a_writeback_job_needs_an_outbound_mapping_for_its_connector(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    s4: Connection,
    remote: RemoteSystem,
) -> None:
    with sessions.begin() as session:
        owner = session.get_one(Tenant, tenant.id)
        connection = session.get_one(Connection, s4.id)
        with pytest.raises(ConfigError, match="no outbound mapping"):
            add_job(
                session,
                owner,
                name="x",
                connection=connection,
                mappings=["files/demo_orders"],
                kind="writeback",
            )
        with pytest.raises(ConfigError, match="sap_idoc connections"):
            add_job(
                session,
                owner,
                name="y",
                connection=connection,
                mappings=["sap/outbound/order_to_orders05"],
                kind="writeback",
            )


def test_runs_record_the_counts(
    sessions: sessionmaker[Session],
    tenant: Tenant,
    account_id: uuid.UUID,
    remote: RemoteSystem,
    writeback_job: str,
) -> None:
    _order(sessions, tenant, account_id, "SO-1")
    report = run_job(sessions, "acme", writeback_job)
    with sessions() as session:
        run = session.get_one(SyncRun, report.run_id)
        assert (run.read_count, run.inserted_count, run.status) == (1, 1, "completed")
