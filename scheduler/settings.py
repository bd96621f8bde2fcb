"""Settings of the task queue, read from `L2C_*` environment variables.

The broker itself is `L2C_BROKER_URL` (core settings); these are the knobs of the
worker, the beat and housekeeping. Time limits and the visibility timeout are checked
against each other here, so a misconfiguration fails at start-up, not as a task that
Redis hands to a second worker while the first still runs it.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="L2C_", extra="ignore")

    worker_concurrency: int = Field(
        default=2, ge=1, le=64, description="Sync runs one worker executes at once."
    )
    beat_interval: float = Field(
        default=5.0,
        ge=0.5,
        le=300,
        description="Seconds between two beat ticks (due cron jobs, inbox and outbox kicks).",
    )
    housekeeping_interval: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="Seconds between housekeeping passes (dead runs, retention, broker purge).",
    )
    run_time_limit: int = Field(
        default=6 * 3600,
        ge=60,
        description="Hard limit in seconds of one sync run task; the run fails and the next "
        "one resumes from its state. A soft limit 60 s earlier lets it end cleanly.",
    )
    task_time_limit: int = Field(
        default=600, ge=30, description="Hard limit in seconds of the other (short) tasks."
    )
    visibility_timeout: int = Field(
        default=8 * 3600,
        description="Seconds Redis waits for an ack before handing a task to another worker; "
        "must exceed every time limit.",
    )
    broker_polling_interval: float = Field(
        default=0.2,
        ge=0.05,
        le=5,
        description="Seconds between two polls of the embedded (SQL) broker: its latency.",
    )
    queued_stale_after: int = Field(
        default=600,
        ge=30,
        description="A queued run no worker took for this many seconds is published again "
        "(its message may have been lost).",
    )
    shutdown_grace: float = Field(
        default=30.0,
        ge=1,
        description="Seconds `l2c serve` gives its children to stop before killing them.",
    )

    lead_route_interval: float = Field(
        default=60.0, ge=5, le=86400, description="Seconds between two routings of new leads."
    )
    lead_recycle_interval: float = Field(
        default=300.0,
        ge=5,
        le=86400,
        description="Seconds between two passes that recycle overdue leads and remind owners.",
    )
    lead_rescore_interval: float = Field(
        default=900.0,
        ge=30,
        le=86400,
        description="Seconds between two rescoring passes (leads never scored, changed or "
        "touched since their score, or scored longer ago than L2C_LEAD_RESCORE_MAX_AGE).",
    )
    lead_rescore_max_age: float = Field(
        default=86400.0,
        ge=600,
        description="Seconds a lead's score may age before it is rescored anyway (daily).",
    )
    rfm_interval: float = Field(
        default=900.0,
        ge=30,
        le=86400,
        description="Seconds between two RFM checks; RFM is recomputed when orders or the "
        "`rfm` settings changed, or the date moved on.",
    )
    lead_batch_size: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="Leads one transaction of a scheduled lead task handles (routing, recycle, "
        "reminders); rescoring uses five times as many.",
    )

    @model_validator(mode="after")
    def _visibility_outlasts_tasks(self) -> SchedulerSettings:
        longest = max(self.run_time_limit, self.task_time_limit)
        if self.visibility_timeout <= longest:
            raise ValueError(
                f"L2C_VISIBILITY_TIMEOUT ({self.visibility_timeout} s) must exceed the "
                f"longest task time limit ({longest} s), or Redis redelivers running tasks"
            )
        return self


@lru_cache(maxsize=1)
def get_scheduler_settings() -> SchedulerSettings:
    return SchedulerSettings()
