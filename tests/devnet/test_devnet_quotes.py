"""The engine's quotes endpoint on a real devnet, and the traffic generator pricing its orders from it:
GET /quotes is the engine's quotes exactly; the address is found through the devnet manifest; a
quote-priced order is what the quote promises and the engine relays it; a route quoted at 0 gives way to
another; without the endpoint the generator prices as before."""
from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # enginekit

from enginekit import describe_order, make_engine, mine, running, status_of, wait_for  # noqa: E402
from enginekit import write_engine_config  # noqa: E402

from engine.api import Arm  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.devnet.traffic import RouteQuote, TrafficGenerator, load_manifest  # noqa: E402
from engine.inventory.quote_api import QuoteServer, quote_json, read_address_file  # noqa: E402
from engine.relayer.statuses import OrderStatus  # noqa: E402


def quoting_engine(devnet, tmp_path: Path):
    """The devnet's own config (quote_api on 127.0.0.1:0), its address written where the manifest says."""
    path = write_engine_config(devnet, tmp_path)
    data = yaml.safe_load(path.read_text())
    assert data["quote_api"] == {"listen": "127.0.0.1:0", "address_file": "quote_api.json"}  # as `mmtui devnet` wrote
    data["quote_api"]["address_file"] = str(devnet.quote_api_file)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return make_engine(load_config(path))


def quoted(engine) -> bool:
    return bool(engine.desk.quotes) and all(q.max_origin_amount > 0 for q in engine.desk.quotes)


async def test_engine_serves_its_quotes_and_traffic_prices_orders_from_them(devnet, tmp_path):
    manifest = load_manifest(devnet.settings.directory)
    assert manifest["quote_api_file"] == str(devnet.quote_api_file)
    engine = quoting_engine(devnet, tmp_path)
    async with running(engine):
        await wait_for(lambda: quoted(engine), 30, "every route quoted", tick=lambda: mine(devnet))
        url = read_address_file(devnet.quote_api_file)
        assert url is not None and url == engine.quote_api.url and url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            for _ in range(20):  # the desk refreshes every second: compare against the same refresh
                at, expected = engine.desk.quotes_at, [quote_json(q) for q in engine.desk.quotes]
                body = (await client.get("/quotes")).json()
                if engine.desk.quotes_at == at:
                    break
            assert body["quotes"] == expected
            assert len(body["quotes"]) == 6  # 2 chains x (USDC, DAI, ETH), both ways
            views = {(v.origin_chain_id, v.origin_symbol, v.dest_chain_id): v for v in engine.snapshot().quotes}
            for q in body["quotes"]:
                view = views[(q["origin_chain_id"], q["origin_symbol"], q["dest_chain_id"])]
                assert (q["max_origin_amount"], q["dest_amount"], q["fixed_fee"]) == (
                    str(view.max_origin_amount), str(view.dest_amount), str(view.fixed_fee))
                assert q["limited_by"] == view.limited_by
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/quotes", json={})).status_code == 405

        # the traffic generator finds the endpoint through the manifest and prices from it
        assert (await engine.execute(Arm(actor="test"))).ok
        traffic = TrafficGenerator(manifest, seed=5)
        try:
            order = await asyncio.to_thread(traffic.place, "ordinary")
            assert order.priced_by == "quote" and order.line().endswith("(quoted)")
            quote = order.quote
            assert quote == traffic.route_quote(order.origin_chain_id, order.dest_chain_id, order.symbol)
            assert 0 < order.origin_amount <= quote.max_origin_amount
            assert order.dest_amount == quote.user_dest_amount(order.origin_amount)
            assert order.dest_amount == (order.origin_amount * quote.dest_amount // quote.max_origin_amount
                                         - quote.fixed_fee)
            # the engine's own judgement takes the order its quote priced
            relayed = (OrderStatus.RelayCompleted, OrderStatus.ProvePosting, OrderStatus.ProvePosted,
                       OrderStatus.ClaimPending, OrderStatus.ClaimCompleted)
            await wait_for(lambda: status_of(engine, order.transaction_id) in relayed, 60,
                           "the quoted order relayed", tick=lambda: mine(devnet),
                           describe=describe_order(engine, order.transaction_id))
            # deliberately off-price kinds stay as they were
            unprofitable = await asyncio.to_thread(traffic.place, "unprofitable")
            assert unprofitable.priced_by == "generator"
            assert unprofitable.dest_amount == unprofitable.origin_amount
        finally:
            traffic.close()
    assert not devnet.quote_api_file.exists()  # removed when the engine stopped


