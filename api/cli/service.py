"""`l2c serve`, `l2c api`, `l2c worker`, `l2c beat`: the hub as a service.

`serve` is the embedded default in one command: the HTTP API, a sync worker, a control
worker (ticks, inbox, outbox, housekeeping — never stuck behind a long sync) and the
beat, as supervised child processes in one process group of their own. A child that
dies is restarted; SIGINT/SIGTERM stops them all (SIGKILL after a grace period); and
on Linux each child gets SIGTERM if `serve` itself is killed, so none is orphaned —
an orphaned beat would keep queuing ticks beside its successor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.context import engine, fail, reports_errors, settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("l2c.serve")

QUICK_EXIT = 10.0
"""A child that exits sooner than this after starting failed to start."""
MAX_QUICK_EXITS = 5


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("api")(api)
    app.command("worker")(worker)
    app.command("beat")(beat)


def _configure_logging() -> None:
    from core.logs import configure_logging

    configure_logging(settings(), quiet=("uvicorn.access",))


# ----------------------------------------------------------------------------- children
def served_app() -> FastAPI:
    """The uvicorn factory: the API with its readiness probe wired to our broker."""
    from api.http.app import create_app
    from scheduler.celery_app import broker_probe
    from scheduler.queue import InboxKicker

    app = create_app(broker_probe=broker_probe)
    app.state.on_webhook_stored = InboxKicker()
    return app


@reports_errors
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Run only the HTTP API (no worker, no beat)."""
    import uvicorn

    _configure_logging()
    uvicorn.run(
        "api.cli.service:served_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,  # our logging, configured by create_app
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@reports_errors
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", help="Tasks run at once (default L2C_WORKER_CONCURRENCY, 2)."
        ),
    ] = None,
    queues: Annotated[
        str,
        typer.Option(
            "--queues", "-Q", help="Comma-separated queues: l2c.sync (runs), l2c.control (rest)."
        ),
    ] = "l2c.sync,l2c.control",
    name: Annotated[str, typer.Option(help="Node name (%h is the host name).")] = "l2c@%h",
) -> None:
    """Run a Celery worker: executes sync runs, webhook inbox, outbox and housekeeping."""
    from scheduler.celery_app import app as celery
    from scheduler.settings import get_scheduler_settings

    _configure_logging()
    slots = concurrency or get_scheduler_settings().worker_concurrency
    argv = [
        "--quiet",  # no banner: one log line per event, JSON included
        "worker",
        f"--concurrency={slots}",
        f"--queues={queues}",
        f"--hostname={name}",
        "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
        f"--loglevel={settings().log_level}",
    ]
    raise typer.Exit(celery.start(argv) or 0)


@reports_errors
def beat() -> None:
    """Run the beat: one per deployment; it ticks, the database holds the schedules."""
    from scheduler.celery_app import app as celery

    _configure_logging()
    argv = ["--quiet", "beat", f"--loglevel={settings().log_level}"]
    raise typer.Exit(celery.start(argv) or 0)


