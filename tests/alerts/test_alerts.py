"""AlertDispatcher against a real HTTP server on loopback: payload shapes, retries, dedupe, secrecy."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiohttp import web

from engine.alerts import Alert, AlertConfigError, AlertDispatcher, alert_for_trip
from engine.breakers import BreakerState
from engine.config import AlertTarget

SECRET = "s3cr3t-token-value-never-logged"
ENV = {"MMTUI_TEST_ALERT_TOKEN": SECRET}


@dataclass
class Receiver:
    """A loopback HTTP server that records each request and answers from a script of statuses."""

    url: str = ""
    requests: list[dict] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer first
    delay: float = 0.0

    def accepted(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path and r["status"] == 200]


@pytest.fixture
async def receiver():
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if rec.delay:
            await asyncio.sleep(rec.delay)
        statuses = rec.script.get(request.path) or []
        status = statuses.pop(0) if statuses else 200
        rec.requests.append({"path": request.path, "status": status, "json": body,
                             "headers": dict(request.headers)})
        return web.json_response({"ok": status == 200}, status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)  # the receiver's own log is not ours to judge
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def make_dispatcher():
    made: list[AlertDispatcher] = []

    async def make(targets, environ=ENV, **kwargs) -> AlertDispatcher:
        kwargs.setdefault("backoff", 0.01)
        kwargs.setdefault("timeout", 2.0)
        dispatcher = AlertDispatcher(targets, environ, **kwargs)
        await dispatcher.start()
        made.append(dispatcher)
        return dispatcher

    try:
        yield make
    finally:
        for dispatcher in made:
            await dispatcher.stop(timeout=1)


def sample_alert(n: int = 1, **kw) -> Alert:
    values = dict(kind="breaker_tripped", severity="critical", title=f"breaker usdc-supply-{n} TRIPPED",
                  text="USDC total supply +250.00 % in 1 block > 50 %", scope="token 31337:USDC",
                  evidence={"supply": 2**200, "block_number": 101, "ratio": Decimal("2.5")},
                  at=datetime(2026, 11, 21, 12, 0, n, tzinfo=UTC))
    values.update(kw)
    return Alert(**values)


async def drain(dispatcher: AlertDispatcher, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while dispatcher.stats().pending and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert dispatcher.stats().pending == 0


def targets(url: str) -> list[AlertTarget]:
    return [
        AlertTarget("ops-webhook", "webhook", f"{url}/hook", secret_env="MMTUI_TEST_ALERT_TOKEN"),
        AlertTarget("ops-slack", "slack", f"{url}/slack"),
        AlertTarget("oncall-sms", "sms", f"{url}/sms", secret_env="MMTUI_TEST_ALERT_TOKEN", to="+15551234567"),
    ]


async def test_each_target_gets_its_payload_shape_once(receiver, make_dispatcher) -> None:
    dispatcher = await make_dispatcher(targets(receiver.url))
    alert = sample_alert()
    assert dispatcher.notify(alert) is True
    await drain(dispatcher)

    (hook,) = receiver.accepted("/hook")
    assert hook["json"] == {
        "kind": "breaker_tripped", "severity": "critical", "title": alert.title, "text": alert.text,
        "evidence": {"supply": str(2**200), "block_number": 101, "ratio": "2.5"},
        "scope": "token 31337:USDC", "time": "2026-11-21T12:00:01+00:00", "dedupe_key": alert.dedupe_key,
    }
    assert hook["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert hook["headers"]["Idempotency-Key"] == alert.dedupe_key

    (slack,) = receiver.accepted("/slack")
    assert slack["json"] == {"text": f"[CRITICAL] *{alert.title}*\n{alert.text}"}
    assert "Authorization" not in slack["headers"]

    (sms,) = receiver.accepted("/sms")
    assert sms["json"] == {"to": "+15551234567", "message": f"[CRITICAL] {alert.title}: {alert.text}"}
    assert sms["headers"]["Authorization"] == f"Bearer {SECRET}"

    stats = dispatcher.stats()
    assert (stats.sent, stats.failed, stats.pending, stats.duplicates) == (3, 0, 0, 0)


async def test_the_same_alert_is_delivered_once_even_across_a_retry(receiver, make_dispatcher) -> None:
    receiver.script["/hook"] = [500, 503]
    dispatcher = await make_dispatcher(targets(receiver.url)[:1])
    alert = sample_alert()
    assert dispatcher.notify(alert)
    assert dispatcher.notify(alert) is False  # the engine noticed the same trip twice
    assert dispatcher.notify(sample_alert(dedupe_key=alert.dedupe_key, text="re-worded")) is False
    await drain(dispatcher)
    assert [r["status"] for r in receiver.requests] == [500, 503, 200]
    assert len(receiver.accepted("/hook")) == 1
    # every attempt carries the same key, so a receiver can drop a retry it did process
    assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {alert.dedupe_key}
    stats = dispatcher.stats()
    assert (stats.sent, stats.failed, stats.duplicates) == (1, 0, 2)


async def test_distinct_alerts_each_arrive_exactly_once(receiver, make_dispatcher) -> None:
    dispatcher = await make_dispatcher(targets(receiver.url)[:1])
    for n in range(20):
        dispatcher.notify(sample_alert(n))
        dispatcher.notify(sample_alert(n))
    await drain(dispatcher)
    titles = [r["json"]["title"] for r in receiver.accepted("/hook")]
    assert sorted(titles) == sorted(f"breaker usdc-supply-{n} TRIPPED" for n in range(20))


async def test_a_4xx_is_not_retried(receiver, make_dispatcher) -> None:
    receiver.script["/hook"] = [400, 400]
    dispatcher = await make_dispatcher(targets(receiver.url)[:1])
    dispatcher.notify(sample_alert())
    await drain(dispatcher)
    assert [r["status"] for r in receiver.requests] == [400]
    stats = dispatcher.stats()
    assert (stats.sent, stats.failed) == (0, 1)
    assert stats.targets[0].last_error == "HTTP 400"


async def test_notify_never_blocks_the_caller(receiver, make_dispatcher) -> None:
    receiver.delay = 0.5
    dispatcher = await make_dispatcher(targets(receiver.url), workers=1, queue_size=6)
    started = time.perf_counter()
    accepted = [dispatcher.notify(sample_alert(n)) for n in range(5)]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05  # five notifications against a receiver that takes 0.5 s per request
    assert accepted == [True, True, False, False, False]  # 3 targets each: the bounded queue refuses the rest
    assert dispatcher.stats().dropped == 3
    assert dispatcher.stats().pending == 6


async def test_stop_is_bounded(receiver, make_dispatcher) -> None:
    receiver.delay = 1.5
    dispatcher = await make_dispatcher(targets(receiver.url)[:1], timeout=10)
    dispatcher.notify(sample_alert())
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    abandoned = await dispatcher.stop(timeout=0.3)
    assert time.perf_counter() - started < 1
    assert abandoned == 1
    assert dispatcher.stats().failed == 1


async def test_the_secret_never_reaches_logs_errors_or_stats(receiver, make_dispatcher, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    dead = AlertTarget("dead-sms", "sms", f"http://127.0.0.1:1/{SECRET}/send",
                       secret_env="MMTUI_TEST_ALERT_TOKEN", to="+15551234567")
    # a webhook URL can itself be a credential (Slack's are): httpx's own request log must not show it
    failing = AlertTarget("failing-hook", "webhook", f"{receiver.url}/hook/{SECRET}",
                          secret_env="MMTUI_TEST_ALERT_TOKEN")
    receiver.script[f"/hook/{SECRET}"] = [500] * 10
    dispatcher = await make_dispatcher([dead, failing], attempts=3)
    dispatcher.notify(sample_alert())
    await drain(dispatcher)
    stats = dispatcher.stats()
    assert (stats.sent, stats.failed) == (0, 2)
    assert len(receiver.requests) == 3  # retried on 500
    assert stats.targets[0].last_error == "ConnectError after 3 attempts"
    assert "NOT delivered to dead-sms" in caplog.text
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # httpx did log the requests, scrubbed
    assert SECRET not in caplog.text
    assert SECRET not in repr(dispatcher) and SECRET not in repr(stats)

    with pytest.raises(AlertConfigError) as missing:
        AlertDispatcher([failing], {})
    assert "MMTUI_TEST_ALERT_TOKEN" in str(missing.value)
    assert SECRET not in str(missing.value)


async def test_alert_for_a_breaker_trip_is_keyed_by_the_trip(receiver, make_dispatcher) -> None:
    state = BreakerState("usdc-supply", "supply_jump", "token", 31337, "0xUSDC", None, True, None, Decimal(50),
                         since=1_800_000_000.0, evidence={"supply": 10**30},
                         text="USDC total supply +250.00 % in 1 block > 50 %")
    dispatcher = await make_dispatcher(targets(receiver.url)[:1])
    assert dispatcher.notify(alert_for_trip(state))
    assert not dispatcher.notify(alert_for_trip(state))
    await drain(dispatcher)
    (hook,) = receiver.accepted("/hook")
    assert hook["json"]["text"] == state.text
    assert hook["json"]["evidence"] == {"supply": str(10**30)}
    assert hook["json"]["time"] == "2027-01-15T08:00:00+00:00"


SLACK_URL_ENV = "MMTUI_TEST_SLACK_URL"


async def test_a_url_from_the_environment_is_used_and_never_logged(receiver, make_dispatcher, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    hook_path = f"/services/T000/B000/{SECRET}"  # a Slack webhook URL: the path is the credential
    slack = AlertTarget("ops-slack", "slack", "", url_env=SLACK_URL_ENV)
    failing = AlertTarget("ops-hook", "webhook", "", url_env="MMTUI_TEST_HOOK_URL")
    receiver.script[f"/hook/{SECRET}"] = [503] * 10
    dispatcher = await make_dispatcher([slack, failing], {SLACK_URL_ENV: receiver.url + hook_path,
                                                          "MMTUI_TEST_HOOK_URL": f"{receiver.url}/hook/{SECRET}"},
                                       attempts=2)
    assert dispatcher.notify(sample_alert())
    await drain(dispatcher)
    (delivered,) = receiver.accepted(hook_path)
    assert delivered["json"]["text"].startswith("[CRITICAL] *breaker usdc-supply-1 TRIPPED*")
    stats = dispatcher.stats()
    assert (stats.sent, stats.failed) == (1, 1) and stats.targets[1].last_error == "HTTP 503 after 2 attempts"
    assert "delivered to ops-slack" in caplog.text and "NOT delivered to ops-hook" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(dispatcher) and SECRET not in repr(stats) and SECRET not in repr(slack)


@pytest.mark.parametrize("environ, problem", [
    ({}, f"environment variable {SLACK_URL_ENV} (its URL) is not set"),
    ({SLACK_URL_ENV: "   "}, f"environment variable {SLACK_URL_ENV} (its URL) is not set"),
    ({SLACK_URL_ENV: f"ftp://hooks.example/{SECRET}"}, f"environment variable {SLACK_URL_ENV} must hold an http(s) URL"),
    ({SLACK_URL_ENV: f"{SECRET} not a url"}, f"environment variable {SLACK_URL_ENV} must hold an http(s) URL"),
])
def test_a_missing_or_bad_url_variable_is_a_clear_error_without_its_value(environ, problem) -> None:
    with pytest.raises(AlertConfigError) as error:
        AlertDispatcher([AlertTarget("ops-slack", "slack", "", url_env=SLACK_URL_ENV)], environ)
    assert str(error.value) == f"alert target ops-slack: {problem}"
    assert SECRET not in str(error.value)
