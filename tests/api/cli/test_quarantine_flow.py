"""Bad records are quarantined with the reason and the raw payload, and can be fixed
and replayed — through the commands a user types."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import select

from core.model.tables import Account, Quarantine
from core.store.engine import make_engine, make_session_factory

HEADER = [
    "customer_code",
    "company_name",
    "uscc",
    "industry_code",
    "province",
    "city",
    "address",
    "phone",
    "email",
    "credit_limit",
    "currency",
    "payment_terms",
    "updated_at",
]


def write_customers(folder: Path, rows: list[dict[str, str]]) -> None:
    folder.mkdir(exist_ok=True)
    with (folder / "customers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in HEADER})


def customer(code: str, name: str, **extra: str) -> dict[str, str]:
    return {
        "customer_code": code,
        "company_name": name,
        "industry_code": "01",
        "credit_limit": "100,000.00",
        "currency": "CNY",
        "updated_at": "2024-05-06 10:00:00",
        **extra,
    }


def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_session_factory(make_engine(f"sqlite:///{tmp_path / 'hub.db'}"))


def setup_job(cli, tmp_path: Path, rows: list[dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "erp"
    write_customers(folder, rows)
    assert cli("init").exit_code == 0
    config = {
        "path": str(folder),
        "streams": [
            {"name": "customers", "pattern": "customers*.csv", "key_properties": ["customer_code"]}
        ],
    }
    assert (
        cli(
            "connection", "add", "erp", "--connector", "files", "--config", json.dumps(config)
        ).exit_code
        == 0
    )
    assert (
        cli(
            "job", "add", "customers", "--connection", "erp", "--mapping", "files/demo_accounts"
        ).exit_code
        == 0
    )


def test_bad_record_is_quarantined_edited_and_replayed(cli, tmp_path: Path) -> None:
    setup_job(
        cli,
        tmp_path,
        [
            customer("C1", "上海华东精密机械有限公司"),
            customer("C2", "杭州西溪智能制造有限公司", industry_code="99"),
        ],
    )
    run = cli("sync", "run", "customers")
    assert run.exit_code == 0
    assert "completed_with_errors" in run.stdout
    assert "quarantined 1" in run.stdout

    listed = cli("quarantine", "list")
    assert "unknown_code" in listed.stdout and "C2" in listed.stdout
    with store(tmp_path).begin() as session:
        entry = session.scalars(select(Quarantine)).one()
        assert entry.payload["industry_code"] == "99"  # the raw payload is kept
        assert entry.field == "industry"
    short = entry.id.hex[:8]
    shown = cli("quarantine", "show", short)
    assert (
        "杭州西溪智能制造有限公司" in shown.stdout
        and "'99' is not in the value map" in shown.stdout
    )

    assert cli("quarantine", "replay", short).exit_code == 65  # still bad: stays open
    assert cli("quarantine", "edit", short, "--set", "industry_code=02").exit_code == 0
    replayed = cli("quarantine", "replay", short)
    assert replayed.exit_code == 0, replayed.stdout + replayed.stderr
    assert "replayed 1, still failing 0" in replayed.stdout
    with store(tmp_path).begin() as session:
        industries = dict(session.execute(select(Account.name, Account.industry)).all())
        statuses = session.scalars(select(Quarantine.status)).all()
    assert industries["杭州西溪智能制造有限公司"] == "information_technology"
    assert statuses == ["replayed"]
    assert "unknown_code" not in cli("quarantine", "list").stdout


def test_a_fixed_mapping_replays_a_whole_job(cli, tmp_path: Path) -> None:
    mapping = tmp_path / "accounts.yaml"
    text = Path("mappings/files/demo_accounts.yaml").read_text(encoding="utf-8")
    mapping.write_text(text, encoding="utf-8")
    folder = tmp_path / "erp"
    write_customers(
        folder,
        [
            customer("C1", "甲公司", industry_code="07"),
            customer("C2", "乙公司", industry_code="07"),
        ],
    )
    cli("init")
    config = {
        "path": str(folder),
        "streams": [{"name": "customers", "pattern": "*.csv", "key_properties": ["customer_code"]}],
    }
    cli("connection", "add", "erp", "--connector", "files", "--config", json.dumps(config))
    cli("job", "add", "customers", "--connection", "erp", "--mapping", str(mapping))
    assert "quarantined 2" in cli("sync", "run", "customers").stdout

    mapping.write_text(
        text.replace('"06": healthcare', '"06": healthcare\n            "07": logistics'),
        encoding="utf-8",
    )
    replayed = cli("quarantine", "replay", "--job", "customers")
    assert "replayed 2, still failing 0" in replayed.stdout
    with store(tmp_path).begin() as session:
        assert sorted(session.scalars(select(Account.industry))) == ["logistics", "logistics"]


def test_rereading_the_same_bad_file_does_not_duplicate_quarantine(cli, tmp_path: Path) -> None:
    setup_job(cli, tmp_path, [customer("C1", "甲公司", uscc="91350100M000100Y44")])
    cli("sync", "run", "customers")
    cli("sync", "reset", "customers")  # forget the file fingerprints: read it again
    again = cli("sync", "run", "customers")
    assert "read 1" in again.stdout
    with store(tmp_path).begin() as session:
        assert len(session.scalars(select(Quarantine)).all()) == 1
