"""The webhook inbox: group-committed ingest, and processing through the sync path."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.model.tables import (
    Account,
    Connection,
    ExternalRef,
    InboxEvent,
    RecordChange,
    SyncJob,
    SyncRun,
    Tenant,
)
from core.store.inbox import NewEvent, insert_events, insert_events_now
from core.sync.runs import start_run
from scheduler.inbox import LEASE, process_pending, requeue
from scheduler.inbox_writer import InboxUnavailable, InboxWriter
from scheduler.webhooks import WebhookSettings, update_settings


def customer(code: str, version: int, city: str) -> dict[str, str]:
    return {
        "customer_code": code,
        "company_name": f"测试{code}有限公司",
        "industry_code": "01",
        "city": city,
        "credit_limit": f"{version * 1000}.00",
        "updated_at": f"2024-05-0{version} 09:00:00",
    }


def event(connection: Connection, event_id: str, body: dict[str, Any]) -> NewEvent:
    return NewEvent(connection.tenant_id, connection.id, event_id, None, orjson.dumps(body))


def deliver(engine: Engine, *events: NewEvent) -> None:
    with engine.begin() as db:
        insert_events(db, events)


@pytest.fixture
def customers_job(sessions: sessionmaker[Session], connection: Connection) -> SyncJob:
    with sessions.begin() as session:
        job = SyncJob(
            tenant_id=connection.tenant_id,
            name="erp-customers",
            connection_id=connection.id,
            mappings=["files/demo_accounts"],
            streams=["customers"],
        )
        session.add(job)
    return job


def stored_customers(sessions: sessionmaker[Session], connection: Connection) -> dict[str, Any]:
    with sessions() as session:
        rows = session.execute(
            select(ExternalRef.external_id, Account.city, Account.credit_limit)
            .join(Account, Account.id == ExternalRef.entity_id)
            .where(ExternalRef.connection_id == connection.id)
        ).all()
    return {code: (city, credit) for code, city, credit in rows}


def statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return dict(session.execute(select(InboxEvent.event_id, InboxEvent.status)).all())


# ------------------------------------------------------------------ processing
def test_events_are_mapped_through_the_job_as_a_webhook_run(
    engine: Engine,
    sessions: sessionmaker[Session],
    connection: Connection,
    customers_job: SyncJob,
) -> None:
    deliver(
        engine,
        event(connection, "e1", {"type": "customers.created", "data": customer("C1", 1, "上海市")}),
        event(
            connection,
            "e2",
            {
                "type": "customers.updated",
                "data": [customer("C2", 1, "北京市"), customer("C3", 1, "深圳市")],
            },
        ),
    )
    connector_event = {"data": customer("C4", 1, "广州市")}  # a connector scheme's event
    deliver(
        engine,
        NewEvent(
            connection.tenant_id, connection.id, "e3", "customers", orjson.dumps(connector_event)
        ),
    )
    report = process_pending(sessions)
    assert (report.claimed, report.processed, report.failed, len(report.runs)) == (3, 3, 0, 1)
    assert stored_customers(sessions, connection) == {
        "C1": ("上海市", Decimal("1000.00")),
        "C2": ("北京市", Decimal("1000.00")),
        "C3": ("深圳市", Decimal("1000.00")),
        "C4": ("广州市", Decimal("1000.00")),
    }
    with sessions() as session:
        run = session.get_one(SyncRun, report.runs[0])
        rows = session.scalars(select(InboxEvent)).all()
        changes = session.scalar(select(func.count()).select_from(RecordChange))
    assert (run.trigger, run.status, run.inserted_count, run.job_id) == (
        "webhook", "completed", 4, customers_job.id
    )  # fmt: skip
    assert {(r.status, r.run_id, r.attempts) for r in rows} == {("processed", run.id, 1)}
    assert changes == 4  # the change log (and so the outbox) saw the webhook's records


def test_newest_source_version_wins_when_v2_arrives_before_v1(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection, customers_job: SyncJob
) -> None:
    v1 = {"type": "customers.updated", "data": customer("C1", 1, "上海市")}
    v2 = {"type": "customers.updated", "data": customer("C1", 2, "杭州市")}
    deliver(engine, event(connection, "v2", v2))
    process_pending(sessions)
    deliver(engine, event(connection, "v1", v1))  # late, older
    assert process_pending(sessions).processed == 1
    assert stored_customers(sessions, connection) == {"C1": ("杭州市", Decimal("2000.00"))}
    # both in one pass, v2 first again: same outcome
    v3 = {"type": "customers.updated", "data": customer("C2", 3, "南京市")}
    old = {"type": "customers.updated", "data": customer("C2", 1, "苏州市")}
    deliver(engine, event(connection, "c2-v3", v3), event(connection, "c2-v1", old))
    process_pending(sessions)
    assert stored_customers(sessions, connection)["C2"] == ("南京市", Decimal("3000.00"))


def test_processing_an_event_twice_has_no_second_effect(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection, customers_job: SyncJob
) -> None:
    deliver(
        engine,
        event(connection, "e1", {"type": "customers.updated", "data": customer("C1", 1, "x")}),
    )
    process_pending(sessions)
    assert process_pending(sessions).claimed == 0  # processed events are not taken again

    with sessions.begin() as session:  # as if a worker died after mapping, before settling
        session.execute(update(InboxEvent).values(status="pending"))
    report = process_pending(sessions)
    with sessions() as session:
        run = session.get_one(SyncRun, report.runs[0])
        changes = session.scalar(select(func.count()).select_from(RecordChange))
    assert (report.processed, run.inserted_count, run.updated_count, run.unchanged_count) == (
        1,
        0,
        0,
        1,
    )
    assert changes == 1


def test_unmapped_stream_fails_visibly_and_is_processed_after_retry(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection
) -> None:
    deliver(
        engine,
        event(connection, "e1", {"type": "customers.updated", "data": customer("C1", 1, "x")}),
        event(connection, "e2", {"type": "invoices.paid", "data": {"n": 1}}),
    )
    report = process_pending(sessions)
    assert (report.failed, report.processed) == (2, 0)
    with sessions() as session:
        errors = dict(session.execute(select(InboxEvent.event_id, InboxEvent.error)).all())
    assert "maps stream 'customers'" in str(errors["e1"])
    assert "maps stream 'invoices'" in str(errors["e2"])

    with sessions.begin() as session:
        session.add(
            SyncJob(
                tenant_id=connection.tenant_id,
                name="customers",
                connection_id=connection.id,
                mappings=["files/demo_accounts"],
            )
        )
    with sessions.begin() as session:
        assert requeue(session, connection.id) == 2
    report = process_pending(sessions)
    assert statuses(sessions) == {"e1": "processed", "e2": "failed"}
    assert stored_customers(sessions, connection) == {"C1": ("x", Decimal("1000.00"))}


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from cryptography.fernet import Fernet

    from core.settings import get_settings

    monkeypatch.setenv("L2C_SECRET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("secret_key")
def test_type_map_routes_event_types_to_streams_at_processing_time(
    engine: Engine,
    sessions: sessionmaker[Session],
    connection: Connection,
    customers_job: SyncJob,
) -> None:
    body = {"type": "BusinessPartner.Changed", "data": customer("C1", 1, "x")}
    deliver(engine, event(connection, "e1", body))
    assert process_pending(sessions).failed == 1  # stream "BusinessPartner" is not mapped
    with sessions.begin() as session:
        settings = WebhookSettings(streams={"BusinessPartner.Changed": "customers"})
        update_settings(session, connection.tenant_id, connection.id, settings)
        requeue(session, connection.id)
    assert process_pending(sessions).processed == 1
    with sessions() as session:
        assert session.scalars(select(InboxEvent.stream)).one() == "customers"


def test_unreadable_bodies_fail_with_the_reason(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection, customers_job: SyncJob
) -> None:
    deliver(
        engine,
        NewEvent(connection.tenant_id, connection.id, "junk", None, b"not json"),
        event(connection, "list", {"type": "customers.updated", "data": [1, 2]}),
        event(connection, "ok", {"type": "customers.updated", "data": customer("C1", 1, "x")}),
    )
    report = process_pending(sessions)
    assert statuses(sessions) == {"junk": "failed", "list": "failed", "ok": "processed"}
    assert (report.failed, report.processed) == (2, 1)


def test_a_busy_job_leaves_its_events_pending(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection, customers_job: SyncJob
) -> None:
    with sessions.begin() as session:
        start_run(session, session.get_one(SyncJob, customers_job.id), "manual")  # alive: us
    deliver(
        engine,
        event(connection, "e1", {"type": "customers.updated", "data": customer("C1", 1, "x")}),
    )
    report = process_pending(sessions)
    assert (report.deferred, report.processed, report.failed) == (1, 0, 0)
    with sessions() as session:
        row = session.scalars(select(InboxEvent)).one()
    assert (row.status, row.attempts, row.error) == ("pending", 0, None)


def test_claims_of_a_dead_worker_are_taken_over(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection, customers_job: SyncJob
) -> None:
    deliver(
        engine,
        event(connection, "e1", {"type": "customers.updated", "data": customer("C1", 1, "x")}),
    )
    with sessions.begin() as session:
        stale = utcnow() - LEASE - timedelta(seconds=1)
        session.execute(update(InboxEvent).values(status="processing", processed_at=stale))
    assert process_pending(sessions).processed == 1
    with sessions.begin() as session:  # a fresh claim is left alone
        session.execute(update(InboxEvent).values(status="processing", processed_at=utcnow()))
    assert process_pending(sessions).claimed == 0


def test_one_connection_at_a_time_when_asked(
    engine: Engine, sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    with sessions.begin() as session:
        other = Connection(tenant_id=tenant.id, name="other", connector="files", config={})
        session.add(other)
    deliver(
        engine,
        event(connection, "a", {"type": "x.y", "data": {}}),
        event(other, "b", {"type": "x.y", "data": {}}),
    )
    assert process_pending(sessions, connection_id=other.id).claimed == 1
    assert statuses(sessions) == {"a": "pending", "b": "failed"}


# ------------------------------------------------------------------ the group-commit writer
def test_writer_stores_each_event_once_under_concurrent_redelivery(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection
) -> None:
    """16 threads submit 400 events, each twice (so redeliveries race their originals
    within and across batches): 400 rows, and each event id has exactly one first
    delivery, every delivery of it pointing at the same row."""
    writer = InboxWriter(engine)
    outcomes: dict[str, list[Any]] = defaultdict(list)
    lock = threading.Lock()

    def send(worker: int) -> None:
        for n in range(50):
            number = (worker * 50 + n) % 400
            item = event(connection, f"evt-{number}", {"type": "x.y", "data": {"n": number}})
            stored = writer.submit([item]).result(timeout=30)
            with lock:
                outcomes[item.event_id] += stored

    threads = [threading.Thread(target=send, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert len(outcomes) == 400
    for event_id, stored in outcomes.items():
        assert len(stored) == 2 and len({s.id for s in stored}) == 1, event_id
        assert sorted(s.duplicate for s in stored) == [False, True], event_id
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 400


def test_writer_answers_the_event_loop_after_the_commit(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection
) -> None:
    committed: list[set[Any]] = []
    writer = InboxWriter(engine, on_stored=committed.append)

    async def many() -> list[Any]:
        items = [event(connection, f"e{i % 150}", {"type": "x.y", "data": {}}) for i in range(300)]
        return await asyncio.gather(*(writer.store([item]) for item in items))

    answers = asyncio.run(many())
    writer.close()
    assert sum(not stored[0].duplicate for stored in answers) == 150
    assert set().union(*committed) == {connection.id}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 150


def test_writer_failure_stores_nothing_and_recovers(
    engine: Engine,
    sessions: sessionmaker[Session],
    connection: Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = InboxWriter(engine)
    real = insert_events_now
    calls = 0

    def flaky(*_args: Any) -> Any:
        nonlocal calls
        calls += 1
        raise OperationalError("INSERT", {}, Exception("connection lost"))

    monkeypatch.setattr("scheduler.inbox_writer.insert_events_now", flaky)
    futures = [
        writer.submit([event(connection, f"e{i}", {"type": "x.y", "data": {}})]) for i in range(5)
    ]
    for future in futures:
        with pytest.raises(InboxUnavailable):
            future.result(timeout=30)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxEvent)) == 0
    monkeypatch.setattr("scheduler.inbox_writer.insert_events_now", real)
    assert (
        writer.submit([event(connection, "e0", {"type": "x.y", "data": {}})])
        .result(30)[0]
        .duplicate
        is False
    )
    writer.close()
    with pytest.raises(InboxUnavailable):
        writer.submit([event(connection, "late", {"type": "x.y", "data": {}})])
    assert calls == 1  # an unreachable database fails the whole batch at once


def test_one_refused_event_does_not_sink_its_batch(
    engine: Engine,
    sessions: sessionmaker[Session],
    connection: Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch the database refuses for its values is retried request by request."""
    real = insert_events_now
    refused = engine.dialect.loaded_dbapi.IntegrityError

    def picky(driver: Any, dialect: Any, events: Any) -> Any:
        if any(e.event_id == "poison" for e in events):
            raise refused("a value the database refuses")
        return real(driver, dialect, events)

    monkeypatch.setattr("scheduler.inbox_writer.insert_events_now", picky)
    gate = threading.Event()

    def hold(_ids: set[Any]) -> None:
        gate.wait(5)

    writer = InboxWriter(engine, on_stored=hold)
    first = writer.submit([event(connection, "first", {"type": "x.y", "data": {}})])
    batch = [
        writer.submit([event(connection, n, {"type": "x.y", "data": {}})])
        for n in ("a", "poison", "b")
    ]
    gate.set()  # the three above queue up behind `first`: one batch
    assert first.result(30)[0].duplicate is False
    assert [f.exception(30) is None for f in batch] == [True, False, True]
    assert isinstance(batch[1].exception(), InboxUnavailable)
    writer.close()
    assert set(statuses(sessions)) == {"first", "a", "b"}


def test_a_job_whose_mapping_is_broken_is_named_in_the_events_error(
    engine: Engine, sessions: sessionmaker[Session], connection: Connection
) -> None:
    with sessions.begin() as session:
        session.add(
            SyncJob(
                tenant_id=connection.tenant_id,
                name="customers",
                connection_id=connection.id,
                mappings=["files/no_such_mapping"],
                streams=["customers"],
            )
        )
    deliver(engine, event(connection, "e1", {"type": "customers.updated", "data": {}}))
    assert process_pending(sessions).failed == 1
    with sessions() as session:
        error = session.scalars(select(InboxEvent.error)).one()
    assert error is not None and error.startswith("sync job 'customers' cannot run: no mapping")
