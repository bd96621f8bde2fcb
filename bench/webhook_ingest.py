"""Signed webhook ingest against the hub's API, next to a hello-world FastAPI endpoint
served the same way, in one run, on SQLite and on PostgreSQL.

Both servers run as `l2c api` does (uvicorn, one worker, factory app, no access log) on
127.0.0.1. Two measurements each:

1. max rate: wrk (C, closed loop, 64 connections) for --seconds; each webhook request
   carries a unique `webhook-id`, pre-signed with the connection's secret;
2. latency at a constant rate of half the hello-world maximum: an open-loop asyncio
   generator (latency counted from each request's scheduled time, so a stalled server
   cannot hide its queue), run against hello-world too, which shows the generator's
   own share.

Afterwards every `webhook-id` answered 202 must be in the inbox exactly once.
Target (issue 3): ingest >= 50 % of hello-world's rate, p99 < 50 ms at half its rate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get(
    "L2C_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
BODY = {
    "type": "customers.updated",
    "timestamp": "2024-05-06T06:30:00Z",
    "data": {
        "customer_code": "C000123",
        "company_name": "上海华东精密机械有限公司",
        "uscc": "91310115MA1K4B2X3C",
        "industry_code": "01",
        "province": "上海市",
        "city": "上海市",
        "address": "浦东新区张江路 88 号",
        "phone": "021-5080 1234",
        "email": "sales@hdjm.com.cn",
        "credit_limit": "1,200,000.00",
        "currency": "RMB",
        "payment_terms": "月结60天",
        "updated_at": "2024-05-06 14:30:00",
        "sap": {
            "BusinessPartner": "0010000123",
            "BusinessPartnerCategory": "2",
            "SearchTerm1": "HDJM",
            "Industry": "MACH",
            "TaxNumber": "91310115MA1K4B2X3C",
            "Country": "CN",
            "Region": "31",
            "PostalCode": "201203",
            "LastChangeDateTime": "/Date(1714977000000+0000)/",
            "Note": "x" * 500,
        },
    },
}


# ------------------------------------------------------------------ the hello-world app
def hello_app() -> Any:
    """The peer: the smallest FastAPI endpoint that reads a POST body."""
    app = FastAPI()

    @app.post("/hello")
    async def hello(request: Request) -> dict[str, bool]:
        await request.body()
        return {"ok": True}

    return app


# ------------------------------------------------------------------ set-up
@dataclass
class Target:
    name: str
    url: str
    database: str | None = None  # PostgreSQL scratch database to drop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(target: Target, env: dict[str, str]) -> tuple[str, str]:
    """Migrate, create a tenant and a connection with a webhook secret: (id, secret)."""
    os.environ.update(env)
    from core.settings import get_settings

    get_settings.cache_clear()
    from core.model.tables import Connection, Tenant
    from core.store.engine import make_engine, make_session_factory
    from core.store.migrate import upgrade
    from scheduler.webhooks import rotate_secret

    engine = make_engine(target.url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        tenant = Tenant(slug="bench", name="Bench")
        session.add(tenant)
        session.flush()
        connection = Connection(tenant_id=tenant.id, name="erp", connector="files", config={})
        session.add(connection)
        session.flush()
        secret = rotate_secret(session, tenant.id, connection.id).secret
        connection_id = str(connection.id)
    engine.dispose()
    return connection_id, secret


def inbox_ids(url: str, connection_id: str) -> list[str]:
    from sqlalchemy import text

    from core.store.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT event_id FROM inbox_event WHERE connection_id = :c"),
            {"c": uuid.UUID(connection_id).hex if url.startswith("sqlite") else connection_id},
        ).scalars()
        ids = list(rows)
    engine.dispose()
    return ids


def create_pg_database(name: str) -> str:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """A uvicorn child serving `factory` like `l2c api` does; stopped on exit."""

    def __init__(self, factory: str, env: dict[str, str]) -> None:
        self.port = free_port()
        code = (
            "import uvicorn, sys; "
            f"uvicorn.run({factory!r}, factory=True, host='127.0.0.1', port={self.port}, "
            "log_config=None, access_log=False, timeout_graceful_shutdown=10)"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={
                **os.environ,
                **env,
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                errors = self.process.stderr.read() if self.process.stderr else b""
                raise RuntimeError(f"{factory} exited: {errors.decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{factory} did not listen within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ------------------------------------------------------------------ signed requests
def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_requests(
    secret: str, count: int, prefix: str, body: bytes
) -> list[tuple[str, str, str]]:
    """(webhook-id, webhook-timestamp, webhook-signature) for `count` unique events."""
    now = str(int(time.time()))
    return [
        (event_id, now, sign(secret, event_id, int(now), body))
        for event_id in (f"{prefix}-{i}" for i in range(count))
    ]


WRK_SCRIPT = r"""
local ids, sigs, ts = {}, {}, nil
local n, i = 0, 0
local body, path, out = nil, nil, nil
accepted, duplicate, other = 0, 0, 0

