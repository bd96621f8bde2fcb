"""Whole-process sync throughput into PostgreSQL, ours next to the peers, in one run.

(a)  cat bp.singer.jsonl | l2c singer target --mapping bench/mappings/sap_bp_account.yaml
     mapped, validated, external refs, change log, state; then the same file again
     (nothing changed: must write no row and take at most half the time)
(b)  cat bp.singer.jsonl | target-postgres       (meltanolabs, defaults)
(b') cat bp.singer.jsonl | target-postgres       (its fastest: upsert + COPY, no validation,
                                                  no metadata columns, no activate-version)
(c)  psql \\copy of the same rows (pre-made CSV) into a plain table with a primary key

Targets on the 2-core box: (a) >= 5x (b), (a) >= 1.5x (b'), (a) >= 0.25x (c).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT))

from peers import TARGET_POSTGRES, peer_bin  # noqa: E402

from core.model.uscc import ALPHABET, check_character  # noqa: E402

OUT = ROOT / "bench" / "out"
MAPPING = ROOT / "bench" / "mappings" / "sap_bp_account.yaml"
ADMIN_URL = os.environ.get(
    "L2C_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "l2c_bench"
FIELDS = [
    "BusinessPartner",
    "BusinessPartnerCategory",
    "BusinessPartnerFullName",
    "OrganizationBPName1",
    "SearchTerm1",
    "Industry",
    "TaxNumber",
    "Country",
    "Region",
    "CityName",
    "StreetName",
    "PostalCode",
    "PhoneNumber",
    "EmailAddress",
    "CreditLimit",
    "Currency",
    "LastChangeDateTime",
    "IsMarkedForArchiving",
]
REGIONS = [
    ("31", "上海市"),
    ("44", "深圳市"),
    ("33", "杭州市"),
    ("32", "苏州市"),
    ("51", "成都市"),
    ("11", "北京市"),
]
WORDS = ["华东", "云帆", "博远", "天府", "中科", "恒信", "鼎盛", "瑞丰", "启明", "海川", "𠀾星"]
TRADES = ["精密机械", "信息技术", "商贸", "建设工程", "新能源", "医疗器械"]


def generate(path: Path, records: int, seed: int = 7) -> None:
    """SCHEMA, `records` RECORDs of ~18 SAP fields, a STATE every 10,000 (as singer-sdk does)."""
    rng = random.Random(seed)
    properties = {f: {"type": ["string", "null"]} for f in FIELDS}
    properties["IsMarkedForArchiving"] = {"type": ["boolean", "null"]}
    t0 = 1_700_000_000_000
    with path.open("w", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "A_BusinessPartner",
                    "schema": {"type": "object", "properties": properties},
                    "key_properties": ["BusinessPartner"],
                }
            )
            + "\n"
        )
        for i in range(records):
            region, city = REGIONS[i % len(REGIONS)]
            name = f"{city[:2]}{rng.choice(WORDS)}{rng.choice(TRADES)}{i}有限公司"
            body = f"91{region}0000" + "".join(rng.choice(ALPHABET) for _ in range(9))
            stamp = t0 + i * 1000
            record = {
                "BusinessPartner": f"{1000000 + i:010d}",
                "BusinessPartnerCategory": "2",
                "BusinessPartnerFullName": name,
                "OrganizationBPName1": name if i % 3 else f" {name} ",
                "SearchTerm1": name[:10],
                "Industry": f"Z00{1 + i % 7}",
                "TaxNumber": body + check_character(body),
                "Country": "CN",
                "Region": region,
                "CityName": city,
                "StreetName": f"科技园路{i % 999}号",
                "PostalCode": f"{200000 + i % 99999}",
                "PhoneNumber": f"021-{50000000 + i}",
                "EmailAddress": f"bp{i}@example.cn",
                "CreditLimit": f"{rng.randrange(10**4, 10**8)}.{i % 100:02d}",
                "Currency": "CNY",
                "LastChangeDateTime": f"/Date({stamp}+0000)/",
                "IsMarkedForArchiving": i % 1000 == 999,
            }
            out.write(
                json.dumps(
                    {"type": "RECORD", "stream": "A_BusinessPartner", "record": record},
                    ensure_ascii=False,
                )
                + "\n"
            )
            if (i + 1) % 10_000 == 0:
                out.write(
                    json.dumps(
                        {
                            "type": "STATE",
                            "value": {
                                "bookmarks": {
                                    "A_BusinessPartner": {
                                        "replication_key": "LastChangeDateTime",
                                        "replication_key_value": stamp,
                                    }
                                }
                            },
                        }
                    )
                    + "\n"
                )


def to_csv(singer: Path, path: Path) -> None:
    with (
        singer.open(encoding="utf-8") as source,
        path.open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out)
        for line in source:
            message = json.loads(line)
            if message["type"] == "RECORD":
                writer.writerow([message["record"][f] for f in FIELDS])


@dataclass
class Result:
    label: str
    seconds: float
    records: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def database_url() -> str:
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{DATABASE}"


def reset_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")


def sql(statement: str) -> list[tuple]:
    with psycopg.connect(database_url(), autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def timed(
    label: str, argv: list[str], stdin: Path | None, records: int, env: dict[str, str] | None = None
) -> Result:
    sql("CHECKPOINT")
    time.sleep(1)
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as source:
        started = time.perf_counter()
        done = subprocess.run(
            argv,
            stdin=source,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed:\n{done.stderr.decode()[-3000:]}")
    result = Result(label, seconds, records)
    print(f"  {label:<58} {seconds:8.2f} s {result.rate:>10,.0f} rec/s", flush=True)
    return result


def table_writes(tables: list[str]) -> int:
    rows = sql(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
        f"WHERE relname IN ({', '.join(repr(t) for t in tables)})"
    )
    return int(rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--skip-peers", action="store_true", help="only our runs and the raw COPY")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    singer = OUT / f"bp_{args.records}.singer.jsonl"
    rows_csv = OUT / f"bp_{args.records}.csv"
    if not singer.exists():
        print(f"generating {singer} ...", flush=True)
        generate(singer, args.records)
        to_csv(singer, rows_csv)
    loaded = args.records - args.records // 1000  # every 1000th partner is archived (`when`)
    print(f"input: {singer.name}, {singer.stat().st_size / 1e6:,.0f} MB, {args.records:,} RECORDs")

    reset_database()
    env = {
        **os.environ,
        "L2C_DATABASE_URL": database_url(),
        "L2C_DATA_DIR": str(OUT / "data"),
        "L2C_TENANT": "bench",
    }
    l2c = str(Path(sys.executable).with_name("l2c"))
    subprocess.run([l2c, "init"], env=env, check=True, capture_output=True)
    ours_argv = [
        l2c,
        "singer",
        "target",
        "--mapping",
        str(MAPPING),
        "--connection",
        "s4",
        "--batch-size",
        "20000",
    ]
    ours = timed(
        "(a)  l2c singer target (mapped, validated, xref, log, state)",
        ours_argv,
        singer,
        args.records,
        env,
    )
    accounts = sql("SELECT count(*) FROM account")[0][0]
    changes_before = sql("SELECT count(*) FROM record_change")[0][0]
    writes_before = table_writes(["account", "external_ref", "record_change"])
    rerun = timed(
        "(a2) the same file again (nothing changed)", ours_argv, singer, args.records, env
    )
    changes_after = sql("SELECT count(*) FROM record_change")[0][0]
    time.sleep(1)  # statistics are flushed asynchronously
    writes_after = table_writes(["account", "external_ref", "record_change"])

    results = [ours]
    if not args.skip_peers:
        target = str(peer_bin("target-postgres", TARGET_POSTGRES) / "target-postgres")
        base = {
            "host": "127.0.0.1",
            "port": 5432,
            "user": "postgres",
            "password": "x",
            "database": DATABASE,
        }
        for label, name, extra in [
            ("(b)  meltanolabs target-postgres, defaults", "peer_default", {}),
            (
                "(b') meltanolabs target-postgres, fastest settings",
                "peer_fast",
                {
                    "load_method": "upsert",
                    "use_copy": True,
                    "validate_records": False,
                    "add_record_metadata": False,
                    "activate_version": False,
                },
            ),
        ]:
            config = OUT / f"{name}.json"
            config.write_text(json.dumps({**base, "default_target_schema": name, **extra}))
            results.append(timed(label, [target, "--config", str(config)], singer, args.records))
    columns = ", ".join(f'"{f}" text' for f in FIELDS)
    sql(f'CREATE TABLE raw_bp ({columns}, PRIMARY KEY ("BusinessPartner"))')
    names = ", ".join(f'"{f}"' for f in FIELDS)
    copy = f"\\copy raw_bp ({names}) FROM '{rows_csv}' WITH (FORMAT csv)"
    results.append(
        timed(
            "(c)  psql \\copy of the same rows (plain table + PK)",
            ["psql", database_url(), "-q", "-c", copy],
            None,
            args.records,
        )
    )

    print()
    print(f"accounts stored: {accounts:,} (expected {loaded:,}: archived partners are filtered)")
    print(
        f"no-change re-run: {changes_after - changes_before} change-log rows, "
        f"{writes_after - writes_before} row writes to account/external_ref/record_change; "
        f"{rerun.seconds / ours.seconds:.2f} x the first run's time (target <= 0.5)"
    )
    print()
    print(f"{'ratio (a) / peer':<58} {'ratio':>8} {'target':>8}")
    targets = {"(b) ": 5.0, "(b')": 1.5, "(c) ": 0.25}
    for result in results[1:]:
        key = result.label[:4]
        ratio = ours.rate / result.rate
        goal = targets.get(key)
        verdict = "" if goal is None else ("met" if ratio >= goal else "MISSED")
        wanted = f">= {goal}" if goal else ""
        print(f"  (a) vs {result.label:<51} {ratio:8.2f} {wanted:>8} {verdict}")


if __name__ == "__main__":
    main()
