"""Merging duplicate leads on both databases: fields filled, touchpoints and external
refs moved to the survivor, provenance kept, the merged lead deleted and logged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConflictError, DataError, NotFoundError
from core.model.entities import ENTITIES
from core.model.tables import (
    Connection,
    Lead,
    LeadAssignment,
    LeadMerge,
    RecordChange,
    Tenant,
    Touchpoint,
    User,
    table_of,
)
from core.sales.dedup import MatchReason
from core.sales.leads.merge import merge_leads
from core.sales.leads.ownership import Actor
from core.store.direct import create_record
from core.store.external import upsert_external

LEAD = ENTITIES["lead"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
USCC_A = "91310000132200821H"


def make(sessions: sessionmaker[Session], tenant_id: uuid.UUID, **values: Any) -> uuid.UUID:
    with sessions.begin() as s:
        record = create_record(s, tenant_id, LEAD, values, now=T0)
        return uuid.UUID(str(record["id"]))


def user(sessions: sessionmaker[Session], tenant: Tenant, email: str) -> uuid.UUID:
    with sessions.begin() as s:
        row = User(tenant_id=tenant.id, email=email, name=email.split("@", maxsplit=1)[0])
        s.add(row)
        s.flush()
        return row.id


def touch(sessions: sessionmaker[Session], tenant: Tenant, lead: uuid.UUID, ext: str) -> None:
    with sessions.begin() as s:
        s.execute(
            insert(table_of(Touchpoint)).values(
                id=uuid.uuid4(),
                tenant_id=tenant.id,
                lead_id=lead,
                type="webinar",
                occurred_at=T0,
                source="web",
                external_id=ext,
            )
        )


def merge(
    sessions: sessionmaker[Session],
    tenant_id: uuid.UUID,
    survivor: uuid.UUID,
    merged: uuid.UUID,
    **options: Any,
) -> Any:
    with sessions.begin() as s:
        return merge_leads(s, tenant_id, survivor, merged, Actor.system("api"), now=T1, **options)


def test_survivor_takes_empty_fields_and_prefer_wins(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    survivor = make(
        sessions, tenant.id, name="张伟", email="zw@saic.cn", title="经理", company=None
    )
    merged = make(
        sessions,
        tenant.id,
        name="Zhang Wei",
        email="zw@saic.cn",
        title="采购总监",
        company="上海汽车集团有限公司",
        mobile="13800138000",
        industry="automotive",
    )

    result = merge(sessions, tenant.id, survivor, merged, prefer={"title": "merged"})

    assert result.fields_taken == {
        "company": "上海汽车集团有限公司",
        "title": "采购总监",
        "mobile": "13800138000",
        "industry": "automotive",
    }
    assert result.survivor["name"] == "张伟"  # its own, non-empty
    assert result.survivor["title"] == "采购总监"
    assert result.survivor["company"] == "上海汽车集团有限公司"
    assert (result.score, result.reasons) == (90, (MatchReason("email", "zw@saic.cn", 90),))
    with sessions() as s:
        assert s.get(Lead, merged) is None
        row = s.scalars(select(LeadMerge)).one()
    assert (row.survivor_id, row.merged_id, row.score, row.merged_by) == (
        survivor,
        merged,
        90,
        "system",
    )
    assert row.snapshot["record"]["name"] == "Zhang Wei"
    assert row.snapshot["record"]["title"] == "采购总监"
    assert row.fields_taken["title"] == "采购总监"
    assert row.reasons == [{"signal": "email", "value": "zw@saic.cn", "points": 90}]


def test_prefer_survivor_keeps_an_empty_field_empty(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    survivor = make(sessions, tenant.id, name="A")
    merged = make(sessions, tenant.id, name="B", city="上海", province="上海")

    result = merge(sessions, tenant.id, survivor, merged, prefer={"city": "survivor"})

    assert result.fields_taken == {"province": "上海"}
    assert result.survivor["city"] is None


def test_merged_lead_is_deleted_with_a_delete_change_holding_its_values(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    survivor = make(sessions, tenant.id, name="A", email="a@x.cn")
    merged = make(sessions, tenant.id, name="B", email="a@x.cn")

    merge(sessions, tenant.id, survivor, merged)

    with sessions() as s:
        ops = s.execute(
            select(RecordChange.op, RecordChange.changes, RecordChange.occurred_at)
            .where(RecordChange.entity_id == merged)
            .order_by(RecordChange.seq)
        ).all()
    assert [op for op, _c, _at in ops] == ["insert", "delete"]
    assert ops[1].changes == {"name": ["B", None], "email": ["a@x.cn", None]}
    assert ops[1].occurred_at.replace(tzinfo=UTC) == T1


def test_touchpoints_move_to_the_survivor(sessions: sessionmaker[Session], tenant: Tenant) -> None:
    survivor = make(sessions, tenant.id, name="A", email="a@x.cn")
    merged = make(sessions, tenant.id, name="B", email="a@x.cn")
    touch(sessions, tenant, survivor, "t0")
    touch(sessions, tenant, merged, "t1")
    touch(sessions, tenant, merged, "t2")

    result = merge(sessions, tenant.id, survivor, merged)

    assert result.touchpoints_moved == 2
    with sessions() as s:
        leads = s.scalars(select(Touchpoint.lead_id).order_by(Touchpoint.external_id)).all()
        snapshot = s.scalars(select(LeadMerge.snapshot)).one()
    assert leads == [survivor, survivor, survivor]
    assert len(snapshot["touchpoint_ids"]) == 2


def test_a_later_sync_of_the_merged_external_id_updates_the_survivor(
    sessions: sessionmaker[Session], tenant: Tenant, connection: Connection
) -> None:
    def upsert(external_id: str, values: dict[str, Any], at: datetime) -> tuple[Any, str]:
        with sessions.begin() as s:
            record, outcome = upsert_external(
                s,
                tenant.id,
                LEAD,
                connection_id=connection.id,
                external_id=external_id,
                values=values,
                now=at,
            )
            return uuid.UUID(str(record["id"])), outcome

    survivor, _ = upsert("L-1", {"name": "张伟", "uscc": USCC_A}, T0)
    merged, _ = upsert("L-2", {"name": "张伟 (dup)", "uscc": USCC_A}, T0)

    result = merge(sessions, tenant.id, survivor, merged)
    assert result.external_refs_moved == 1
    assert sorted(r["external_id"] for r in result.survivor["external_refs"]) == ["L-1", "L-2"]

    record_id, outcome = upsert("L-2", {"name": "张伟 (dup)", "title": "CTO"}, T2)

    assert (record_id, outcome) == (survivor, "updated")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 1
        assert s.get(Lead, survivor).title == "CTO"  # type: ignore[union-attr]
        snapshot = s.scalars(select(LeadMerge.snapshot)).one()
    assert [r["external_id"] for r in snapshot["record"]["external_refs"]] == ["L-2"]


def test_merging_ends_the_merged_leads_ownership_and_the_survivor_may_take_its_owner(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    rep = user(sessions, tenant, "li@acme.cn")
    survivor = make(sessions, tenant.id, name="A", email="a@x.cn")
    merged = make(sessions, tenant.id, name="B", email="a@x.cn", owner_id=rep)

    result = merge(sessions, tenant.id, survivor, merged)

    assert result.fields_taken == {"owner_id": rep}
    with sessions() as s:
        owners = dict(s.execute(select(LeadAssignment.lead_id, LeadAssignment.owner_id)).all())
        snapshot = s.scalars(select(LeadMerge.snapshot)).one()
    assert owners == {survivor: rep}  # the merged lead's assignment went with it
    assert snapshot["assignment"]["owner_id"] == str(rep)
    assert [e["action"] for e in snapshot["ownership_history"]] == ["merge", "assign"]


def test_merging_a_lead_into_itself_is_refused(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    lead = make(sessions, tenant.id, name="A")
    with pytest.raises(ConflictError) as error:
        merge(sessions, tenant.id, lead, lead)
    assert error.value.hint


def test_merging_a_lead_of_another_tenant_is_refused_as_unknown(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    with sessions.begin() as s:
        rival = Tenant(slug="rival", name="Rival")
        s.add(rival)
        s.flush()
        rival_id = rival.id
    mine = make(sessions, tenant.id, name="A", email="a@x.cn")
    theirs = make(sessions, rival_id, name="A", email="a@x.cn")

    with pytest.raises(NotFoundError) as error:
        merge(sessions, tenant.id, mine, theirs)
    assert error.value.details["field"] == "merged_id"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 2


def test_a_converted_lead_is_never_merged(sessions: sessionmaker[Session], tenant: Tenant) -> None:
    survivor = make(sessions, tenant.id, name="A", status="converted")
    merged = make(sessions, tenant.id, name="B")

    with pytest.raises(ConflictError) as error:
        merge(sessions, tenant.id, survivor, merged)
    assert error.value.details["field"] == "survivor_id"
    with pytest.raises(ConflictError):
        merge(sessions, tenant.id, merged, survivor)


def test_prefer_naming_an_unknown_field_is_a_data_error(
    sessions: sessionmaker[Session], tenant: Tenant
) -> None:
    survivor = make(sessions, tenant.id, name="A")
    merged = make(sessions, tenant.id, name="B")
    with pytest.raises(DataError) as error:
        merge(sessions, tenant.id, survivor, merged, prefer={"colour": "merged"})
    assert error.value.field == "prefer.colour"
    with pytest.raises(DataError) as error:
        merge(sessions, tenant.id, survivor, merged, prefer={"name": "both"})
    assert error.value.field == "prefer.name"
