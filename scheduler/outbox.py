"""The outbox dispatcher: delivers due messages to webhook subscriptions.

One call claims a batch (short transaction), delivers it with no transaction open, and
records the results (short transaction). Deliveries are signed with Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) and retried on its example
schedule with ±10 % jitter, then dead-lettered. Status handling follows the spec:
2xx success; 3xx failure (redirects are never followed); 410 disables the subscription;
429/502/504 throttle the endpoint and `Retry-After` is honoured (capped at 24 h). An
endpoint failing for five days without a success is disabled.

Network safety: every connection is made by `GuardedTransport`, whose connect step
resolves the host once, vets every address with the SSRF guard and connects to a vetted
address itself (TLS still verifies and sends SNI for the URL's host name), so a DNS
answer cannot change between the check and the connection. Each delivery has a 5 s
connect timeout and a 15 s deadline for the whole exchange.
"""

from __future__ import annotations

import importlib.metadata
import logging
import random
import ssl
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpcore
import httpx
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from core.clock import utcnow
from core.errors import ConfigError
from core.security.secrets import SecretBox
from core.security.urlguard import Allowlist, check_host, check_url, display_url
from core.settings import get_settings
from core.store import outbox
from core.store.outbox import Due, Failure
from scheduler.subscriptions import secrets_of

log = logging.getLogger(__name__)

SCHEDULE = tuple(
    timedelta(seconds=s) for s in (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
)
"""Delay before attempt n (Standard Webhooks' example): 10 attempts over about 75.6 h."""
JITTER = 0.10
RETRY_AFTER_CAP = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=5)
THROTTLE_STATUSES = frozenset({429, 502, 504})
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
LEASE_MARGIN = timedelta(seconds=60)
"""No delivery starts later than this before the claim's lease ends."""
ERROR_SNIPPET = 300


def _version() -> str:
    try:
        return importlib.metadata.version("l2c-hub")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "0"


USER_AGENT = f"L2C-Hub/{_version()}"
_jitter = random.SystemRandom()


# ---------------------------------------------------------------------------- transport
_deadline: ContextVar[float | None] = ContextVar("l2c_delivery_deadline", default=None)


def _within_deadline(timeout: float | None, error: type[Exception]) -> float | None:
    """Shrink a socket operation's timeout to what is left of the delivery's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error(f"the delivery took longer than {TOTAL_TIMEOUT:g} s")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        limit = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves and vets the host at connect time, then connects to a vetted address."""

    def __init__(self, allowlist: Allowlist) -> None:
        self._allowlist = allowlist
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        target = check_host(host, port, allowlist=self._allowlist)  # raises ConfigError
        failure: Exception | None = None
        for address in target.addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=_within_deadline(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from webhooks")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the SSRF-guarded, address-pinning network backend.

    httpx has no public switch for httpcore's `network_backend`, so the pool the parent
    builds is replaced by one that uses it (covered by tests/scheduler/test_outbox_delivery).
    No proxies from the environment: they would bypass the pinning.
    """

    def __init__(
        self,
        allowlist: Allowlist,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
    ) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=10)
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(allowlist),
        )


def delivery_client(
    allowlist: Sequence[str] | Allowlist | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An HTTP client for webhook deliveries: guarded, pinned, no redirects, timeouts.
    The allowlist defaults to the settings' (`L2C_URL_ALLOWLIST`); `ssl_context` to the
    certifi trust store (pass one to trust a private CA)."""
    rules = _rules(allowlist)
    return httpx.Client(
        transport=GuardedTransport(rules, ssl_context=ssl_context),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT),
        headers={"user-agent": USER_AGENT},
    )


def _rules(allowlist: Sequence[str] | Allowlist | None) -> Allowlist:
    if isinstance(allowlist, Allowlist):
        return allowlist
    return Allowlist.parse(get_settings().url_allowlist if allowlist is None else allowlist)