function init(args)
  path = args[1]
  local f = assert(io.open(args[2], "r"))
  ts = f:read("*l")
  for line in f:lines() do
    local id, sig = line:match("([^ ]+) (.+)")
    n = n + 1
    ids[n] = id
    sigs[n] = sig
  end
  f:close()
  local b = assert(io.open(args[3], "rb"))
  body = b:read("*a")
  b:close()
  out = assert(io.open(args[4], "w"))
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = ids[i],
    ["webhook-timestamp"] = ts,
    ["webhook-signature"] = sigs[i],
  }, body)
end

function response(status, headers, rbody)
  if status == 202 then
    accepted = accepted + 1
    out:write(rbody:match('"event_id":"([^"]+)"'), "\n")
  elseif status == 200 then
    duplicate = duplicate + 1
  else
    other = other + 1
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local a, d, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); d = d + t:get("duplicate"); o = o + t:get("other")
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, '
    .. '"errors": %d, "accepted": %d, "duplicate": %d, "other": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    a, d, o))
end
"""

HELLO_SCRIPT = r"""
local body = nil
function init(args)
  local b = assert(io.open(args[1], "rb"))
  body = b:read("*a")
  b:close()
end
function request()
  return wrk.format("POST", "/hello", {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
"""


def run_wrk(port: int, script: Path, args: list[str], seconds: float, conns: int) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["rate"] = result["requests"] / result["seconds"]
    return result


# ------------------------------------------------------------------ open-loop generator
class _Client(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the open-loop generator (no task per
    request: responses are parsed as they arrive)."""

    def __init__(self, run: _OpenLoop) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.current: tuple[float, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.run.idle.append(self)

    def send(self, item: tuple[float, int]) -> None:
        self.current = item
        self.transport.write(self.run.requests[item[1]])  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.current is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = _content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.run.done(self, int(head[9:12]), body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.current is not None:
            self.run.errors += 1
            self.current = None


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    return 0


class _OpenLoop:
    def __init__(self, requests: list[bytes]) -> None:
        self.requests = requests
        self.idle: list[_Client] = []
        self.waiting: collections.deque[tuple[float, int]] = collections.deque()
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.bodies: list[bytes] = []
        self.errors = 0

    def dispatch(self, item: tuple[float, int]) -> None:
        if self.idle:
            self.idle.pop().send(item)
        else:
            self.waiting.append(item)  # every connection busy: the wait counts as latency

    def done(self, client: _Client, status: int, body: bytes) -> None:
        assert client.current is not None
        self.latencies.append(time.perf_counter() - client.current[0])
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 202:
            self.bodies.append(body)
        client.current = None
        if self.waiting:
            client.send(self.waiting.popleft())
        else:
            self.idle.append(client)


async def constant_rate(
    port: int, requests: list[bytes], rate: float, seconds: float, conns: int
) -> dict[str, Any]:
    """Send `rate` requests/s for `seconds` over `conns` keep-alive connections; latency
    is measured from each request's scheduled send time (coordinated omission
    corrected). Returns latencies, statuses and the bodies of the answers."""
    loop = asyncio.get_running_loop()
    total = min(int(rate * seconds), len(requests))
    run = _OpenLoop(requests)
    clients = [
        (await loop.create_connection(lambda: _Client(run), "127.0.0.1", port))[1]
        for _ in range(conns)
    ]
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            run.dispatch((start + sent / rate, sent))
            sent += 1
        await asyncio.sleep(0.001)  # uvloop's timer resolution; lateness counts as latency
    deadline = time.perf_counter() + 30
    while len(run.latencies) + run.errors < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    latencies = sorted(run.latencies)

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0
        )

    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "statuses": run.statuses,
        "errors": run.errors,
        "accepted_bodies": run.bodies,
    }


def raw_post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        "Content-Type: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_constant(
    port: int, requests: list[bytes], rate: float, seconds: float, conns: int
) -> dict[str, Any]:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    return runner(constant_rate(port, requests, rate, seconds, conns))  # type: ignore[no-any-return]


# ------------------------------------------------------------------ main
@dataclass
class Subject:
    """One server under test and what was measured of it."""

    name: str
    server: Server
    path: str
    secret: str | None = None
    url: str | None = None
    connection_id: str | None = None
    peaks: list[dict[str, Any]] = field(default_factory=list)
    steady: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_peak(
    subject: Subject, work: Path, body: bytes, args: argparse.Namespace, n: int
) -> None:
    """wrk at full speed; webhook runs carry unique pre-signed ids."""
    port, pid = subject.server.port, subject.server.process.pid
    if subject.secret is None:
        script, extra = work / "hello.lua", [str(work / "body.json")]
    else:
        events = signed_requests(subject.secret, args.max_events, f"max{n}", body)
        data, out = work / f"{subject.name}-{n}.txt", work / f"{subject.name}-{n}.out"
        _write_wrk_data(data, events)
        script, extra = (
            work / "webhook.lua",
            [subject.path, str(data), str(work / "body.json"), str(out)],
        )
    cpu = cpu_seconds(pid)
    result = run_wrk(port, script, extra, args.seconds, args.connections)
    result["cpu_us"] = (cpu_seconds(pid) - cpu) / max(1, result["requests"]) * 1e6
    result["wrapped"] = subject.secret is not None and result["requests"] > args.max_events
    if subject.secret is not None:
        subject.accepted += (work / f"{subject.name}-{n}.out").read_text().split()
    subject.peaks.append(result)


def measure_steady(
    subject: Subject, body: bytes, rate: float, args: argparse.Namespace, n: int
) -> None:
    """The open-loop generator at a constant `rate`."""
    count = int(rate * args.seconds) + 1
    if subject.secret is None:
        requests = [raw_post(subject.path, body, {})] * count
    else:
        requests = [
            raw_post(
                subject.path,
                body,
                {"webhook-id": i, "webhook-timestamp": t, "webhook-signature": s},
            )
            for i, t, s in signed_requests(subject.secret, count, f"steady{n}", body)
        ]
    result = run_constant(subject.server.port, requests, rate, args.seconds, args.connections)
    subject.accepted += [
        json.loads(b)["events"][0]["event_id"] for b in result.pop("accepted_bodies")
    ]
    subject.steady.append(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, best one kept (default 2)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--max-events", type=int, default=100_000, help="pre-signed events per wrk run"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    from cryptography.fernet import Fernet

    work = Path(tempfile.mkdtemp(prefix="l2c-bench-webhooks-"))
    body = json.dumps(BODY, ensure_ascii=False, separators=(",", ":")).encode()
    (work / "body.json").write_bytes(body)
    (work / "hello.lua").write_text(HELLO_SCRIPT)
    (work / "webhook.lua").write_text(WRK_SCRIPT)
    env = {
        "L2C_SECRET_KEY": Fernet.generate_key().decode(),
        "L2C_LOG_LEVEL": "WARNING",
        "L2C_DATA_DIR": str(work),
    }
    app = os.environ.get("L2C_BENCH_APP", "api.cli.service:served_app")
    print(
        f"body {len(body)} bytes; wrk -t1 -c{args.connections}; {args.rounds} rounds of "
        f"{args.seconds:.0f} s per measurement; one uvicorn worker per server; "
        f"{os.cpu_count()} CPUs shared; load average {os.getloadavg()[0]:.1f}"
    )
    subjects: list[Subject] = []
    targets: list[Target] = []
    try:
        subjects.append(
            Subject("hello-world", Server("bench.webhook_ingest:hello_app", env), "/hello")
        )
        for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
            target = _target(name, work)
            targets.append(target)
            db_env = {**env, "L2C_DATABASE_URL": target.url}
            connection_id, secret = prepare(target, db_env)
            server = Server(app, db_env)
            path = f"/v1/webhooks/{connection_id}"
            subjects.append(Subject(target.name, server, path, secret, target.url, connection_id))
        for subject in subjects:  # warm-up: caches, prepared statements, connections
            measure_peak(subject, work, body, argparse.Namespace(**{**vars(args), "seconds": 2}), 0)
            subject.peaks.clear()
        for n in range(1, args.rounds + 1):
            for subject in subjects:
                measure_peak(subject, work, body, args, n)
        hello_rate = max(r["rate"] for r in subjects[0].peaks)
        half = hello_rate / 2
        for n in range(1, args.rounds + 1):
            for subject in subjects:
                measure_steady(subject, body, half, args, n)
    finally:
        for subject in subjects:
            subject.server.stop()
    failures = report(subjects, hello_rate, half)
    for target in targets:
        if target.database:
            drop_pg_database(target.database)
    shutil.rmtree(work, ignore_errors=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 1 if failures else 0


def report(subjects: list[Subject], hello_rate: float, half: float) -> int:
    hello = subjects[0]
    best_hello = max(hello.peaks, key=lambda r: r["rate"])
    calm_hello = min(hello.steady, key=lambda r: r["p99_ms"])
    print(
        f"\nhello-world  max {hello_rate:7.0f} req/s (wrk p99 {best_hello['p99_ms']:.1f} ms, "
        f"{best_hello['cpu_us']:.0f} µs CPU/request);  at {half:.0f}/s: p50 "
        f"{calm_hello['p50_ms']:.1f} ms, p99 {calm_hello['p99_ms']:.1f} ms (generator + server)"
    )
    failures = 0
    for subject in subjects[1:]:
        best = max(subject.peaks, key=lambda r: r["rate"])
        calm = min(subject.steady, key=lambda r: r["p99_ms"])
        ratio = best["rate"] / hello_rate
        stored = inbox_ids(subject.url or "", subject.connection_id or "")
        stored_set = set(stored)
        missing = [i for i in subject.accepted if i not in stored_set]
        twice = len(subject.accepted) - len(set(subject.accepted))
        wrapped = any(r["wrapped"] for r in subject.peaks)
        refused = sum(r["other"] for r in subject.peaks) + sum(
            n for status, n in calm["statuses"].items() if status != 202
        )
        ok = (
            ratio >= TARGET_RATIO
            and calm["p99_ms"] < TARGET_P99_MS
            and not missing
            and not twice
            and not refused
        )
        failures += not ok
        rounds = ", ".join(f"{r['rate']:.0f}" for r in subject.peaks)
        print(f"\n{subject.name}: signed webhook -> verified -> group-committed inbox row -> 202")
        print(
            f"  max        {best['rate']:7.0f} req/s = {ratio:.2f} x hello-world (target >= "
            f"{TARGET_RATIO:.2f}); rounds {rounds}; wrk p50 {best['p50_ms']:.1f} ms, p99 "
            f"{best['p99_ms']:.1f} ms; {best['cpu_us']:.0f} µs API CPU/request"
        )
        steady = ", ".join(f"{r['p99_ms']:.1f}" for r in subject.steady)
        print(
            f"  at {half:.0f}/s  p50 {calm['p50_ms']:.1f} ms, p99 {calm['p99_ms']:.1f} ms "
            f"(target < {TARGET_P99_MS:.0f}; rounds' p99 {steady}), max {calm['max_ms']:.1f} ms, "
            f"achieved {calm['rate']:.0f}/s, errors {calm['errors']}"
        )
        print(
            f"  inbox      {len(stored)} rows; {len(subject.accepted)} ids answered 202: "
            f"{len(missing)} missing, {twice} answered twice, {refused} non-2xx answers"
            f"{'; WARNING: wrk reused pre-signed ids' if wrapped else ''}  -> "
            f"{'PASS' if ok else 'FAIL'}"
        )
    return failures


def _target(name: str, work: Path) -> Target:
    if name == "sqlite":
        return Target("SQLite", f"sqlite:///{work / 'l2c.db'}")
    if name == "postgres":
        database = f"l2c_bench_webhooks_{os.getpid()}"
        return Target("PostgreSQL", create_pg_database(database), database)
    raise SystemExit(f"unknown database {name!r}: sqlite or postgres")


def _write_wrk_data(path: Path, events: list[tuple[str, str, str]]) -> None:
    timestamp = events[0][1]
    path.write_text(timestamp + "\n" + "".join(f"{i} {s}\n" for i, _, s in events))


if __name__ == "__main__":
    raise SystemExit(main())
