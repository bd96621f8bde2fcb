"""Lead conversion and duplicates: convert a lead into account + contact + opportunity,
find a lead's duplicates among leads, accounts and contacts, merge a duplicate into a
survivor, and scan all open leads for duplicate groups.

Conversion attaches before it creates (an account with the lead's USCC or company name,
a contact of it with the lead's e-mail or phone), so it does not breed the duplicates
the scan hunts. A merge keeps the merged lead whole in its `lead_merge` record and
rescores the survivor in the same transaction (it took the merged lead's touchpoints).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from api.http.deps import ReadSession, WriteSession, tenant_of
from api.http.routers._sales import EXAMPLE_LEAD, ActingUser, actor_for, in_body, require_leads
from api.http.routers.record_shapes import Guarded, api_annotation
from core.model.entities import entity
from core.sales.dedup import MAX_SCORE
from core.sales.leads import conversion, duplicates, merge, scoring
from core.sales.leads.duplicates import DEFAULT_MIN_SCORE

router = APIRouter(tags=["lead-conversion"])

LeadId = Annotated[uuid.UUID, Path(examples=[EXAMPLE_LEAD], description="The lead's id.")]
MinScore = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_SCORE,
        examples=[DEFAULT_MIN_SCORE],
        description=f"Lowest match score shown (1-{MAX_SCORE}); {DEFAULT_MIN_SCORE} shows "
        f"every single strong signal, {MAX_SCORE} only a USCC or two signals.",
    ),
]
EXAMPLE_ACCOUNT = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d21"
EXAMPLE_CONTACT = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d22"
EXAMPLE_OPPORTUNITY = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d23"
EXAMPLE_DUPLICATE = "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d24"

CONVERT_EXAMPLE: dict[str, Any] = {
    "opportunity": {
        "name": "青禾 2025 门店网络改造",
        "amount": "380000.00",
        "currency": "CNY",
        "stage": "qualification",
        "close_date": "2025-10-31",
    }
}
CONVERTED_EXAMPLE: dict[str, Any] = {
    "lead_id": EXAMPLE_LEAD,
    "account_id": EXAMPLE_ACCOUNT,
    "contact_id": EXAMPLE_CONTACT,
    "opportunity_id": EXAMPLE_OPPORTUNITY,
    "account_created": False,
    "contact_created": True,
    "account_match": "uscc",
    "contact_match": "created",
    "touchpoints_moved": 4,
    "converted_at": "2025-06-02T09:30:00Z",
}
REASON_EXAMPLE: dict[str, Any] = {
    "signal": "email",
    "value": "li.na@qinghe.example.cn",
    "points": 70,
}
MATCH_EXAMPLE: dict[str, Any] = {
    "entity": "lead",
    "id": EXAMPLE_DUPLICATE,
    "name": "李娜 · 杭州青禾贸易有限公司",
    "score": 100,
    "reasons": [REASON_EXAMPLE, {"signal": "company", "value": "杭州青禾贸易", "points": 50}],
}
MERGE_EXAMPLE: dict[str, Any] = {"merged_id": EXAMPLE_DUPLICATE, "prefer": {"phone": "merged"}}
MERGED_EXAMPLE: dict[str, Any] = {
    "merge_id": "0190f5d2-8c6e-7b3a-9d1e-2f4a5b6c7d25",
    "survivor": {"id": EXAMPLE_LEAD, "name": "李娜", "company": "杭州青禾贸易有限公司"},
    "merged_id": EXAMPLE_DUPLICATE,
    "fields_taken": {"phone": "+86 571 8888 6666"},
    "touchpoints_moved": 2,
    "external_refs_moved": 1,
    "score": 100,
    "reasons": [REASON_EXAMPLE],
    "merged_at": "2025-06-02T09:30:00Z",
    "grade": "B2",
}
GROUP_EXAMPLE: dict[str, Any] = {
    "members": [
        {"id": EXAMPLE_LEAD, "name": "李娜 · 杭州青禾贸易有限公司"},
        {"id": EXAMPLE_DUPLICATE, "name": "Li Na · 杭州青禾贸易"},
    ],
    "score": 100,
    "pairs": [
        {"a": EXAMPLE_LEAD, "b": EXAMPLE_DUPLICATE, "score": 100, "reasons": [REASON_EXAMPLE]}
    ],
}


class _Opportunity(Guarded):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [CONVERT_EXAMPLE["opportunity"]]}
    )


_OPPORTUNITY = entity("opportunity").create
OpportunityIn: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "ConvertOpportunity",
    __base__=_Opportunity,
    __doc__="The opportunity the conversion creates (its fields as POST /v1/opportunities "
    "takes them); default name: company — contact; the account comes from the conversion.",
    **{
        name: (api_annotation(_OPPORTUNITY, name) | None, Field(default=None))
        for name in sorted(conversion.OPPORTUNITY_FIELDS)
    },
)


class ConvertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CONVERT_EXAMPLE]})

    account_id: uuid.UUID | None = Field(
        default=None, description="Attach to this account; default: match by USCC, then name."
    )
    contact_id: uuid.UUID | None = Field(
        default=None, description="Attach to this contact; default: match by e-mail, phone."
    )
    create_opportunity: StrictBool = Field(
        default=True, description="False: account + contact only."
    )
    opportunity: OpportunityIn | None = None


class ConvertedOut(BaseModel):
    """What the lead became; `*_match` says how each part was found, or `created`."""

    model_config = ConfigDict(json_schema_extra={"examples": [CONVERTED_EXAMPLE]})

    lead_id: uuid.UUID
    account_id: uuid.UUID
    contact_id: uuid.UUID
    opportunity_id: uuid.UUID | None
    account_created: bool
    contact_created: bool
    account_match: Literal["given", "contact", "uscc", "company_name", "created"]
    contact_match: Literal["given", "email", "phone", "created"]
    touchpoints_moved: int = Field(description="Touchpoints that now name account and contact.")
    converted_at: datetime


class ReasonOut(BaseModel):
    signal: str = Field(description="uscc, company, email or phone.")
    value: str = Field(description="The shared normalised value.")
    points: int


class MatchOut(BaseModel):
    entity: Literal["lead", "account", "contact"]
    id: uuid.UUID
    name: str
    score: int = Field(description=f"0-{MAX_SCORE}.")
    reasons: list[ReasonOut]


class MatchesOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [MATCH_EXAMPLE]}]})

    items: list[MatchOut] = Field(description="Best first.")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [MERGE_EXAMPLE]})

    merged_id: uuid.UUID = Field(description="The duplicate that goes away.")
    prefer: dict[Annotated[str, Field(max_length=64)], Literal["survivor", "merged"]] = Field(
        default_factory=dict,
        max_length=100,
        description="Per field, whose value to keep. Default: the survivor's, filled from "
        "the merged lead where empty (fields a connection owns are left to its sync).",
    )


class MergedOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MERGED_EXAMPLE]})

    merge_id: uuid.UUID
    survivor: dict[str, Any] = Field(description="The survivor as GET /v1/leads/{id} shows it.")
    merged_id: uuid.UUID
    fields_taken: dict[str, Any] = Field(description="Fields the survivor took, with values.")
    touchpoints_moved: int
    external_refs_moved: int = Field(description="External ids that now point at the survivor.")
    score: int = Field(description="How well the two matched.")
    reasons: list[ReasonOut]
    merged_at: datetime
    grade: str | None = Field(description="The survivor's grade, rescored after the merge.")


class MemberOut(BaseModel):
    id: uuid.UUID
    name: str


class PairOut(BaseModel):
    a: uuid.UUID
    b: uuid.UUID
    score: int
    reasons: list[ReasonOut]


class GroupOut(BaseModel):
    members: list[MemberOut] = Field(description="Oldest first: the natural survivor.")
    score: int = Field(description="The best pair's score.")
    pairs: list[PairOut]


class GroupsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [GROUP_EXAMPLE]}]})

    items: list[GroupOut]


def _reasons(reasons: Any) -> list[ReasonOut]:
    return [ReasonOut(signal=r.signal, value=r.value, points=r.points) for r in reasons]


@router.post("/leads/{lead_id}/convert", response_model=ConvertedOut, summary="Convert a lead")
def convert(
    lead_id: LeadId, body: ConvertIn, session: WriteSession, acting: ActingUser = None
) -> ConvertedOut:
    """Turn the lead into an account, a contact and (unless `create_opportunity` is
    false) an opportunity, attaching to existing ones where they match; its touchpoints
    follow for attribution, its pool ownership ends and its score is refreshed (a
    converted lead reads PLS 100). 409 when it was converted before
    (the detail names what it became); 422 naming the field for a bad reference."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    actor = actor_for(session, tenant_id, acting)
    deal = None if body.opportunity is None else body.opportunity.model_dump(exclude_unset=True)
    with in_body():
        done = conversion.convert_lead(
            session,
            tenant_id,
            lead_id,
            actor,
            account_id=body.account_id,
            contact_id=body.contact_id,
            opportunity=deal,
            create_opportunity=body.create_opportunity,
        )
    scoring.rescore(session, tenant_id, lead_ids=[lead_id])  # converted: PLS 100
    return ConvertedOut(
        lead_id=done.lead_id,
        account_id=done.account_id,
        contact_id=done.contact_id,
        opportunity_id=done.opportunity_id,
        account_created=done.account_created,
        contact_created=done.contact_created,
        account_match=done.account_match,
        contact_match=done.contact_match,
        touchpoints_moved=done.touchpoints_moved,
        converted_at=done.converted_at,
    )


