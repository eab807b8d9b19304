"""The engine's read-only quotes endpoint, over real HTTP on loopback: GET /quotes is exactly the desk's
quotes (amounts as strings of integers), anything else is 404/405/400, and a bad or slow client never
takes it down."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from invkit import GWEI, USDC, USDC_UNIT, chain, make_config

from engine.config import ConfigError, load_config_text
from engine.inventory.quote_api import QUOTES_PATH, QuoteServer, quote_json, read_address_file
from engine.inventory.quotes import Quote, build_quotes


@dataclass
class Desk:
    """What the server reads from the CapitalDesk."""

    quotes: tuple[Quote, ...] = ()
    quotes_at: float | None = None


def some_quotes(dest_balance: int = 1_000 * USDC_UNIT) -> tuple[Quote, ...]:
    config = make_config({1: chain(1), 2: chain(2)}, base={"quote_width_bps": "2.5"})
    balances = {(1, USDC[1]): 500 * USDC_UNIT, (2, USDC[2]): dest_balance}
    return build_quotes(config, balances, {}, {1: 10**19, 2: 10**19}, {1: GWEI, 2: 2 * GWEI})


@pytest.fixture
async def served(tmp_path):
    desk = Desk(some_quotes(), time.monotonic())
    server = QuoteServer(desk, host="127.0.0.1", port=0, address_file=tmp_path / "quote_api.json")
    async with server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            yield desk, server, client


async def raw_request(url: str, payload: bytes, *, read_timeout: float = 5, eof: bool = False) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        if eof:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        writer.close()


async def test_get_quotes_is_exactly_the_desks_quotes(served):
    desk, server, client = served
    assert len(desk.quotes) == 2 and all(q.max_origin_amount > 0 for q in desk.quotes)
    before = datetime.now(UTC)
    response = await client.get(QUOTES_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    body = response.json()
    assert body["quotes"] == [quote_json(q) for q in desk.quotes]
    for got, q in zip(body["quotes"], desk.quotes):
        # amounts are decimal strings of the integers, never JSON numbers
        assert got["max_origin_amount"] == str(q.max_origin_amount)
        assert got["dest_amount"] == str(q.dest_amount)
        assert got["fixed_fee"] == str(q.fixed_fee)
        assert (got["origin_chain_id"], got["origin_token_addr"]) == (q.origin_chain_id, q.route.origin_token)
        assert (got["dest_chain_id"], got["dest_token_addr"]) == (q.dest_chain_id, q.route.dest_token)
        assert got["limited_by"] == q.limited_by and got["dest_decimals"] == 6
    raw = response.text
    assert '"max_origin_amount":"' in raw and '"fixed_fee":"' in raw
    computed = datetime.fromisoformat(body["computed_at"].replace("Z", "+00:00"))
    assert abs((computed - before).total_seconds()) < 2
    assert body["computed_at_unix_ms"] == int(computed.timestamp() * 1000)
    # a query string is ignored; HEAD answers the headers only
    assert (await client.get(QUOTES_PATH + "?pretty=1")).json() == body
    head = await client.head(QUOTES_PATH)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(response.content)


async def test_follows_each_refresh(served):
    desk, server, client = served
    first = (await client.get(QUOTES_PATH)).json()
    desk.quotes = some_quotes(200 * USDC_UNIT)
    desk.quotes_at = time.monotonic()
    second = (await client.get(QUOTES_PATH)).json()
    assert second["quotes"] == [quote_json(q) for q in desk.quotes] != first["quotes"]
    # a halted route is quoted at zero by the desk: served as "0"
    desk.quotes = tuple(replace(q, max_origin_amount=0, dest_amount=0, limited_by="halted by test")
                        for q in desk.quotes)
    desk.quotes_at = time.monotonic()
    third = (await client.get(QUOTES_PATH)).json()
    assert {(q["max_origin_amount"], q["dest_amount"], q["limited_by"]) for q in third["quotes"]} == {
        ("0", "0", "halted by test")}


async def test_other_paths_and_methods(served):
    _, _, client = served
    for path in ("/", "/quote", "/quotes/", "/quotes/1", "/bulk_quotes", "/QUOTES"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "error" in response.json()
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = await client.request(method, QUOTES_PATH, content=b"{}")
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET, HEAD"


async def test_before_the_first_refresh_it_says_so(tmp_path):
    async with QuoteServer(Desk()) as server, httpx.AsyncClient(timeout=5) as client:
        response = await client.get(server.url + QUOTES_PATH)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"


@pytest.mark.parametrize("payload", [
    b"garbage\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /quotes\r\n\r\n",
    b"GET quotes HTTP/1.1\r\n\r\n",
    b"get /quotes HTTP/1.1\r\n\r\n",
    b"GET /quotes SPDY/3\r\n\r\n",
    b"\x00\xff\xfe binary \x16\x03\x01\r\n\r\n",
    b"GET /quotes HTTP/1.1\r\nHost: x\r\n",  # headers never end: the client hangs up
])
async def test_bad_requests_are_refused_and_the_endpoint_lives_on(served, payload):
    desk, server, client = served
    answer = await raw_request(server.url, payload) if not payload.endswith(b"Host: x\r\n") else None
    if answer is None:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(payload)
        await writer.drain()
        writer.close()  # half a request, then gone
    else:
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:60]
    response = await client.get(QUOTES_PATH)
    assert response.status_code == 200 and response.json()["quotes"] == [quote_json(q) for q in desk.quotes]


async def test_oversized_headers_and_empty_connections(served):
    desk, server, client = served
    huge = b"GET /quotes HTTP/1.1\r\n" + b"X-Filler: " + b"a" * 20_000 + b"\r\n\r\n"
    assert (await raw_request(server.url, huge)).startswith(b"HTTP/1.1 431 ")
    many = b"GET /quotes HTTP/1.1\r\n" + b"X-A: b\r\n" * 3000 + b"\r\n"
    assert (await raw_request(server.url, many)).startswith(b"HTTP/1.1 431 ")
    assert await raw_request(server.url, b"", eof=True) == b""  # connect, say nothing, hang up
    # connect and say nothing: answered 408 after the read timeout, meanwhile others are served
    silent = asyncio.create_task(raw_request(server.url, b"", read_timeout=10))
    await asyncio.sleep(0.1)
    assert (await client.get(QUOTES_PATH)).status_code == 200 and not silent.done()
    assert (await silent).startswith(b"HTTP/1.1 408 ")
    assert (await client.get(QUOTES_PATH)).status_code == 200


async def test_a_silent_client_does_not_hold_up_others(served):
    desk, server, client = served
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    idle = [await asyncio.open_connection(host, int(port)) for _ in range(5)]
    try:
        started = time.monotonic()
        response = await client.get(QUOTES_PATH)
        assert response.status_code == 200 and time.monotonic() - started < 1
    finally:
        for _, writer in idle:
            writer.close()


async def test_address_file_written_while_listening_and_removed_after(tmp_path):
    path = tmp_path / "run" / "quote_api.json"
    events: list[tuple[str, str]] = []
    server = QuoteServer(Desk(some_quotes(), time.monotonic()), address_file=path,
                         on_event=lambda level, text: events.append((level, text)))
    stop = asyncio.Event()
    task = asyncio.create_task(server.run(stop))
    for _ in range(100):
        if server.url is not None:
            break
        await asyncio.sleep(0.01)
    assert read_address_file(path) == server.url
    assert json.loads(path.read_text())["url"].startswith("http://127.0.0.1:")
    assert ("info", f"quotes endpoint: GET {server.url}/quotes") in events
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(read_address_file(path) + QUOTES_PATH)).status_code == 200
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not path.exists()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(server.url + QUOTES_PATH)


async def test_a_port_in_use_is_reported_and_does_not_stop_the_engine_loop():
    async with QuoteServer(Desk()) as first:
        port = int(first.url.rsplit(":", 1)[1])
        events: list[tuple[str, str]] = []
        second = QuoteServer(Desk(), port=port, on_event=lambda level, text: events.append((level, text)))
        second_reuse = asyncio.create_task(second.run(stop := asyncio.Event()))
        await asyncio.sleep(0.2)
        assert second.url is None  # SO_REUSEADDR does not allow two listeners on Linux
        assert not second_reuse.done()  # still "running": the engine's loop does not end
        assert events and events[0][0] == "error" and f":{port}" in events[0][1]
        stop.set()
        await asyncio.wait_for(second_reuse, 5)


def _config(quote_api, tmp_path: Path):
    data = {"name": "t", "database": {"type": "sqlite", "dsn": ":memory:"},
            "signer": {"type": "env", "env": "MMTUI_TEST_SIGNER"}, "quote_api": quote_api,
            "chains": {"1": chain(1), "2": chain(2)}, "quotable_tokens": {}}
    return load_config_text(yaml.safe_dump(data), base_dir=tmp_path)


def test_config(tmp_path):
    cfg = _config({"listen": "127.0.0.1:0", "address_file": "run/quote_api.json"}, tmp_path).quote_api
    assert (cfg.host, cfg.port) == ("127.0.0.1", 0)
    assert cfg.address_file == tmp_path.resolve() / "run" / "quote_api.json"
    assert _config({"listen": "localhost:8791"}, tmp_path).quote_api.port == 8791
    assert _config({"listen": "[::1]:8791"}, tmp_path).quote_api.host == "::1"
    for bad in ("0.0.0.0:8791", "10.0.0.1:8791", "127.0.0.1", "127.0.0.1:70000", "example.com:80", 8791):
        with pytest.raises(ConfigError) as exc:
            _config({"listen": bad}, tmp_path)
        assert "quote_api.listen" in str(exc.value)
    with pytest.raises(ConfigError, match="quote_api.port"):
        _config({"listen": "127.0.0.1:1", "port": 5}, tmp_path)
    assert make_config({1: chain(1), 2: chain(2)}).quote_api is None
