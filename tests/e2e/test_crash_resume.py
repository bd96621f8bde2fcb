"""A sync run killed with SIGKILL at random instants resumes with nothing lost and
nothing duplicated (ARCHITECTURE.md §4)."""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cli import L2C, l2c, l2c_env
from sqlalchemy import Engine, func, select

from core.model.tables import Account, ExternalRef, Quarantine, RecordChange, SyncRun
from core.store.engine import make_engine

FIXTURES = Path(__file__).parents[1] / "fixtures"
ROWS = 60_000
KILLS = 10


def write_source(folder: Path, seed: int) -> dict[str, tuple[str, str, Decimal]]:
    """A CSV with updates, duplicates and out-of-order versions; returns what the store
    must hold afterwards: the newest version of each code."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(ROWS):
        code = f"K{rng.randrange(ROWS * 3 // 4):07d}"  # about a quarter are repeats
        stamp = t0 + timedelta(seconds=rng.randrange(10_000_000))
        rows.append(
            {
                "code": code,
                "name": f"公司{code}",
                "city": rng.choice(["上海", "北京", "深圳", "成都"]),
                "credit": f"{rng.randrange(1, 10**7)}.{rng.randrange(100):02d}",
                "updated_at": stamp.isoformat(),
            }
        )
    expected: dict[str, tuple[datetime, tuple[str, str, Decimal]]] = {}
    for row in rows:
        stamp = datetime.fromisoformat(row["updated_at"])
        held = expected.get(row["code"])
        if held is None or stamp >= held[0]:
            expected[row["code"]] = (stamp, (row["name"], row["city"], Decimal(row["credit"])))
    with (folder / "accounts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {code: value for code, (_, value) in expected.items()}


def crash_and_resume(database_url: str, tmp_path: Path, seed: int) -> None:
    folder = tmp_path / "source"
    folder.mkdir()
    expected = write_source(folder, seed)
    env = l2c_env(database_url, tmp_path / "data")
    l2c("init", env=env)
    config = {
        "path": str(folder),
        "state_every": 200,
        "streams": [{"name": "accounts", "pattern": "accounts.csv", "key_properties": ["code"]}],
    }
    l2c("connection", "add", "src", "--connector", "files", "--config", json.dumps(config), env=env)
    l2c(
        "job",
        "add",
        "crash",
        "--connection",
        "src",
        "--mapping",
        str(FIXTURES / "mappings" / "crash_accounts.yaml"),
        env=env,
    )

    rng = random.Random(seed)
    engine = make_engine(database_url)
    kills = 0
    while kills < KILLS:
        runs_before = _count_runs(engine)
        process = subprocess.Popen(
            [L2C, "sync", "run", "crash", "--batch-size", "300"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while _count_runs(engine) == runs_before and process.poll() is None:
            time.sleep(0.02)  # strike only once the run has started (not during imports)
        time.sleep(rng.uniform(0.05, 0.7))  # well inside a run, whatever the machine load
        if process.poll() is not None:
            break  # finished before we struck: the remaining kills cannot happen
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills >= KILLS, f"the run finished after {kills} kills; make the source bigger"
    l2c("sync", "run", "crash", env=env)

    with engine.connect() as db:
        refs = db.execute(select(ExternalRef.external_id, ExternalRef.entity_id)).all()
        accounts = {
            row.id: row
            for row in db.execute(
                select(Account.id, Account.name, Account.city, Account.credit_limit)
            )
        }
        inserts = db.execute(
            select(RecordChange.entity_id, func.count())
            .where(RecordChange.op == "insert")
            .group_by(RecordChange.entity_id)
        ).all()
        runs = db.execute(select(SyncRun.status, func.count()).group_by(SyncRun.status)).all()
        quarantined = db.scalar(select(func.count()).select_from(Quarantine))
    engine.dispose()

    assert len(refs) == len({r.external_id for r in refs}) == len(expected)  # xrefs unique
    assert len(accounts) == len(expected)  # 0 duplicated
    stored = {r.external_id: accounts[r.entity_id] for r in refs}
    missing = [c for c in expected if c not in stored]
    wrong = [
        c
        for c, (name, city, credit) in expected.items()
        if c in stored
        and (stored[c].name, stored[c].city, Decimal(stored[c].credit_limit))
        != (name, city, credit)
    ]
    assert missing == []  # 0 lost
    assert wrong == []  # newest version won
    assert {count for _, count in inserts} == {1}  # one insert per record
    assert quarantined == 0
    statuses = dict(runs)
    assert statuses == {"abandoned": KILLS, "completed": 1}, statuses


def _count_runs(engine: Engine) -> int:
    with engine.connect() as db:
        return db.scalar(select(func.count()).select_from(SyncRun)) or 0


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_sync_resumes_exactly_on_postgres(own_postgres_url: str, tmp_path: Path) -> None:
    crash_and_resume(own_postgres_url, tmp_path, seed=7)


@pytest.mark.slow
def test_killed_sync_resumes_exactly_on_sqlite(tmp_path: Path) -> None:
    crash_and_resume(f"sqlite:///{tmp_path / 'crash.db'}", tmp_path, seed=11)