@router.get("/leads/{lead_id}/duplicates", response_model=MatchesOut, summary="A lead's duplicates")
def lead_duplicates(
    lead_id: LeadId, session: ReadSession, min_score: MinScore = DEFAULT_MIN_SCORE
) -> MatchesOut:
    """Leads, accounts and contacts that may be the same party (USCC, company name,
    e-mail, phone in E.164), with the score and the keys they share, best first."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id])
    found = duplicates.find_duplicates(session, tenant_id, lead_id, min_score=min_score)
    return MatchesOut(
        items=[
            MatchOut(
                entity=m.entity, id=m.id, name=m.name, score=m.score, reasons=_reasons(m.reasons)
            )
            for m in found
        ]
    )


@router.post("/leads/{lead_id}/merge", response_model=MergedOut, summary="Merge a duplicate")
def merge_lead(
    lead_id: LeadId, body: MergeIn, session: WriteSession, acting: ActingUser = None
) -> MergedOut:
    """Merge `merged_id` into this lead (the survivor): it fills its empty fields (or
    those `prefer` names), takes the touchpoints and external ids, and the merged lead
    is kept whole in the merge record, then deleted. The survivor is rescored. 404 when
    either lead is not this tenant's; 409 for a lead merged into itself or a converted
    lead."""
    tenant_id = tenant_of(session)
    require_leads(session, tenant_id, [lead_id, body.merged_id])
    actor = actor_for(session, tenant_id, acting)
    with in_body():
        done = merge.merge_leads(
            session, tenant_id, lead_id, body.merged_id, actor, prefer=body.prefer
        )
    report = scoring.rescore(session, tenant_id, lead_ids=[lead_id])
    return MergedOut(
        merge_id=done.merge_id,
        survivor=done.survivor,
        merged_id=done.merged_id,
        fields_taken=done.fields_taken,
        touchpoints_moved=done.touchpoints_moved,
        external_refs_moved=done.external_refs_moved,
        score=done.score,
        reasons=_reasons(done.reasons),
        merged_at=done.merged_at,
        grade=next(iter(report.grades), None),
    )


@router.get("/duplicates", response_model=GroupsOut, summary="Scan for duplicate leads")
def scan(
    session: ReadSession,
    min_score: MinScore = DEFAULT_MIN_SCORE,
    limit: Annotated[
        int, Query(ge=1, le=500, examples=[100], description="Groups returned (1-500).")
    ] = 100,
) -> GroupsOut:
    """Groups of open leads connected by duplicate pairs, best first (highest pair
    score, then the larger group). Not paginated: merge what you see, then scan again."""
    groups = duplicates.scan(session, tenant_of(session), min_score=min_score, limit=limit)
    return GroupsOut(
        items=[
            GroupOut(
                members=[MemberOut(id=m.id, name=m.name) for m in g.members],
                score=g.score,
                pairs=[
                    PairOut(a=p.a, b=p.b, score=p.score, reasons=_reasons(p.reasons))
                    for p in g.pairs
                ],
            )
            for g in groups
        ]
    )
