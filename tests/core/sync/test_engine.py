"""The sync engine: batches, state committed with data, quarantine, counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import DataError
from core.model.mapped import MappedRecord, Ref
from core.model.tables import Account, Contact, Quarantine, SyncJob, SyncRun, Tenant
from core.store.state import load_state
from core.sync.engine import RunTarget, SyncSink
from core.sync.runs import finish_run, start_run

HUAWEI = "914403001922038216"


@dataclass
class DictMapper:
    """A minimal Mapper: copies the listed fields, key from 'id'."""

    name: str = "test/customers"
    stream: str = "customers"
    object: str = "customers"
    entity: str = "account"
    fields: tuple[str, ...] = ("name", "uscc", "city")
    owns: frozenset[str] = frozenset()
    match: tuple[str, ...] = ()
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    fingerprint: bytes = b"dict-mapper/1"

    def key_of(self, record: Mapping[str, Any]) -> str:
        if "id" not in record:
            raise DataError("the record has no key", code="missing_key")
        return str(record["id"])

    def map(self, record: Mapping[str, Any]) -> MappedRecord | None:
        if record.get("deleted"):
            return None
        if record.get("boom"):
            raise DataError("boom: cannot map", field="name", code="boom")
        values = {f: record[f] for f in self.fields if f in record}
        for target_field, (object_, key) in self.refs.items():
            values[target_field] = Ref(object_, str(record[key]))
        ts = datetime.fromisoformat(record["ts"]) if "ts" in record else None
        return MappedRecord(str(record["id"]), values, ts)


def new_sink(sessions, tenant: Tenant, job: SyncJob, mappers, **kwargs) -> SyncSink:
    with sessions.begin() as session:
        run = start_run(session, session.get_one(SyncJob, job.id))
    target = RunTarget(tenant.id, job.connection_id, job.id, run.id)
    return SyncSink(sessions, target, mappers, **kwargs)


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_each_batch_commits_with_the_last_state_before_it(sessions, tenant, job) -> None:
    sink = new_sink(sessions, tenant, job, {"customers": [DictMapper()]}, batch_size=3)
    for i in range(1, 5):
        sink.record("customers", {"id": i, "name": f"C{i}"})
        if i == 2:
            sink.state({"bookmarks": {"customers": {"upto": 2}}})
    # the 3rd record filled a batch: records 1-3 and the state after record 2 are committed
    sink.wait()
    assert count(sessions, Account) == 3
    with sessions.begin() as session:
        assert load_state(session, job.id) == {"bookmarks": {"customers": {"upto": 2}}}
    sink.state({"bookmarks": {"customers": {"upto": 4}}})
    sink.close()
    assert count(sessions, Account) == 4
    with sessions.begin() as session:
        assert load_state(session, job.id) == {"bookmarks": {"customers": {"upto": 4}}}
        run = session.get_one(SyncRun, sink.target.run_id)
        assert (run.read_count, run.inserted_count) == (4, 4)


def test_bad_records_are_quarantined_and_the_run_goes_on(sessions, tenant, job) -> None:
    sink = new_sink(sessions, tenant, job, {"customers": [DictMapper()]})
    sink.record("customers", {"id": 1, "name": "Good"})
    sink.record("customers", {"id": 2, "name": "Bad USCC", "uscc": "91350100M000100Y44"})
    sink.record("customers", {"id": 3, "boom": True})
    sink.record("customers", {"id": 4, "name": "Gone", "deleted": True})
    sink.record("customers", {"id": 5, "city": "no name"})
    sink.record("customers", {"_error": "line 7 is not JSON", "_raw": "{oops"})
    sink.close()
    assert count(sessions, Account) == 1
    with sessions.begin() as session:
        entries = session.scalars(select(Quarantine).order_by(Quarantine.reason)).all()
        reasons = {(q.reason, q.field, q.external_id) for q in entries}
        run = session.get_one(SyncRun, sink.target.run_id)
        run_counts = (run.read_count, run.inserted_count, run.skipped_count, run.quarantined_count)
        finish_run(session, run.id)
    assert reasons == {
        ("boom", "name", "3"),
        ("value_error", "uscc", "2"),
        ("required", "name", "5"),
        ("source_error", None, None),
    }
    assert {q.payload.get("id") for q in entries} == {2, 3, 5, None}
    assert "should be '3'" in next(q.message for q in entries if q.field == "uscc")
    assert run_counts == (6, 1, 1, 4)
    with sessions.begin() as session:
        assert session.get_one(SyncRun, sink.target.run_id).status == "completed_with_errors"


def test_a_record_read_again_is_not_quarantined_twice(sessions, tenant, job) -> None:
    for _ in range(2):
        sink = new_sink(sessions, tenant, job, {"customers": [DictMapper()]})
        sink.record("customers", {"id": 9, "boom": True})
        sink.close()
        with sessions.begin() as session:
            finish_run(session, sink.target.run_id)
    assert count(sessions, Quarantine) == 1


def test_references_resolve_through_external_ids(sessions, tenant, job) -> None:
    accounts = DictMapper()
    contacts = DictMapper(
        name="test/contacts",
        stream="contacts",
        object="contacts",
        entity="contact",
        fields=("name",),
        refs={"account_id": ("customers", "customer")},
    )
    sink = new_sink(sessions, tenant, job, {"customers": [accounts], "contacts": [contacts]})
    sink.record("customers", {"id": "C1", "name": "华为技术有限公司"})
    sink.record("contacts", {"id": "P1", "name": "张三", "customer": "C1"})
    sink.record("contacts", {"id": "P2", "name": "李四", "customer": "C404"})
    sink.close()
    with sessions.begin() as session:
        account = session.scalars(select(Account)).one()
        contact = session.scalars(select(Contact)).one()
        entry = session.scalars(select(Quarantine)).one()
    assert contact.account_id == account.id
    assert (entry.reason, entry.field, entry.external_id) == (
        "unresolved_reference",
        "account_id",
        "P2",
    )
    assert "C404" in entry.message


def test_records_of_streams_without_mapping_are_counted_not_stored(sessions, tenant, job) -> None:
    sink = new_sink(sessions, tenant, job, {"customers": [DictMapper()]})
    sink.record("invoices", {"id": 1})
    sink.record("invoices", {"id": 2})
    sink.close()
    assert sink.unmapped == {"invoices": 2}
    assert count(sessions, Account) == 0
