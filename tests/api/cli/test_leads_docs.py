"""docs/leads.md "From the CLI" runs as written: every line of its example block, in
order, against a fresh store (LEAD_ID and the YAML files are filled in by the test)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from sqlalchemy import select

from core.model.entities import ENTITIES
from core.model.tables import Tenant
from core.store.direct import create_record
from core.store.engine import make_engine, make_session_factory

DOC = Path(__file__).resolve().parents[3] / "docs" / "leads.md"
RULES = """
claim_budget: 10
budget_period: week
wip_cap: 30
cooldown_days: 7
deadlines: {followup_days: 7, convert_days: 30}
"""
ROUTING = """
rules:
  - name: east china
    conditions: [{op: in, attribute: province, values: [上海市, 江苏省, 浙江省]}]
    target: {kind: pool, id: 华东}
  - name: everything else
    target: {kind: pool, id: General}
"""


def _cli_block() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## From the CLI", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None, "docs/leads.md lost its CLI example block"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line]


def test_the_cli_walkthrough_in_the_docs_runs_as_written(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "routing.yaml").write_text(ROUTING, encoding="utf-8")
    assert cli("init").exit_code == 0
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))
    with sessions.begin() as session:
        tenant = session.scalars(select(Tenant)).one()
        lead = create_record(
            session,
            tenant.id,
            ENTITIES["lead"],
            {"name": "张伟", "company": "上海云启信息技术有限公司", "province": "上海市"},
        )
    lines = _cli_block()
    assert len(lines) >= 15
    for line in lines:
        for command in line.split(" && "):
            words = shlex.split(command.replace("LEAD_ID", str(lead["id"])))
            assert words[0] == "l2c", command
            result = cli(*words[1:])
            assert result.exit_code == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    ownership = cli("lead", "ownership", str(lead["id"])).stdout
    assert "return" in ownership and "no_budget" in ownership and "claim" in ownership
