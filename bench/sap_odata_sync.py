"""SAP OData protocol overhead: business partners from a (fake) S/4HANA into canonical
accounts in PostgreSQL, next to the same records loaded through the `files` connector.

(a)  l2c sync run   sap_odata connection -> fake S/4HANA (its own process), pages of
                    1,000 business partners with addresses, roles, tax numbers and
                    customer sales areas expanded; mapping sap/bp_accounts
(b)  l2c sync run   files connection -> a JSONL file holding exactly the records the
                    sap_odata tap emitted (captured beforehand, not timed); same mapping

Both runs are whole processes into a fresh database. Target: (a) >= 0.5 x (b).

    .venv/bin/python bench/sap_odata_sync.py [--records 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.sap.odata import CONNECTOR as SAP_ODATA  # noqa: E402
from connectors.sdk.embedding import CallbackWriter, embeddable  # noqa: E402

OUT = ROOT / "bench" / "out"
ADMIN_URL = os.environ.get(
    "L2C_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "l2c_bench_sap"
USER, PASSWORD = "L2C_COMM", "s3cret-Pa55"
MAPPING = "sap/bp_accounts"
L2C = str(Path(sys.executable).with_name("l2c"))
SECRET_KEY = Fernet.generate_key().decode()


def database_url() -> str:
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{DATABASE}"


def fresh_database() -> dict[str, str]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("L2C_")}
    env |= {
        "L2C_DATABASE_URL": database_url().replace("postgresql://", "postgresql+psycopg://"),
        "L2C_DATA_DIR": str(OUT / "sap-data"),
        "L2C_URL_ALLOWLIST": '["127.0.0.1"]',
        "L2C_LOG_LEVEL": "WARNING",
        "L2C_SECRET_KEY": SECRET_KEY,
    }
    l2c(env, "init")
    return env


def l2c(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([L2C, *args], env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"l2c {' '.join(args)} failed:\n{done.stderr.decode()[-3000:]}")
    return seconds


def start_fake(records: int) -> tuple[subprocess.Popen[bytes], str]:
    ready = OUT / "fake.url"
    ready.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.sap.fake",
            "--port",
            "0",
            "--business-partners",
            str(records),
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not (ready.exists() and ready.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the fake S/4HANA did not start")
        time.sleep(0.2)
    return process, ready.read_text().strip()


def capture(config: dict[str, object], path: Path) -> int:
    """The records the sap_odata tap emits for business partners, one JSON per line."""
    count = 0
    with path.open("wb") as out:

        def keep(message: object) -> None:
            nonlocal count
            record = getattr(message, "record", None)
            if record is not None and getattr(message, "stream", "") == "business_partners":
                out.write(orjson.dumps(record) + b"\n")
                count += 1

        assert SAP_ODATA.tap is not None
        tap = embeddable(SAP_ODATA.tap)(config=dict(config), message_writer=CallbackWriter(keep))
        tap.sync_all()
    return count


def accounts() -> int:
    with psycopg.connect(database_url()) as db:
        row = db.execute("SELECT count(*) FROM account").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    fake, base_url = start_fake(args.records)
    try:
        config = {
            "base_url": base_url,
            "auth": {"type": "basic", "username": USER, "password": PASSWORD},
            "streams": ["business_partners"],
            "page_size": args.page_size,
        }
        print(f"{args.records:,} business partners, pages of {args.page_size:,}", flush=True)

        env = fresh_database()
        l2c(
            env,
            "connection",
            "add",
            "s4",
            "--connector",
            "sap_odata",
            "--config",
            json.dumps(config),
        )
        l2c(env, "job", "add", "bp", "--connection", "s4", "--mapping", MAPPING)
        odata_seconds = l2c(env, "sync", "run", "bp")
        odata_accounts = accounts()

        jsonl = OUT / "business_partners.jsonl"
        emitted = capture(config, jsonl)
        env = fresh_database()
        files = {
            "path": str(OUT),
            "streams": [
                {
                    "name": "business_partners",
                    "pattern": jsonl.name,
                    "format": "jsonl",
                    "key_properties": ["BusinessPartner"],
                }
            ],
        }
        l2c(env, "connection", "add", "drop", "--connector", "files", "--config", json.dumps(files))
        l2c(env, "job", "add", "bp-files", "--connection", "drop", "--mapping", MAPPING)
        files_seconds = l2c(env, "sync", "run", "bp-files")
        files_accounts = accounts()
    finally:
        fake.terminate()
        fake.wait(timeout=30)

    odata_rate = emitted / odata_seconds
    files_rate = emitted / files_seconds
    print(
        f"  (a) sap_odata (HTTP, OData V2 JSON)  {odata_seconds:8.2f} s "
        f"{odata_rate:>10,.0f} rec/s  ({odata_accounts:,} accounts)"
    )
    print(
        f"  (b) files (JSONL, same records)      {files_seconds:8.2f} s "
        f"{files_rate:>10,.0f} rec/s  ({files_accounts:,} accounts)"
    )
    print(f"  ratio (a)/(b) = {odata_rate / files_rate:.2f}   (target >= 0.5)")
    if odata_accounts != files_accounts:
        raise SystemExit("the two runs stored different numbers of accounts")


if __name__ == "__main__":
    main()
