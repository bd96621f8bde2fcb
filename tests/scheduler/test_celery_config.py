"""The Celery app carries the reliability settings of the research note, and the
embedded broker is set up the way it performs (polling interval, WAL, purge)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import kombu.transport.sqlalchemy as kombu_sqla
import pytest
from pydantic import ValidationError

from core.settings import CoreSettings
from scheduler.celery_app import (
    CONTROL_QUEUE,
    SYNC_QUEUE,
    broker_probe,
    build_config,
    make_app,
    prepare_broker,
)
from scheduler.housekeeping import purge_delivered
from scheduler.settings import SchedulerSettings
from tests.conftest import REDIS_URL, require_redis
from tests.scheduler.conftest import KOMBU_NOLOAD

TASKS = ("l2c.run_sync", "l2c.process_inbox", "l2c.dispatch_outbox", "l2c.tick", "l2c.housekeeping")


def redis_config(**sched: Any) -> dict[str, Any]:
    return build_config(
        CoreSettings(broker_url="redis://127.0.0.1:6379/0"), SchedulerSettings(**sched)
    )


@pytest.mark.parametrize("sched", [{}, {"run_time_limit": 20_000, "visibility_timeout": 20_001}])
def test_visibility_timeout_is_set_everywhere_and_outlasts_every_task(sched) -> None:
    conf = redis_config(**sched)
    vt = conf["visibility_timeout"]
    assert conf["broker_transport_options"]["visibility_timeout"] == vt
    assert conf["result_backend_transport_options"]["visibility_timeout"] == vt
    limits = [conf["task_time_limit"]]
    limits += [options["time_limit"] for options in conf["task_annotations"].values()]
    assert vt > max(limits)
    # the limits the worker applies are those: check them on the tasks themselves
    app = make_app(CoreSettings(broker_url="redis://127.0.0.1:6379/0"), SchedulerSettings(**sched))
    import scheduler.tasks  # noqa: F401 - registers the shared tasks

    applied = {name: app.tasks[name].time_limit for name in TASKS}
    assert applied["l2c.run_sync"] == SchedulerSettings(**sched).run_time_limit
    assert all(0 < limit < vt for limit in applied.values()), applied
    assert all(app.tasks[name].soft_time_limit < applied[name] for name in TASKS)


def test_a_visibility_timeout_shorter_than_a_task_is_refused() -> None:
    with pytest.raises(ValidationError, match="L2C_VISIBILITY_TIMEOUT"):
        SchedulerSettings(run_time_limit=7200, visibility_timeout=3600)


def test_delivery_is_at_least_once_with_idempotent_tasks() -> None:
    conf = redis_config()
    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is True
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["task_soft_time_limit"] < conf["task_time_limit"]


def test_only_json_travels_and_no_result_is_kept() -> None:
    conf = redis_config()
    assert conf["accept_content"] == ["json"]
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["task_ignore_result"] is True


def test_sync_runs_never_queue_ahead_of_the_short_tasks() -> None:
    conf = redis_config()
    assert conf["task_routes"] == {"l2c.run_sync": {"queue": SYNC_QUEUE}}
    assert conf["task_default_queue"] == CONTROL_QUEUE


def test_the_beat_sends_a_tick_and_housekeeping_from_a_fixed_schedule() -> None:
    conf = redis_config(beat_interval=3, housekeeping_interval=90)
    schedule = conf["beat_schedule"]
    assert {e["task"]: e["schedule"] for e in schedule.values()} == {
        "l2c.tick": 3,
        "l2c.housekeeping": 90,
        "l2c.leads.route": 60.0,
        "l2c.leads.recycle": 300.0,
        "l2c.leads.rescore": 900.0,
        "l2c.leads.rfm": 900.0,
    }
    assert all(e["options"]["expires"] < conf["visibility_timeout"] for e in schedule.values())
    assert conf["beat_scheduler"] == "celery.beat:Scheduler"  # no schedule file to persist


def test_the_embedded_broker_is_a_sqlite_file_of_its_own(tmp_path: Path) -> None:
    core = CoreSettings(data_dir=tmp_path / "data")
    conf = build_config(core, SchedulerSettings())
    assert conf["broker_url"] == f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}"
    assert core.resolved_broker_url() != core.resolved_database_url()
    # every SQL transport option reaches create_engine(): none of Redis's may be there
    assert conf["broker_transport_options"] == {"connect_args": {"timeout": 30}}


@pytest.mark.filterwarnings(KOMBU_NOLOAD)
def test_the_embedded_broker_polls_fast_runs_in_wal_and_is_purged(tmp_path: Path) -> None:
    app = make_app(CoreSettings(data_dir=tmp_path), SchedulerSettings(broker_polling_interval=0.2))
    assert kombu_sqla.Transport.polling_interval == 0.2
    url = app.conf.broker_url
    prepare_broker(url)
    database = tmp_path / "broker.db"
    with sqlite3.connect(database) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue("probe")
        queue.put({"run_id": "a"})
        queue.put({"run_id": "b"})
        message = queue.get(timeout=5)
        assert message.payload == {"run_id": "a"}
        message.ack()
        queue.close()
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT visible FROM kombu_message ORDER BY id").fetchall() == [
            (0,),
            (1,),
        ]
    assert purge_delivered(url) == 1
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT visible FROM kombu_message").fetchall() == [(1,)]
    broker_probe(app)


def test_purging_a_redis_broker_is_a_no_op() -> None:
    assert purge_delivered("redis://127.0.0.1:6379/0") == 0


def test_the_readiness_probe_reaches_redis_or_says_why() -> None:
    require_redis()
    broker_probe(make_app(CoreSettings(broker_url=REDIS_URL)))
    with pytest.raises(Exception, match="Connection refused"):
        broker_probe(make_app(CoreSettings(broker_url="redis://127.0.0.1:1/0")))
