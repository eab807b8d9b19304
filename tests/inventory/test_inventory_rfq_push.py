"""Quote push to an RFQ API, against a real HTTP server on loopback."""
from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from invkit import GWEI, RFQ, USDC, USDC_UNIT, chain, make_config

from engine.config import ConfigError
from engine.inventory.quotes import build_quotes
from engine.inventory.rfq_push import QuotePusher, api_quote, authorization_header

# A throwaway key made for this test only; it must never show in a log line or an error.
RELAYER = Account.from_key("0x" + "5a" * 32)
API_KEY = "rfq-api-token-do-not-log-7f3c"
URL_PASSWORD = "url-password-do-not-log-91ab"


def quotes(dest_balance=1_000 * USDC_UNIT):
    config = make_config({1: chain(1), 2: chain(2)}, base={"quote_width_bps": "2.5"})
    balances = {(1, USDC[1]): 500 * USDC_UNIT, (2, USDC[2]): dest_balance}
    return build_quotes(config, balances, {}, {1: 10**19, 2: 10**19}, {1: GWEI, 2: 2 * GWEI})


def recovered_signer(authorization: str) -> tuple[int, str]:
    stamp, signature = authorization.split(":")
    return int(stamp), Account.recover_message(encode_defunct(text=stamp), signature=signature)


async def test_push_body_fields_and_signed_authorization(rfq_api):
    qs = quotes()
    async with QuotePusher(rfq_api.url, RELAYER, api_key=API_KEY, clock=lambda: 1_790_000_000.7) as pusher:
        result = await pusher.push(qs)
    assert result.ok and result.attempts == 1 and result.status_code == 200
    ((headers, body),) = rfq_api.requests
    assert body == {"quotes": [api_quote(q) for q in qs]}
    first = body["quotes"][0]
    assert first == {
        "origin_chain_id": 1, "origin_token_addr": USDC[1], "dest_chain_id": 2, "dest_token_addr": USDC[2],
        "dest_amount": "999750000", "max_origin_amount": "1000000000",
        "fixed_fee": str(qs[0].fixed_fee), "origin_fast_bridge_address": RFQ, "dest_fast_bridge_address": RFQ,
    }
    # origin 1 gwei * 160k + dest 2 gwei * 100k = 0.00036 ETH * 2600 = 0.936 USDC.
    assert first["fixed_fee"] == "936000"
    assert recovered_signer(headers["Authorization"]) == (1_790_000_000, RELAYER.address)
    assert headers["X-Api-Key"] == API_KEY


async def test_retries_5xx_with_a_fresh_signature_and_stops_on_4xx(rfq_api):
    rfq_api.statuses = [503, 502]
    clock = iter(range(1_000, 2_000))
    async with QuotePusher(rfq_api.url, RELAYER, backoff_seconds=0.01, clock=lambda: next(clock)) as pusher:
        result = await pusher.push(quotes())
        assert (result.ok, result.attempts) == (True, 3)
        assert [recovered_signer(h["Authorization"]) for h, _ in rfq_api.requests] == [
            (1_000, RELAYER.address), (1_001, RELAYER.address), (1_002, RELAYER.address)]
        rfq_api.statuses = [400]
        refused = await pusher.push(quotes())
    assert (refused.ok, refused.attempts, refused.status_code) == (False, 1, 400)
    assert refused.error == f"HTTP 400 from {rfq_api.url}/bulk_quotes"


async def test_publish_never_blocks_and_the_newest_quotes_win(rfq_api):
    async with QuotePusher(rfq_api.url, RELAYER) as pusher:
        pusher.publish(quotes(dest_balance=1_000 * USDC_UNIT))
        pusher.publish(quotes(dest_balance=2_000 * USDC_UNIT))  # before the task even ran: replaces the first
        await asyncio.wait_for(rfq_api.received.wait(), 10)
        for _ in range(100):
            if pusher.last_result is not None:
                break
            await asyncio.sleep(0.01)
    assert len(rfq_api.requests) == 1
    assert rfq_api.requests[0][1]["quotes"][0]["max_origin_amount"] == "2000000000"
    assert pusher.last_result.ok and pusher.pushes == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_secrets_never_reach_logs_or_errors(rfq_api, caplog):
    caplog.set_level(logging.DEBUG)
    key_hex = RELAYER.key.hex().removeprefix("0x")
    rfq_api.statuses = [500, 500, 500]
    async with QuotePusher(rfq_api.url, RELAYER, api_key=API_KEY, retries=2, backoff_seconds=0.01) as pusher:
        failed = await pusher.push(quotes())
        signatures = [h["Authorization"].split(":")[1] for h, _ in rfq_api.requests]
    async with QuotePusher(f"http://rfq:{URL_PASSWORD}@127.0.0.1:{_closed_port()}", RELAYER, api_key=API_KEY, retries=1,
                           backoff_seconds=0.01) as pusher:
        unreachable = await pusher.push(quotes())
        assert all(secret not in repr(pusher) for secret in (API_KEY, key_hex, URL_PASSWORD))
    assert (failed.ok, failed.attempts, failed.status_code) == (False, 3, 500)
    assert (unreachable.ok, unreachable.attempts, unreachable.status_code) == (False, 2, None)
    assert unreachable.error.startswith("ConnectError talking to http://127.0.0.1:")
    assert "quote push failed after 3 attempt(s): HTTP 500" in caplog.text
    text = caplog.text + str(failed) + str(unreachable)
    for secret in (key_hex, key_hex.upper(), API_KEY, URL_PASSWORD, *signatures):
        assert secret not in text


def test_authorization_header_shape():
    header = authorization_header(RELAYER, 1_700_000_000)
    stamp, signature = header.split(":")
    assert stamp == "1700000000" and signature.startswith("0x") and len(signature) == 2 + 130
    assert recovered_signer(header) == (1_700_000_000, RELAYER.address)


def test_from_config_reads_the_api_key_from_the_environment_it_names():
    config = make_config({1: chain(1), 2: chain(2)}, rfq_api={"url": "http://127.0.0.1:1", "api_key_env": "RFQ_KEY"})
    pusher = QuotePusher.from_config(config.rfq_api, RELAYER, {"RFQ_KEY": API_KEY})
    assert pusher.url == "http://127.0.0.1:1/bulk_quotes"
    with pytest.raises(ValueError, match="RFQ_KEY is not set") as err:
        QuotePusher.from_config(config.rfq_api, RELAYER, {})
    assert API_KEY not in str(err.value)
    with pytest.raises(ConfigError):  # a literal api_key in the YAML is refused by the loader
        make_config({1: chain(1), 2: chain(2)}, rfq_api={"url": "http://127.0.0.1:1", "api_key": API_KEY})