# ----------------------------------------------------------------------------- serve
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port of the API.")] = 8000,
    workers_in_process: Annotated[
        bool,
        typer.Option(
            "--workers-in-process/--no-worker",
            help="Also run a worker and the beat (needed with the embedded broker; with "
            "L2C_BROKER_URL set, --no-worker serves the API alone).",
        ),
    ] = True,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Sync runs at once.")
    ] = None,
) -> None:
    """Serve the hub: the API, plus a worker and the beat, supervised as one group."""
    from core.store.migrate import current_revision
    from scheduler.celery_app import is_local_broker, prepare_broker
    from scheduler.settings import get_scheduler_settings

    if current_revision(engine()) is None:
        fail("the database is not initialised", "run `l2c init` first")
    _configure_logging()
    config = settings()
    broker = config.resolved_broker_url()
    if not workers_in_process and is_local_broker(broker):
        log.warning(
            "--no-worker ignored: the embedded broker is read on this machine only, "
            "so `serve` runs its worker and beat (set L2C_BROKER_URL to a shared broker)"
        )
        workers_in_process = True
    prepare_broker(broker)
    me = [sys.executable, "-m", "api.cli.main"]
    children = [Child("api", [*me, "api", "--host", host, "--port", str(port)])]
    if workers_in_process:
        slots = concurrency or get_scheduler_settings().worker_concurrency
        children += [
            Child(
                "worker-sync",
                [*me, "worker", "-Q", "l2c.sync", "-c", str(slots), "--name", "sync@%h"],
            ),
            Child(
                "worker-control",
                [*me, "worker", "-Q", "l2c.control", "-c", "2", "--name", "control@%h"],
            ),
            Child("beat", [*me, "beat"]),
        ]
    log.info(
        "serving L2C Hub on http://%s:%d (broker %s)",
        host,
        port,
        broker.split("://", 1)[0],
        extra={"children": [c.name for c in children]},
    )
    supervisor = Supervisor(
        children, grace=get_scheduler_settings().shutdown_grace, first_listens=(host, port)
    )
    raise typer.Exit(supervisor.run())


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Start children in one new process group, restart the ones that die, stop all."""

    def __init__(
        self,
        children: list[Child],
        *,
        grace: float,
        poll: float = 0.2,
        first_listens: tuple[str, int] | None = None,
        backoff_cap: float = 30.0,
    ) -> None:
        self.children = children
        self.grace = grace
        self.poll = poll
        self.backoff_cap = backoff_cap
        self.first_listens = first_listens
        self.group: int | None = None
        self.stopping = False
        self.failed: Child | None = None

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            first, *rest = self.children
            self._start(first)
            self._await_listening(first)
            for child in rest:
                if not self.stopping:
                    self._start(child)
            while not self.stopping:
                time.sleep(self.poll)
                self._watch()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.failed is not None:
            log.error(
                "%s keeps exiting at start-up (exit code %s); stopped everything",
                self.failed.name,
                self.failed.exits[-1] if self.failed.exits else "?",
            )
            return 1
        return 0

    def _await_listening(self, child: Child, timeout: float = 60.0) -> None:
        """Start the rest once the API answers: on a small machine, importing four
        processes at once would keep the API unreachable for several more seconds."""
        if self.first_listens is None:
            return
        host, port = self.first_listens
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a client here
        deadline = time.monotonic() + timeout
        while not self.stopping and time.monotonic() < deadline:
            if child.process is not None and child.process.poll() is not None:
                return  # it failed; _watch restarts it and the others start meanwhile
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                return
            time.sleep(self.poll)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("%s received: stopping", signal.Signals(signum).name)
        self.stopping = True

    def _start(self, child: Child) -> None:
        parent = os.getpid()

        def die_with_parent() -> None:
            _set_parent_death_signal(signal.SIGTERM)
            if os.getppid() != parent:  # the parent died before the line above
                os.kill(os.getpid(), signal.SIGTERM)

        def spawn(group: int) -> subprocess.Popen[bytes]:
            # serve is single-threaded, so preexec_fn is safe here
            return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                child.argv,
                process_group=group,
                preexec_fn=die_with_parent,  # noqa: PLW1509
            )

        try:
            process = spawn(self.group or 0)
        except OSError:  # every member of the group is gone: found a new one
            process = spawn(0)
            self.group = None
        if self.group is None:
            self.group = process.pid
        child.process = process
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("%s started (pid %d)", child.name, process.pid)

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._start(child)
                continue
            code = child.process.poll() if child.process else None
            if code is None:
                continue
            child.exits.append(code)
            quick = now - child.started_at < QUICK_EXIT
            child.quick_exits = child.quick_exits + 1 if quick else 0
            if child.quick_exits >= MAX_QUICK_EXITS:
                self.failed = child
                self.stopping = True
                return
            delay = min(2.0**child.quick_exits if quick else 1.0, self.backoff_cap)
            log.warning("%s exited with code %d; restarting in %.0f s", child.name, code, delay)
            child.restart_at = now + delay

    def _stop_all(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + self.grace
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        if self.group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.group, signal.SIGKILL)  # stragglers and grandchildren
        for process in running:
            process.wait()
        log.info("stopped")


def _set_parent_death_signal(signum: int) -> None:
    """Linux: have the kernel send `signum` to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc: Any = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0)
