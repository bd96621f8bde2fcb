"""The lead-management commands an admin uses, end to end on a SQLite store: users, pools
and members, settings, routing, ownership with `--as`, touchpoints, the scheduled work
run now with `--now`, scores, RFM, duplicates, conversion and merge."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.model.entities import ENTITIES
from core.model.tables import Lead, LeadOwnershipEvent, Tenant
from core.store.direct import create_record
from core.store.engine import make_engine, make_session_factory

LADDER = """
rules:
  - name: east
    conditions: [{op: eq, attribute: province, value: 上海}]
    target: {kind: pool, id: East}
  - name: everything else
    target: {kind: pool, id: General}
"""
RULES = """
deadlines: {followup_days: 7, convert_days: 30}
remind_days_before: 2
claim_budget: 5
"""


def _store(tmp_path: Path) -> sessionmaker[Session]:
    return make_session_factory(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))


def _add_leads(tmp_path: Path, *leads: dict[str, str]) -> list[str]:
    sessions = _store(tmp_path)
    with sessions.begin() as session:
        tenant = session.scalars(select(Tenant)).one()
        return [
            str(create_record(session, tenant.id, ENTITIES["lead"], values)["id"])
            for values in leads
        ]


def _user_id(cli, email: str) -> str:
    listed = cli("user", "list", "--all").stdout
    line = next(line for line in listed.splitlines() if email in line)
    found = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", line)
    assert found is not None
    return found.group(0)


def test_users_pools_and_settings_are_administered_from_the_cli(cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    added = cli("user", "add", "wang@acme.cn", "--name", "Wang", "--role", "manager")
    assert added.exit_code == 0, added.stderr
    assert cli("user", "add", "li@acme.cn", "--name", "Li").exit_code == 0
    twice = cli("user", "add", "LI@acme.cn", "--name", "Li again")
    assert twice.exit_code == 4
    assert "a user with e-mail 'LI@acme.cn' exists" in twice.stderr
    wrong = cli("user", "add", "x@acme.cn", "--name", "X", "--role", "boss")
    assert wrong.exit_code == 65 and "one of rep, manager, admin" in wrong.stderr
    assert cli("user", "update", "li@acme.cn", "--name", "Li Na").exit_code == 0
    assert "Li Na" in cli("user", "list").stdout

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    assert cli("pool", "create", "East", "--rules", str(rules)).exit_code == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"deadlines": {"followup_days": 40, "convert_days": 30}}))
    refused = cli("pool", "create", "West", "--rules", str(bad))
    assert refused.exit_code == 65
    assert "rules.deadlines" in refused.stderr and "Traceback" not in refused.stderr
    assert cli("pool", "member", "add", "East", "--user", "li@acme.cn").exit_code == 0
    members = cli("pool", "member", "list", "East").stdout
    assert "li@acme.cn" in members and "member" in members
    shown = cli("pool", "show", "East")
    assert '"claim_budget": 5' in shown.stdout and "0 unowned, 0 owned" in shown.stdout
    assert cli("pool", "update", "East", "--description", "Shanghai leads").exit_code == 0
    assert "Shanghai leads" in cli("pool", "list").stdout
    missing = cli("pool", "show", "Nowhere")
    assert missing.exit_code == 3 and "l2c pool list" in missing.stderr

    ladder = tmp_path / "ladder.yaml"
    ladder.write_text(LADDER, encoding="utf-8")
    saved = cli("setting", "set", "routing", str(ladder))
    assert saved.exit_code == 0 and "version 1" in saved.stdout
    assert '"name": "east"' in cli("setting", "show", "routing").stdout
    listed = cli("setting", "show").stdout
    assert re.search(r"routing\W+1\W", listed) and re.search(r"icp\W+default", listed)
    readonly = cli("setting", "set", "routing_state", str(ladder))
    assert readonly.exit_code == 4 and "read-only" in readonly.stderr


def test_leads_are_routed_claimed_reminded_and_recycled_from_the_cli(cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    cli("user", "add", "wang@acme.cn", "--name", "Wang", "--role", "manager")
    cli("user", "add", "li@acme.cn", "--name", "Li")
    cli("user", "add", "zhao@acme.cn", "--name", "Zhao")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    cli("pool", "create", "East", "--rules", str(rules))
    cli("pool", "create", "General")
    cli("pool", "member", "add", "East", "--user", "li@acme.cn")
    ladder = tmp_path / "ladder.yaml"
    ladder.write_text(LADDER, encoding="utf-8")
    cli("setting", "set", "routing", str(ladder))
    shanghai, beijing = _add_leads(
        tmp_path,
        {"name": "Chen", "company": "沪上科技", "province": "上海", "email": "chen@hushang.cn"},
        {"name": "Liu", "company": "京北制造", "province": "北京"},
    )

    simulated = cli("routing", "simulate")
    assert simulated.exit_code == 0, simulated.stderr
    assert "would route 2 lead(s)" in simulated.stdout and "catch-all took 1" in simulated.stdout
    routed = cli("leads", "route")
    assert routed.exit_code == 0, routed.stderr
    assert "2 lead(s) routed" in routed.stdout and "catch_all 1" in routed.stdout
    assert "0 lead(s) routed" in cli("leads", "route").stdout  # routed once

    outsider = cli("lead", "claim", shanghai, "--as", "zhao@acme.cn")
    assert outsider.exit_code == 1
    assert "Zhao is not a member of pool 'East'" in outsider.stderr
    claimed = cli("lead", "claim", shanghai, "--as", "li@acme.cn")
    assert claimed.exit_code == 0, claimed.stderr
    assert "claimed" in claimed.stdout and "back to the pool" in claimed.stdout
    touched = cli("lead", "touch", "chen@hushang.cn", "--type", "webinar")
    assert touched.exit_code == 0 and "recorded" in touched.stdout
    history = cli("lead", "ownership", shanghai).stdout
    assert "claim" in history and "route" in history

    # li claimed just now: reminder from +5 days, recycle at +7 days (no follow-up logged)
    start = utcnow()
    soon = (start + timedelta(days=5, hours=1)).isoformat()
    assert "1 lead(s) reminded" in cli("leads", "remind", "--now", soon).stdout
    assert "0 lead(s) reminded" in cli("leads", "remind", "--now", soon).stdout
    later = (start + timedelta(days=7, hours=1)).isoformat()
    recycled = cli("leads", "recycle", "--now", later)
    assert "1 lead(s) recycled" in recycled.stdout and "no_followup 1" in recycled.stdout
    assert "0 lead(s) recycled" in cli("leads", "recycle", "--now", later).stdout

    assigned = cli(
        "lead", "assign", shanghai, beijing, "--user", "li@acme.cn", "--as", "wang@acme.cn"
    )
    assert assigned.exit_code == 0, assigned.stderr
    assert assigned.stdout.count("assigned") == 2
    returned = cli("lead", "return", beijing, "--reason", "no_budget", "--as", "li@acme.cn")
    assert returned.exit_code == 0 and "unowned" in returned.stdout
    unknown = cli("lead", "return", shanghai, "--reason", "bored", "--as", "li@acme.cn")
    assert unknown.exit_code == 65 and "use one of: unreachable" in unknown.stderr
    refused = cli("lead", "deposit", shanghai, "--pool", "General", "--as", "li@acme.cn")
    assert refused.exit_code == 1 and "only its admins and managers" in refused.stderr
    deposited = cli("lead", "deposit", shanghai, "--pool", "General", "--as", "wang@acme.cn")
    assert deposited.exit_code == 0 and "1 lead(s) deposited" in deposited.stdout
    no_such = cli("lead", "claim", shanghai, "--as", "nobody@acme.cn")
    assert no_such.exit_code == 65 and "--as: no user" in no_such.stderr
    bad_time = cli("leads", "recycle", "--now", "yesterday")
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.stderr

    wang = uuid.UUID(_user_id(cli, "wang@acme.cn"))
    with _store(tmp_path)() as session:
        events = session.execute(
            select(LeadOwnershipEvent.action, LeadOwnershipEvent.via, LeadOwnershipEvent.actor)
            .where(LeadOwnershipEvent.lead_id == uuid.UUID(shanghai))
            .order_by(LeadOwnershipEvent.at)
        ).all()
        owner = session.scalar(select(Lead.owner_id).where(Lead.id == uuid.UUID(shanghai)))
    # by time: the recycle ran at a --now a week ahead, so it sorts last
    assert [e.action for e in events] == ["route", "claim", "assign", "deposit", "recycle"]
    assert (events[3].via, events[3].actor) == ("cli", str(wang))
    assert (events[4].via, events[4].actor) == ("schedule", "system")
    assert owner is None


def test_scores_rfm_duplicates_conversion_and_merge_from_the_cli(cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    first, twin, other = _add_leads(
        tmp_path,
        {"name": "Chen", "company": "沪上科技有限公司", "email": "chen@hushang.cn"},
        {"name": "Chen W.", "company": "沪上科技有限公司", "email": "chen@hushang.cn"},
        {"name": "Liu", "company": "京北制造", "mobile": "13800138000"},
    )

    scored = cli("scoring", "rescore")
    assert scored.exit_code == 0, scored.stderr
    assert "3 lead(s) scored" in scored.stdout
    explained = cli("lead", "score", first)
    assert explained.exit_code == 0, explained.stderr
    assert first in explained.stdout
    never = cli("lead", "score", str(uuid.uuid4()))
    assert never.exit_code == 3

    dupes = cli("lead", "duplicates", first)
    assert dupes.exit_code == 0, dupes.stderr
    assert twin in dupes.stdout
    scan = cli("lead", "duplicates")
    assert scan.exit_code == 0 and first in scan.stdout and twin in scan.stdout

    merged = cli("lead", "merge", first, twin)
    assert merged.exit_code == 0, merged.stderr
    assert f"lead {twin} merged into {first}" in merged.stdout

    converted = cli("lead", "convert", other, "--set", "amount=50000", "--set", "currency=CNY")
    assert converted.exit_code == 0, converted.stderr
    assert "converted" in converted.stdout and "account" in converted.stdout
    again = cli("lead", "convert", other)
    assert again.exit_code == 4

    recomputed = cli("rfm", "recompute")
    assert recomputed.exit_code == 0, recomputed.stderr
    assert "0 account(s) scored" in recomputed.stdout
    assert "up to date" in cli("rfm", "recompute").stdout
    assert "champions" in cli("rfm", "segments").stdout.lower()
    unscored = cli("rfm", "show", str(uuid.uuid4()))
    assert unscored.exit_code == 3 and "no RFM" in unscored.stderr


def test_the_scheduled_rfm_and_rescore_run_now_from_the_cli(cli, tmp_path: Path) -> None:
    assert cli("init").exit_code == 0
    _add_leads(tmp_path, {"name": "Chen"}, {"name": "Liu"})
    now = datetime.now(UTC).isoformat()
    assert "2 lead(s) rescored" in cli("leads", "rescore", "--now", now).stdout
    assert "0 lead(s) rescored" in cli("leads", "rescore", "--now", now).stdout
    first = cli("leads", "rfm")
    assert first.exit_code == 0 and "RFM recomputed: 0 account(s)" in first.stdout
    assert "up to date" in cli("leads", "rfm").stdout
