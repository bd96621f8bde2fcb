"""Singer interoperability with real, published Singer programs (not our own code):
any tap loads into the hub, any target reads from it, incrementally."""

from __future__ import annotations

import csv
import json
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from cli import L2C, l2c, l2c_env
from peers import TAP_JSONL, TARGET_CSV, peer_bin

DEMO = Path(__file__).parents[2] / "api" / "cli" / "demo_data"
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("own_postgres_url")
    environment = l2c_env(url, tmp_path / "data")
    l2c("init", env=environment)
    return environment


def customers_as_jsonl(path: Path) -> int:
    with (
        (DEMO / "customers.csv").open(encoding="utf-8") as source,
        path.open("w", encoding="utf-8") as out,
    ):
        rows = list(csv.DictReader(source))
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def pipe(
    producer: list[str], consumer: list[str], env: dict[str, str] | None = None
) -> tuple[bytes, bytes]:
    """producer | consumer, both real processes; returns the consumer's stdout and stderr."""
    with (
        tempfile.TemporaryFile() as upstream_err,
        subprocess.Popen(
            producer, stdout=subprocess.PIPE, stderr=upstream_err, env=env
        ) as upstream,
    ):
        downstream = subprocess.run(
            consumer, stdin=upstream.stdout, capture_output=True, env=env, timeout=600, check=False
        )
        assert upstream.stdout is not None
        upstream.stdout.close()
        code = upstream.wait(timeout=60)
        upstream_err.seek(0)
        assert code == 0, upstream_err.read().decode()[-2000:]
    assert downstream.returncode == 0, downstream.stderr.decode()[-2000:]
    return downstream.stdout, downstream.stderr


def test_tap_jsonl_loads_into_the_hub_through_a_mapping(
    env: dict[str, str], tmp_path: Path
) -> None:
    tap = peer_bin("tap-jsonl", TAP_JSONL) / "tap-jsonl"
    source = tmp_path / "customers.jsonl"
    rows = customers_as_jsonl(source)
    config = tmp_path / "tap.json"
    config.write_text(
        json.dumps(
            {"path": str(source), "stream_name": "customers", "primary_keys": ["customer_code"]}
        )
    )
    target = [
        L2C,
        "singer",
        "target",
        "--mapping",
        "files/demo_accounts",
        "--connection",
        "jsonl-erp",
    ]

    stdout, stderr = pipe([str(tap), "--config", str(config)], target, env)
    states = [json.loads(line) for line in stdout.splitlines()]
    assert states and all(m["type"] == "STATE" for m in states)  # a target echoes committed state
    assert b"completed_with_errors" in stderr  # the two bad demo rows
    first = _counts(env)
    assert first["accounts"] == rows - 2 - 1  # 2 quarantined, 2 rows share a USCC: one account
    assert first["quarantine"] == 2

    pipe([str(tap), "--config", str(config)], target, env)  # the same input again
    assert _counts(env) == first  # no new rows, no new changes


def test_hub_tap_feeds_target_csv_and_then_only_what_changed(
    env: dict[str, str], tmp_path: Path
) -> None:
    target_bin = peer_bin("target-csv", TARGET_CSV) / "target-csv"
    folder = tmp_path / "files"
    folder.mkdir()
    for name in ("customers.csv", "contacts.csv"):
        (folder / name).write_bytes((DEMO / name).read_bytes())
    config = {
        "path": str(folder),
        "streams": [
            {"name": "customers", "pattern": "customers*.csv", "key_properties": ["customer_code"]},
            {"name": "contacts", "pattern": "contacts.csv", "key_properties": ["contact_id"]},
        ],
    }
    l2c("connection", "add", "erp", "--connector", "files", "--config", json.dumps(config), env=env)
    l2c(
        "job",
        "add",
        "erp",
        "--connection",
        "erp",
        "--mapping",
        "files/demo_accounts",
        "--mapping",
        "files/demo_contacts",
        env=env,
    )
    l2c("sync", "run", "erp", env=env)

    def export(run: str, state: Path | None) -> tuple[dict[str, list[dict[str, str]]], dict]:
        out = tmp_path / run
        out.mkdir()
        csv_config = tmp_path / f"{run}.json"
        csv_config.write_text(
            json.dumps({"output_path": str(out), "file_naming_scheme": "{stream_name}.csv"})
        )
        tap = [L2C, "singer", "tap", "--entities", "account,contact"]
        if state is not None:
            tap += ["--state", str(state)]
        messages = l2c(*tap[1:], env=env).stdout.splitlines()
        last_state = json.loads(messages[-1])
        assert last_state["type"] == "STATE"
        pipe(tap, [str(target_bin), "--config", str(csv_config)], env)
        return {p.stem: read_csv(p) for p in out.glob("*.csv")}, last_state["value"]

    first, state = export("first", None)
    counts = _counts(env)
    assert len(first["account"]) == counts["accounts"]
    assert len(first["contact"]) == counts["contacts"]

    (folder / "customers_day2.csv").write_bytes((DEMO / "day2" / "customers_day2.csv").read_bytes())
    l2c("sync", "run", "erp", env=env)  # one customer newer (credit limit), one older (ignored)
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(state))
    second, _ = export("second", state_file)
    assert [Decimal(row["credit_limit"]) for row in second.get("account", [])] == [
        Decimal(2_000_000)
    ]
    assert second.get("contact", []) == []


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _counts(env: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import func, select

    from core.model.tables import Account, Contact, Quarantine, RecordChange
    from core.store.engine import make_engine

    engine = make_engine(env["L2C_DATABASE_URL"])
    with engine.connect() as db:
        result = {
            "accounts": db.scalar(select(func.count()).select_from(Account)),
            "contacts": db.scalar(select(func.count()).select_from(Contact)),
            "changes": db.scalar(select(func.count()).select_from(RecordChange)),
            "quarantine": db.scalar(select(func.count()).select_from(Quarantine)),
        }
    engine.dispose()
    return {k: int(v or 0) for k, v in result.items()}


def test_a_singer_connection_runs_an_external_tap_with_state(
    env: dict[str, str], tmp_path: Path
) -> None:
    tap = peer_bin("tap-jsonl", TAP_JSONL) / "tap-jsonl"
    source = tmp_path / "customers.jsonl"
    rows = customers_as_jsonl(source)
    settings = {
        "executable": str(tap),
        "tap_config": {
            "path": str(source),
            "stream_name": "customers",
            "primary_keys": ["customer_code"],
        },
    }
    l2c(
        "connection",
        "add",
        "legacy",
        "--connector",
        "singer",
        "--config",
        json.dumps(settings),
        env=env,
    )
    assert "ok" in l2c("connection", "check", "legacy", env=env).stdout.decode()
    l2c(
        "job",
        "add",
        "legacy",
        "--connection",
        "legacy",
        "--mapping",
        "files/demo_accounts",
        env=env,
    )

    first = l2c("sync", "run", "legacy", env=env).stdout.decode()
    assert f"read {rows}" in first
    assert "quarantined 2" in first
    second = l2c("sync", "run", "legacy", env=env).stdout.decode()
    assert "inserted 0 · updated 0" in second  # the tap re-reads; nothing changes
    counts = _counts(env)
    assert counts["accounts"] == rows - 3
    assert counts["quarantine"] == 2
