"""Alerts to people: a generic JSON webhook, a Slack-compatible webhook and an SMS-gateway-shaped call.

``AlertDispatcher.notify(alert)`` never blocks and never raises for delivery problems: it puts the
alert on a bounded queue; background workers deliver it to every configured target with httpx,
retrying connection errors, timeouts and 5xx answers with exponential backoff (a 4xx is final: the
request itself is wrong). Each alert has a dedupe key: the same key is queued once, and every
attempt carries it as ``Idempotency-Key`` so a receiver can drop a retry of a request it did process.

A target's secret (the environment variable named by ``secret_env``) is sent only as an
``Authorization: Bearer`` header. It never appears in a log line, an exception, a repr or the stats;
log lines name the target, never its URL (a Slack webhook URL is itself a credential). A target may
take its URL from the environment (``url_env``) so that such a URL never sits in the config file.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx

from engine.chain.rpc import scrub
from engine.config import AlertTarget

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")
_SAFE_JSON_INT = 2**53  # larger ints travel as strings: many JSON readers parse numbers as doubles
_SMS_MAX_CHARS = 480


class AlertConfigError(ValueError):
    """A target cannot be used as configured (e.g. its secret's environment variable is unset)."""


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # "breaker_tripped", "breaker_reset", "gas_low", "capital_overstay", ...
    severity: str  # info | warning | critical
    title: str
    text: str
    scope: str = "global"  # "chain 31337", "token 31337:0x..", "route ..."
    evidence: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    dedupe_key: str = ""  # derived from kind, scope, title and time when empty

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        if self.at.tzinfo is None:
            raise ValueError("alert time must be timezone-aware")
        if not self.dedupe_key:
            digest = hashlib.sha256("\x1f".join((self.kind, self.scope, self.title, self.at.isoformat())).encode())
            object.__setattr__(self, "dedupe_key", digest.hexdigest()[:32])


def alert_for_trip(state: Any) -> Alert:
    """The alert for a tripped ``engine.breakers.BreakerState``; one per trip (keyed by rule and trip time)."""
    at = datetime.fromtimestamp(state.since, UTC) if state.since is not None else datetime.now(UTC)
    return Alert("breaker_tripped", "critical", f"breaker {state.name} TRIPPED ({state.scope} halted)",
                 state.text, state.scope, dict(state.evidence), at,
                 dedupe_key=f"breaker_tripped:{state.name}:{state.since}")


def alert_for_reset(state: Any, actor: str, at: datetime) -> Alert:
    """The alert for a person resetting a tripped rule: the scope resumes."""
    return Alert("breaker_reset", "warning", f"breaker {state.name} reset by {actor} ({state.scope} resumes)",
                 f"was: {state.text}", state.scope, {"tripped_since": state.since}, at,
                 dedupe_key=f"breaker_reset:{state.name}:{state.since}:{at.isoformat()}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if abs(value) < _SAFE_JSON_INT else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, Fraction)):
        return str(value)
    return str(value)


def alert_payload(target: AlertTarget, alert: Alert) -> dict[str, Any]:
    """The JSON body ``target`` receives for ``alert`` (no secret ever goes in a body)."""
    if target.kind == "slack":
        return {"text": f"[{alert.severity.upper()}] *{alert.title}*\n{alert.text}"}
    if target.kind == "sms":
        return {"to": target.to, "message": f"[{alert.severity.upper()}] {alert.title}: {alert.text}"[:_SMS_MAX_CHARS]}
    return {"kind": alert.kind, "severity": alert.severity, "title": alert.title, "text": alert.text,
            "evidence": _jsonable(alert.evidence), "scope": alert.scope, "time": alert.at.isoformat(),
            "dedupe_key": alert.dedupe_key}


@dataclass(frozen=True, slots=True)
class TargetStats:
    name: str
    kind: str
    sent: int
    failed: int
    last_error: str | None  # "HTTP 503", "ConnectError": never a URL or a secret


@dataclass(frozen=True, slots=True)
class AlertStats:
    sent: int  # deliveries (alert x target) accepted by the receiver
    failed: int  # deliveries given up (4xx, or retries exhausted)
    pending: int  # deliveries queued or in flight
    dropped: int  # alerts refused because the queue was full
    duplicates: int  # alerts ignored because their dedupe key was already queued
    targets: tuple[TargetStats, ...]


class _Permanent(Exception):
    """A delivery the receiver refused for good (4xx)."""


class _Retryable(Exception):
    """A delivery worth trying again (connection error, timeout, 5xx)."""


class _UrlScrubbingFilter(logging.Filter):
    """httpx logs each request's full URL at INFO; a webhook URL may embed a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message:
            record.msg, record.args = scrub(message), ()
        return True


_URL_SCRUBBER = _UrlScrubbingFilter()
if _URL_SCRUBBER not in logging.getLogger("httpx").filters:
    logging.getLogger("httpx").addFilter(_URL_SCRUBBER)


def _target_url(target: AlertTarget, environ: Mapping[str, str]) -> str:
    """The URL ``target`` posts to: from the config, or from the environment variable ``url_env`` names
    (checked to be http(s) here, at start; the error names the variable, never its value)."""
    if not target.url_env:
        return target.url
    value = (environ.get(target.url_env) or "").strip()
    if not value:
        raise AlertConfigError(f"alert target {target.name}: environment variable {target.url_env} "
                               "(its URL) is not set")
    try:
        url = httpx.URL(value)
    except Exception:  # noqa: BLE001 - httpx's message may quote the value
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise AlertConfigError(f"alert target {target.name}: environment variable {target.url_env} must hold "
                               "an http(s) URL")
    return value


class AlertDispatcher:
    """Delivers alerts to the configured targets in the background: ``start()``, ``notify()``, ``stop()``."""

    def __init__(self, targets: Sequence[AlertTarget], environ: Mapping[str, str], *,
                 queue_size: int = 1000, workers: int = 4, timeout: float = 5.0, attempts: int = 5,
                 backoff: float = 0.5, max_backoff: float = 30.0, remember_keys: int = 10_000) -> None:
        self._targets = tuple(targets)
        self._secrets: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        for target in self._targets:
            self._urls[target.name] = _target_url(target, environ)
            if target.secret_env:
                value = environ.get(target.secret_env)
                if not value:
                    raise AlertConfigError(f"alert target {target.name}: environment variable "
                                           f"{target.secret_env} is not set")
                self._secrets[target.name] = value
        self._queue: asyncio.Queue[tuple[Alert, AlertTarget]] = asyncio.Queue(maxsize=queue_size)
        self._workers_count = workers
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember_keys = remember_keys
        self._client: httpx.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._sent: dict[str, int] = {t.name: 0 for t in self._targets}
        self._failed: dict[str, int] = {t.name: 0 for t in self._targets}
        self._last_error: dict[str, str | None] = {t.name: None for t in self._targets}
        self._dropped = 0
        self._duplicates = 0
        self._abandoned = 0  # deliveries cut short by stop()

    def __repr__(self) -> str:
        names = ", ".join(f"{t.name}({t.kind})" for t in self._targets)
        return f"AlertDispatcher([{names}], running={bool(self._workers)})"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._workers:
            return
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout), follow_redirects=False)
        self._workers = [asyncio.create_task(self._work(), name=f"alerts-{i}") for i in range(self._workers_count)]

    async def stop(self, timeout: float = 5.0) -> int:
        """Deliver what is queued for at most ``timeout`` seconds, then stop. Returns the deliveries
        left undelivered (counted as failed)."""
        if not self._workers:
            return 0
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            pass
        abandoned_before = self._abandoned
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        while not self._queue.empty():
            _, target = self._queue.get_nowait()
            self._queue.task_done()
            self._abandon(target)
        abandoned = self._abandoned - abandoned_before
        if abandoned:
            log.warning("alerts: stopped with %d deliveries undelivered", abandoned)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        return abandoned

    # ------------------------------------------------------------------ the one door

    def notify(self, alert: Alert) -> bool:
        """Queue ``alert`` for every target; never blocks. False when it was a duplicate, the queue was
        full, or no target is configured."""
        if not self._targets:
            return False
        if alert.dedupe_key in self._seen:
            self._duplicates += 1
            return False
        if self._queue.maxsize and self._queue.qsize() + len(self._targets) > self._queue.maxsize:
            self._dropped += 1
            log.warning("alerts: queue full, dropped alert %r", alert.title)
            return False
        self._seen[alert.dedupe_key] = None
        if len(self._seen) > self._remember_keys:
            self._seen.popitem(last=False)
        for target in self._targets:
            self._queue.put_nowait((alert, target))
        return True

    def stats(self) -> AlertStats:
        return AlertStats(
            sent=sum(self._sent.values()), failed=sum(self._failed.values()),
            pending=self._queue.qsize() + self._in_flight, dropped=self._dropped, duplicates=self._duplicates,
            targets=tuple(TargetStats(t.name, t.kind, self._sent[t.name], self._failed[t.name],
                                      self._last_error[t.name]) for t in self._targets))

    # ------------------------------------------------------------------ delivery

    async def _work(self) -> None:
        while True:
            alert, target = await self._queue.get()
            self._in_flight += 1
            try:
                await self._deliver(alert, target)
            except asyncio.CancelledError:
                self._abandon(target)
                raise
            finally:
                self._in_flight -= 1
                self._queue.task_done()

    async def _deliver(self, alert: Alert, target: AlertTarget) -> None:
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                await self._post(alert, target)
            except _Permanent as exc:
                self._give_up(target, alert, str(exc))
                return
            except _Retryable as exc:
                self._last_error[target.name] = str(exc)
                if attempt == self._attempts:
                    self._give_up(target, alert, f"{exc} after {attempt} attempts")
                    return
                log.info("alerts: %s attempt %d failed (%s), retrying in %.1f s", target.name, attempt, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
            else:
                self._sent[target.name] += 1
                self._last_error[target.name] = None
                log.info("alerts: %r delivered to %s", alert.title, target.name)
                return

    def _abandon(self, target: AlertTarget) -> None:
        self._failed[target.name] += 1
        self._abandoned += 1

    def _give_up(self, target: AlertTarget, alert: Alert, reason: str) -> None:
        self._failed[target.name] += 1
        self._last_error[target.name] = reason
        log.error("alerts: %r NOT delivered to %s: %s", alert.title, target.name, reason)

    async def _post(self, alert: Alert, target: AlertTarget) -> None:
        assert self._client is not None
        headers = {"Idempotency-Key": alert.dedupe_key}
        secret = self._secrets.get(target.name)
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        try:
            response = await self._client.post(self._urls[target.name], json=alert_payload(target, alert),
                                               headers=headers)
        except httpx.TransportError as exc:
            # Only the exception's type: its text may carry the URL.
            raise _Retryable(type(exc).__name__) from None
        if response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code >= 300:
            raise _Permanent(f"HTTP {response.status_code}")
