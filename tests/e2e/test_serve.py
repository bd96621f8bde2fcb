"""`l2c serve` runs the API, the workers and the beat as one supervised group: a run
triggered meanwhile completes, a child that dies is restarted, and no process of the
group outlives `serve` — whether it is stopped or killed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cli import L2C, l2c, l2c_env
from sqlalchemy import select

from core.model.tables import SyncJob, SyncRun, Tenant
from core.settings import get_settings
from core.store.engine import make_engine, make_session_factory
from scheduler.queue import trigger_run
from tests.scheduler.conftest import KOMBU_NOLOAD, add_csv_job, write_accounts

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(KOMBU_NOLOAD)]
TIMEOUT = 90.0


def eventually(check: Callable[[], object], what: str, timeout: float = TIMEOUT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def children_of(pid: int) -> dict[int, str]:
    """Direct children and the `l2c` sub-command each runs."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        found[int(child)] = argv[argv.index(b"api.cli.main") + 1].decode()
    return found


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """`l2c serve` on the embedded store and broker, with a CSV job defined."""
    if not Path("/proc/self/task").exists():
        pytest.skip("needs Linux /proc to find the children")
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    env = l2c_env(database, tmp_path / "data")
    env["L2C_LOG_FORMAT"] = "console"
    l2c("init", env=env)
    for key in [k for k in os.environ if k.startswith("L2C_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("L2C_"):
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()  # this process publishes to serve's embedded broker
    engine = make_engine(database)
    sessions = make_session_factory(engine)
    write_accounts(tmp_path / "src", 120)
    with sessions.begin() as session:
        tenant = session.scalar(select(Tenant))
        job = add_csv_job(session, tenant, tmp_path / "src")
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [L2C, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    state = {"serve": serve, "sessions": sessions, "job": job, "port": port, "log": tmp_path}
    try:
        eventually(lambda: len(children_of(serve.pid)) == 4, "serve's four children")
        state["group"] = os.getpgid(next(iter(children_of(serve.pid))))
        yield state
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGKILL)
            serve.wait()
        if "group" in state:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state["group"], signal.SIGKILL)
        log.close()
        engine.dispose()
        get_settings.cache_clear()


def test_serve_runs_the_api_and_the_workers_and_stops_them_all(served) -> None:
    serve, port, group = served["serve"], served["port"], served["group"]
    assert group != os.getpgrp()  # never the caller's group: stopping it cannot hit us
    assert sorted(children_of(serve.pid).values()) == ["api", "beat", "worker", "worker"]
    url = f"http://127.0.0.1:{port}"
    eventually(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, "/healthz")
    ready = httpx.get(f"{url}/readyz", timeout=10).json()
    assert ready["checks"] == {"database": "ok", "broker": "ok"}

    with served["sessions"].begin() as session:
        run_id = trigger_run(session, session.get_one(SyncJob, served["job"].id)).id

    def completed() -> SyncRun | None:
        with served["sessions"]() as session:
            run = session.get_one(SyncRun, run_id)
            return run if run.status == "completed" else None

    run = eventually(completed, "the run to complete")
    assert (run.read_count, run.inserted_count) == (120, 120)

    # a child that dies is restarted
    beat = next(pid for pid, name in children_of(serve.pid).items() if name == "beat")
    os.kill(beat, signal.SIGKILL)
    eventually(
        lambda: [n for p, n in children_of(serve.pid).items() if n == "beat" and p != beat],
        "a new beat",
    )

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=TIMEOUT) == 0
    assert not group_alive(group), "a child of serve outlived it"


def test_the_children_of_a_killed_serve_do_not_linger(served) -> None:
    """An orphaned beat would go on queuing ticks beside the next serve's."""
    serve, group = served["serve"], served["group"]
    serve.send_signal(signal.SIGKILL)
    serve.wait()
    eventually(lambda: not group_alive(group), "the orphaned children to stop")