# ---------------------------------------------------------------------------- schedule
def next_attempt_at(
    attempts_made: int, now: datetime, *, retry_after: timedelta | None = None
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when they are used up.
    `Retry-After` can only push the retry later than the schedule (capped at 24 h)."""
    if attempts_made >= len(SCHEDULE):
        return None
    delay = SCHEDULE[attempts_made].total_seconds() * _jitter.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP).total_seconds())
    return now + timedelta(seconds=delay)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Seconds or an HTTP date; anything unreadable or in the past is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    wait = when - now
    return wait if wait > timedelta(0) else None


# ---------------------------------------------------------------------------- delivery
Kind = Literal["delivered", "failed", "unreachable", "throttled", "gone", "broken", "released"]
"""unreachable: no HTTP answer (guard, DNS, connect, timeout); gone: 410; broken: the
message cannot be built; released: not attempted in this batch."""


@dataclass(slots=True)
class _Result:
    due: Due
    kind: Kind
    status: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None


@dataclass(slots=True)
class DispatchReport:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0
    disabled: list[uuid.UUID] = field(default_factory=list)


def _signature(secrets: Sequence[str], msg_id: str, at: datetime, body: str) -> str:
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


def _read_snippet(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= ERROR_SNIPPET:
            break
    text = b"".join(chunks)[:ERROR_SNIPPET].decode("utf-8", "replace")
    return " ".join(text.split())


def _deliver(client: httpx.Client, due: Due, secrets: Sequence[str], now: datetime) -> _Result:
    """One signed POST; never raises for network trouble (it becomes the result)."""
    assert due.change is not None
    body = outbox.event_body(due.change)
    text = body.decode()
    sent_at = utcnow()  # the receiver checks this against its clock, not the schedule's
    headers = {
        "webhook-id": due.webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": _signature(secrets, due.webhook_id, sent_at, text),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    token = _deadline.set(time.monotonic() + TOTAL_TIMEOUT)
    try:
        with client.stream("POST", due.url, content=body, headers=headers) as response:
            status = response.status_code
            if 200 <= status < 300:
                return _Result(due, "delivered", status)
            if status == 410:
                return _Result(due, "gone", status, "endpoint answered 410 Gone")
            if status in THROTTLE_STATUSES:
                wait = parse_retry_after(response.headers.get("retry-after"), now)
                return _Result(due, "throttled", status, f"HTTP {status} (throttled)", wait)
            if 300 <= status < 400:
                where = response.headers.get("location", "")[:200]
                return _Result(
                    due, "failed", status, f"HTTP {status} redirect not followed: {where}"
                )
            snippet = _read_snippet(response)
            return _Result(due, "failed", status, f"HTTP {status}: {snippet}".rstrip(": "))
    except ConfigError as error:
        return _Result(due, "unreachable", error=f"URL guard: {error.message}")
    except httpx.TimeoutException as error:
        return _Result(due, "unreachable", error=f"timed out: {error or type(error).__name__}")
    except (httpx.TransportError, httpx.InvalidURL) as error:
        return _Result(due, "unreachable", error=f"{type(error).__name__}: {error}")
    finally:
        _deadline.reset(token)


def _deliver_group(
    client: httpx.Client,
    dues: Sequence[Due],
    secrets: Sequence[str],
    allowlist: Allowlist,
    now: datetime,
    stop_at: float,
) -> list[_Result]:
    """One subscription's messages, in order. After the endpoint is gone, throttling or
    unreachable, the rest of the batch is given back unattempted."""
    results: list[_Result] = []
    try:
        check_url(dues[0].url, allowlist=allowlist)
    except ConfigError as error:
        first = _Result(dues[0], "unreachable", error=f"URL guard: {error.message}")
        return [first, *(_Result(d, "released") for d in dues[1:])]
    halted = False
    for due in dues:
        if halted or time.monotonic() >= stop_at:
            results.append(_Result(due, "released"))
            continue
        if due.change is None:
            results.append(_Result(due, "broken", error="its change is no longer in the log"))
            continue
        result = _deliver(client, due, secrets, now)
        results.append(result)
        halted = result.kind in {"gone", "throttled", "unreachable"}
        if result.kind != "delivered":
            log.info(
                "webhook delivery failed",
                extra={
                    "message_id": due.id,
                    "subscription_id": str(due.subscription_id),
                    "url": display_url(due.url),
                    "status": result.status,
                    "error": result.error,
                },
            )
    return results


def dispatch_due(
    sessions: sessionmaker[Session],
    *,
    now: datetime | None = None,
    limit: int = 100,
    client: httpx.Client | None = None,
    allowlist: Sequence[str] | None = None,
    concurrency: int = 8,
) -> DispatchReport:
    """Deliver up to `limit` due messages; endpoints are served in parallel, each one's
    messages in order. `now` fixes the clock of the schedule (tests); the signature's
    timestamp is always the real time of sending. Without `client`, a `delivery_client`
    (guarded and pinned) is made for the call; a caller's own client is used as it is.
    A report with `claimed == limit` means more may be due: call again."""
    claimed_at = now or utcnow()
    rules = _rules(allowlist)
    box = SecretBox(get_settings().secret_key)  # no key, no claim: fail before leasing
    with sessions.begin() as session:
        dues = outbox.claim_due(session, now=claimed_at, limit=limit)
    report = DispatchReport(claimed=len(dues))
    if not dues:
        return report
    stop_at = time.monotonic() + (outbox.LEASE - LEASE_MARGIN).total_seconds()
    groups: dict[uuid.UUID, list[Due]] = {}
    for due in dues:
        groups.setdefault(due.subscription_id, []).append(due)
    results: list[_Result] = []
    signing: dict[uuid.UUID, list[str]] = {}
    for sub_id, group in list(groups.items()):
        try:
            signing[sub_id] = secrets_of(box.decrypt(group[0].secret), now=utcnow())
        except ConfigError as error:
            results += [_Result(d, "failed", error=error.message) for d in group]
            del groups[sub_id]
    http = client or delivery_client(rules)
    try:
        workers = max(1, min(concurrency, len(groups)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="l2c-outbox") as pool:
            futures = [
                pool.submit(
                    _deliver_group, http, group, signing[sub_id], rules, claimed_at, stop_at
                )
                for sub_id, group in groups.items()
            ]
            for future in futures:
                try:
                    results += future.result()
                except Exception:  # a bug: that group's messages return when the lease ends
                    log.exception("webhook delivery crashed")
    finally:
        if client is None:
            http.close()
    recorded_at = now or utcnow()
    with sessions.begin() as session:
        _record(session, results, recorded_at, report)
    log.info(
        "outbox dispatch",
        extra={
            "claimed": report.claimed,
            "delivered": report.delivered,
            "retrying": report.retrying,
            "dead": report.dead,
            "released": report.released,
        },
    )
    return report


@dataclass(slots=True)
class _Outcomes:
    """A batch's results, sorted into the updates that record them."""

    delivered: list[tuple[int, int]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    released: dict[datetime, list[int]] = field(default_factory=dict)
    throttled: dict[uuid.UUID, datetime] = field(default_factory=dict)
    gone: set[uuid.UUID] = field(default_factory=set)
    healthy: set[uuid.UUID] = field(default_factory=set)
    failing: set[uuid.UUID] = field(default_factory=set)


def _sort(results: Sequence[_Result], at: datetime) -> _Outcomes:
    out = _Outcomes()
    halted_until: dict[uuid.UUID, datetime] = {}
    for result in results:
        due = result.due
        if result.kind == "delivered":
            out.delivered.append((due.id, result.status or 200))
            out.healthy.add(due.subscription_id)
            continue
        if result.kind == "released":
            continue
        retry: datetime | None = None
        if result.kind == "gone":
            out.gone.add(due.subscription_id)
        elif result.kind != "broken":
            out.failing.add(due.subscription_id)
            retry = next_attempt_at(due.attempts + 1, at, retry_after=result.retry_after)
        out.failures.append(Failure(due.id, result.error or "failed", result.status, retry))
        if retry is not None and result.kind in {"throttled", "unreachable"}:
            halted_until[due.subscription_id] = retry
            if result.kind == "throttled":
                out.throttled[due.subscription_id] = retry
    for result in results:
        if result.kind == "released":
            when = halted_until.get(result.due.subscription_id, at)
            out.released.setdefault(when, []).append(result.due.id)
    return out


def _record(
    session: Session, results: Sequence[_Result], at: datetime, report: DispatchReport
) -> None:
    out = _sort(results, at)
    outbox.mark_delivered(session, out.delivered, now=at)
    outbox.mark_failed(session, out.failures, now=at)
    for when, ids in out.released.items():
        outbox.release(session, ids, at=when)
    for sub_id, until in out.throttled.items():
        outbox.defer_subscription(session, sub_id, until=until)
    for sub_id in out.gone:
        outbox.disable_subscription(session, sub_id, reason="endpoint answered 410 Gone", now=at)
    failing = outbox.note_health(
        session, healthy=out.healthy, failing=out.failing - out.gone, now=at
    )
    too_long = {sub_id: began for sub_id, began in failing.items() if at - began >= DISABLE_AFTER}
    for sub_id, began in too_long.items():
        reason = f"failing without a success since {began.isoformat()}"
        outbox.disable_subscription(session, sub_id, reason=reason, now=at)
    report.disabled = sorted(out.gone | set(too_long))
    report.delivered = len(out.delivered)
    report.dead = sum(1 for f in out.failures if f.retry_at is None)
    report.retrying = len(out.failures) - report.dead
    report.released = sum(len(ids) for ids in out.released.values())