async def test_a_route_quoted_at_zero_gives_way_and_no_endpoint_means_the_old_prices(devnet, tmp_path):
    engine = quoting_engine(devnet, tmp_path)
    async with running(engine):
        await wait_for(lambda: quoted(engine), 30, "every route quoted", tick=lambda: mine(devnet))
        live = engine.desk.quotes
    manifest = load_manifest(devnet.settings.directory)
    origin, dest = sorted(c["chain_id"] for c in manifest["chains"])
    usdc = manifest["chains"][0]["tokens"]["USDC"]
    # a real endpoint on loopback serving the engine's quotes with USDC origin -> dest halted (quoted at 0)
    desk = type("Desk", (), {})()
    desk.quotes = tuple(replace(q, max_origin_amount=0, dest_amount=0, limited_by="halted")
                        if (q.origin_chain_id, q.route.origin_token) == (origin, usdc) else q for q in live)
    desk.quotes_at = time.monotonic()
    async with QuoteServer(desk) as server:
        traffic = TrafficGenerator(manifest, seed=1, quotes_url=server.url)
        try:
            for _ in range(10):
                o, d, s, amount, dest_amount, quote = await asyncio.to_thread(
                    traffic._quoted_price, origin, dest, "USDC", 100 * 10**6)
                assert (o, s) != (origin, "USDC") and quote.max_origin_amount > 0
                assert dest_amount == quote.user_dest_amount(amount) and 0 < amount <= quote.max_origin_amount
            # a small order the fixed fee would eat is sized up to what the quote covers
            o, d, s, amount, dest_amount, quote = await asyncio.to_thread(
                traffic._quoted_price, dest, origin, "USDC", 1)
            assert (o, d, s) == (dest, origin, "USDC") and amount > 1 and dest_amount > 0
            assert dest_amount == quote.user_dest_amount(amount)
            # nothing quoted anywhere: the generator's own price
            desk.quotes = tuple(replace(q, max_origin_amount=0, dest_amount=0) for q in live)
            desk.quotes_at = time.monotonic()
            traffic._quotes = None  # drop the 1 s cache
            assert await asyncio.to_thread(traffic._quoted_price, origin, dest, "USDC", 100 * 10**6) is None
            order = await asyncio.to_thread(traffic.place, "ordinary")
            assert order.priced_by == "generator"
            assert order.dest_amount == traffic._dest_amount(order.symbol, order.origin_amount, "ordinary")
        finally:
            traffic.close()
    # the endpoint is gone (engine stopped, file removed): priced as before, quickly
    traffic = TrafficGenerator(manifest, seed=2)
    try:
        assert traffic.quotes_endpoint() is None
        started = time.monotonic()
        order = await asyncio.to_thread(traffic.place, "ordinary")
        assert order.priced_by == "generator" and time.monotonic() - started < 10
        assert order.dest_amount == traffic._dest_amount(order.symbol, order.origin_amount, "ordinary")
    finally:
        traffic.close()
    # an address that does not answer: the same, within the short timeout
    dead = TrafficGenerator(manifest, seed=3, quotes_url=f"http://127.0.0.1:{_closed_port()}")
    try:
        started = time.monotonic()
        assert await asyncio.to_thread(dead.fetch_quotes) is None
        assert time.monotonic() - started < 2
        assert await asyncio.to_thread(dead.fetch_quotes) is None  # backs off: no second attempt yet
    finally:
        dead.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_route_quote_parses_the_endpoints_json():
    q = RouteQuote.from_json({"origin_chain_id": 1, "origin_token_addr": "0xAb", "dest_chain_id": 2,
                              "dest_token_addr": "0xCd", "max_origin_amount": "1000", "dest_amount": "990",
                              "fixed_fee": "5"})
    assert (q.origin_token, q.dest_token) == ("0xab", "0xcd")
    assert q.user_dest_amount(500) == 500 * 990 // 1000 - 5
    assert q.user_dest_amount(1001) is None and q.user_dest_amount(5) is None
