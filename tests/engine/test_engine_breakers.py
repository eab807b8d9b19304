"""Circuit breakers wired into the running engine, on real devnet chains with a real alert receiver on
loopback: a massive mint, a crashed pool price, a base fee past the cap and a dead chain each trip
their rule at once; a tripped scope keeps its new orders waiting (others relay) until a person resets
it; every trip is journaled with its evidence, alerted exactly once and re-latched after a restart."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import yaml
from aiohttp import web
from eth_abi import encode as abi_encode
from sqlalchemy import func, select

from engine.api import Arm, ResetBreaker
from engine.config import load_config
from engine.devnet.accounts import DEPLOYER, RELAYER, dev_account
from engine.protocol import calls
from engine.relayer.statuses import OrderStatus
from engine.store import BreakerReading, OperatorJournal
from enginekit import describe_order, make_engine, mine, running, status_of, wait_for, write_engine_config

ORIGIN, DEST = 31337, 31338
DEPLOYER_ADDRESS = dev_account(DEPLOYER).address
RELAYER_ADDRESS = dev_account(RELAYER).address
ALERT_TOKEN = "alert-bearer-t0ken-never-logged"
GWEI = 10**9


@dataclass
class AlertReceiver:
    """A real HTTP server on loopback that records every alert delivery."""

    url: str = ""
    received: list[dict] = field(default_factory=list)

    def titles(self) -> list[str]:
        return [r["body"]["title"] for r in self.received]


@pytest.fixture
async def alert_receiver() -> AsyncIterator[AlertReceiver]:
    receiver = AlertReceiver()

    async def alerts(request: web.Request) -> web.Response:
        receiver.received.append({"body": await request.json(), "key": request.headers.get("Idempotency-Key"),
                                  "auth": request.headers.get("Authorization")})
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/alerts", alerts)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/alerts"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def breaker_config(devnet, directory, rules: list[dict], alert_url: str):
    path = write_engine_config(devnet, directory)
    data = yaml.safe_load(path.read_text())
    data["breakers"] = rules
    data["alerts"] = [{"name": "ops", "kind": "webhook", "url": alert_url, "secret_env": "MMTUI_TEST_ALERT_TOKEN"}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


def send(devnet, chain_id: int, to: str, data: bytes, sender: str = DEPLOYER_ADDRESS) -> dict:
    node = devnet.node(chain_id)
    tx_hash = node.rpc("eth_sendTransaction", [{"from": sender, "to": to, "data": "0x" + data.hex()}])
    deadline = time.monotonic() + 10
    while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receipt is not None and int(receipt["status"], 16) == 1, receipt
    return receipt


def mint(devnet, chain_id: int, symbol: str, to: str, amount: int) -> int:
    data = calls.selector("mint(address,uint256)") + abi_encode(["address", "uint256"], [to, amount])
    return int(send(devnet, chain_id, devnet.deployment(chain_id).tokens[symbol], data)["blockNumber"], 16)


def fund_swap(devnet, chain_id: int, symbol: str, amount: int) -> None:
    """Mint `amount` of the token to the deployer and approve its reference pool for it."""
    pool = devnet.deployment(chain_id).pools[symbol]
    mint(devnet, chain_id, symbol, DEPLOYER_ADDRESS, amount)
    send(devnet, chain_id, devnet.deployment(chain_id).tokens[symbol], calls.selector("approve(address,uint256)")
         + abi_encode(["address", "uint256"], [pool, amount]))


def crash_pool(devnet, chain_id: int, symbol: str, amount: int) -> int:
    """Dump `amount` of the token (funded by fund_swap) into its reference pool in one swap: its spot price
    falls. Returns the swap's block."""
    token, pool = devnet.deployment(chain_id).tokens[symbol], devnet.deployment(chain_id).pools[symbol]
    swap = calls.selector("swapExactIn(address,uint256,uint256,address)") + abi_encode(
        ["address", "uint256", "uint256", "address"], [token, amount, 0, DEPLOYER_ADDRESS])
    return int(send(devnet, chain_id, pool, swap)["blockNumber"], 16)


def relayed_by(devnet, txid: str) -> str | None:
    raw = devnet.node(DEST).rpc("eth_call", [{"to": devnet.deployment(DEST).bridge,
                                              "data": "0x" + calls.encode_bridge_relay_details(txid).hex()}, "latest"])
    return calls.decode_relay_details(bytes.fromhex(raw[2:])).relayer


async def readings_caught_up(engine, devnet, chain_id: int) -> None:
    """Wait until the breakers have read the chain's current head. anvil answers a state query at the hash
    of its newest block with the state of blocks mined while it answers (measured with anvil 1.7.1: 1,500
    of 2,800 balance reads at the latest block's hash, under a stream of transfers), so a change sent while
    the previous head is being read could be judged one block early."""
    head = int(await asyncio.to_thread(devnet.node(chain_id).rpc, "eth_blockNumber", []), 16)
    await wait_for(lambda: (engine.breakers.last_read_block(chain_id) or -1) >= head, 10,
                   f"the breaker reading of block {head} on chain {chain_id}")


def breaker(engine, name: str):
    return next(b for b in engine.snapshot().breakers if b.name == name)


def tripped(engine, name: str) -> bool:
    return breaker(engine, name).state == "tripped"


async def place(traffic, symbol: str):
    decimals = 6 if symbol == "USDC" else 18
    origin_amount = 100 * 10**decimals
    dest_amount = origin_amount * 999 // 1000 - 3 * 10**decimals  # leaves a fee worth a few dollars
    return await asyncio.to_thread(traffic.place_order, ORIGIN, DEST, symbol, origin_amount, dest_amount)


RULES = [
    {"name": "usdc-supply", "kind": "supply_jump", "scope": {"level": "token", "chain_id": DEST, "token": "USDC"},
     "threshold": 50, "window_blocks": 1},
    {"name": "dai-price", "kind": "price_drop", "scope": {"level": "token", "chain_id": DEST, "token": "DAI"},
     "threshold": 20, "window_blocks": 1},
    {"name": "origin-gas-cap", "kind": "gas_price_cap", "scope": {"level": "chain", "chain_id": ORIGIN},
     "threshold": 50},
]


async def test_trips_halt_their_scope_alert_once_and_a_reset_resumes(devnet, traffic, tmp_path, alert_receiver,
                                                                     monkeypatch):
    monkeypatch.setenv("MMTUI_TEST_ALERT_TOKEN", ALERT_TOKEN)
    config = breaker_config(devnet, tmp_path, RULES, alert_receiver.url)
    engine = make_engine(config)
    async with running(engine):
        assert (await engine.execute(Arm(actor="test"))).ok
        await wait_for(lambda: all(engine.breakers.readings_stored[c] for c in (ORIGIN, DEST)), 20,
                       "first readings", tick=lambda: mine(devnet))

        # an infinite mint of USDC on DEST: tripped by the reading of the very block that minted
        await readings_caught_up(engine, devnet, DEST)
        minted_in = await asyncio.to_thread(mint, devnet, DEST, "USDC", DEPLOYER_ADDRESS, 100_000_000 * 10**6)
        await wait_for(lambda: tripped(engine, "usdc-supply"), 10, "usdc-supply to trip")
        state = engine.breakers.board.state("usdc-supply")
        assert state.evidence["block_number"] == minted_in and state.evidence["previous_block_number"] == minted_in - 1
        assert state.text.startswith("USDC total supply +") and state.text.endswith("% in 1 block > 50 %")
        view = breaker(engine, "usdc-supply")
        assert view.scope == f"token {DEST}:USDC" and view.since is not None and view.threshold == "50 %"

        # a USDC order waits, halted, while a DAI order relays
        usdc_order, dai_order = await place(traffic, "USDC"), await place(traffic, "DAI")
        await wait_for(lambda: relayed_by(devnet, dai_order.transaction_id) == RELAYER_ADDRESS, 30, "the DAI relay",
                       tick=lambda: mine(devnet), describe=describe_order(engine, dai_order.transaction_id))
        halted = next(o for o in engine.snapshot().orders if o.transaction_id == usdc_order.transaction_id)
        assert halted.status == OrderStatus.Seen, halted
        assert halted.last_reason.startswith("halted by breaker usdc-supply: USDC total supply +"), halted.last_reason
        assert relayed_by(devnet, usdc_order.transaction_id) is None
        detail = await engine.order_detail(usdc_order.transaction_id)
        assert any(g.name == "breaker" and not g.passed for t in detail.transitions for g in t.reasons)
        # and the halted token is not quoted: its routes into the halted chain are at zero, naming the rule
        def usdc_quotes_halted() -> bool:  # quotes are refreshed every second
            into_usdc = [q for q in engine.snapshot().quotes if q.dest_chain_id == DEST and q.dest_symbol == "USDC"]
            return bool(into_usdc) and all(q.max_origin_amount == 0 and q.limited_by.startswith(
                "halted by breaker usdc-supply") for q in into_usdc)

        await wait_for(usdc_quotes_halted, 5, "USDC quotes at zero")
        # DAI stays quoted: its balance, dropped from the cache when the DAI relay was mined, is read again at
        # once (no new block is mined here), and the quotes refresh every second
        await wait_for(lambda: any(q.max_origin_amount > 0 for q in engine.snapshot().quotes
                                   if q.dest_symbol == "DAI"), 5, "DAI quoted")

        # only a person resumes it
        unknown = await engine.execute(ResetBreaker(name="nope", actor="test"))
        assert not unknown.ok and "no breaker named 'nope'" in unknown.message
        idle = await engine.execute(ResetBreaker(name="dai-price", actor="test"))
        assert not idle.ok and "not tripped" in idle.message
        reset = await engine.execute(ResetBreaker(name="usdc-supply", actor="test"))
        assert reset.ok and "resumes" in reset.message
        assert breaker(engine, "usdc-supply").state == "ok"
        await wait_for(lambda: relayed_by(devnet, usdc_order.transaction_id) == RELAYER_ADDRESS, 30,
                       "the USDC relay after the reset", tick=lambda: mine(devnet),
                       describe=describe_order(engine, usdc_order.transaction_id))

        # a crashed reference pool price
        await asyncio.to_thread(fund_swap, devnet, DEST, "DAI", 1_000_000 * 10**18)
        await readings_caught_up(engine, devnet, DEST)
        swapped_in = await asyncio.to_thread(crash_pool, devnet, DEST, "DAI", 1_000_000 * 10**18)
        await wait_for(lambda: tripped(engine, "dai-price"), 10, "dai-price to trip")
        evidence = engine.breakers.board.state("dai-price").evidence
        assert evidence["block_number"] == swapped_in
        assert evidence["pool"] == devnet.deployment(DEST).pools["DAI"].lower()

        # a base fee past the cap on ORIGIN
        node = devnet.node(ORIGIN)
        await asyncio.to_thread(node.rpc, "anvil_setNextBlockBaseFeePerGas", [hex(80 * GWEI)])
        await asyncio.to_thread(node.rpc, "evm_mine", [])
        await wait_for(lambda: tripped(engine, "origin-gas-cap"), 10, "origin-gas-cap to trip")
        assert engine.breakers.board.state("origin-gas-cap").evidence["gas_price_wei"] == 80 * GWEI
        await asyncio.to_thread(node.rpc, "anvil_setNextBlockBaseFeePerGas", [hex(GWEI)])
        await asyncio.to_thread(node.rpc, "evm_mine", [])

        await wait_for(lambda: len(alert_receiver.received) >= 4, 10, "four alerts")
        assert engine.alert_stats().sent == 4
        events = [e.text for e in engine.snapshot().events]
        assert any("breaker dai-price TRIPPED" in e for e in events)
    # each alert exactly once, authenticated, in the order things happened
    titles = alert_receiver.titles()
    assert len(titles) == 4 and len({r["key"] for r in alert_receiver.received}) == 4, titles
    assert titles[0].startswith("breaker usdc-supply TRIPPED") and titles[1].startswith("breaker usdc-supply reset")
    assert titles[2].startswith("breaker dai-price TRIPPED") and titles[3].startswith("breaker origin-gas-cap TRIPPED")
    assert all(r["auth"] == f"Bearer {ALERT_TOKEN}" for r in alert_receiver.received)

    async with engine.db.read() as s:
        journal = (await s.scalars(select(OperatorJournal).order_by(OperatorJournal.id))).all()
        readings = dict((await s.execute(select(BreakerReading.chain_id, func.count())
                                         .group_by(BreakerReading.chain_id))).all())
    trips = [j for j in journal if j.command == "breaker_trip"]
    assert [j.args["name"] for j in trips] == ["usdc-supply", "dai-price", "origin-gas-cap"]
    assert trips[0].actor == "breaker" and trips[0].args["evidence"]["block_number"] == minted_in
    assert [(j.args["name"], j.ok) for j in journal if j.command == "reset_breaker"] == [
        ("nope", False), ("dai-price", False), ("usdc-supply", True)]
    assert all(ALERT_TOKEN not in str(j.args) + (j.result or "") for j in journal)
    assert 0 < readings[ORIGIN] <= 512 and 0 < readings[DEST] <= 512

    # a restart re-latches what is still tripped
    again = make_engine(config)
    try:
        await again.start()
        states = {b.name: b.state for b in again.snapshot().breakers}
        assert states == {"usdc-supply": "ok", "dai-price": "tripped", "origin-gas-cap": "tripped"}
        assert again.breakers.halted(ORIGIN, devnet.deployment(ORIGIN).tokens["USDC"]) is not None
    finally:
        await again.close()


async def test_a_dead_chain_trips_stale_while_the_other_goes_on(anvil_bin, tmp_path_factory, tmp_path,
                                                               alert_receiver, monkeypatch):
    from engine.devnet.devnet import DevnetSettings, start_devnet

    monkeypatch.setenv("MMTUI_TEST_ALERT_TOKEN", ALERT_TOKEN)
    net = start_devnet(DevnetSettings(tmp_path_factory.mktemp("stale-devnet"), chains=2, block_time=1))
    try:
        rules = [{"name": f"stale-{cid}", "kind": "head_stale", "scope": {"level": "chain", "chain_id": cid},
                  "threshold": 3} for cid in (ORIGIN, DEST)]
        engine = make_engine(breaker_config(net, tmp_path, rules, alert_receiver.url))
        async with running(engine):
            def head(cid: int) -> int | None:
                return next(c.head_number for c in engine.snapshot().chains if c.chain_id == cid)

            await wait_for(lambda: head(ORIGIN) and head(DEST), 10, "heads on both chains")
            await asyncio.to_thread(net.node(DEST).stop)
            origin_before = head(ORIGIN)
            await wait_for(lambda: tripped(engine, f"stale-{DEST}"), 15, "the dead chain to trip")
            assert "no new head for" in engine.breakers.board.state(f"stale-{DEST}").text
            assert not tripped(engine, f"stale-{ORIGIN}")
            assert head(ORIGIN) > origin_before  # the live chain goes on
            assert engine.breakers.halted(DEST, net.deployment(DEST).tokens["USDC"]) is not None
            assert engine.breakers.halted(ORIGIN, net.deployment(ORIGIN).tokens["USDC"]) is None
            await wait_for(lambda: alert_receiver.received, 10, "the alert")
            await asyncio.sleep(1.5)  # more health checks: still one alert
        assert alert_receiver.titles() == [f"breaker stale-{DEST} TRIPPED (chain {DEST} halted)"]
    finally:
        net.stop()


def _rpc_send(node, to: str, data: bytes, nonce: int) -> str:
    # gas and nonce given: nothing is estimated against a state the pending block has moved past
    return node.rpc("eth_sendTransaction", [{"from": DEPLOYER_ADDRESS, "to": to, "data": "0x" + data.hex(),
                                             "gas": hex(400_000), "nonce": hex(nonce)}])


def flash_crash(devnet, chain_id: int, symbol: str, amount: int) -> int:
    """Dump `amount` of the token into its reference pool and buy it back in the SAME block: the block
    closes near its opening price, only the pool's Swap/Sync logs show the crash."""
    deployment, node = devnet.deployment(chain_id), devnet.node(chain_id)
    token, pool, usdr = deployment.tokens[symbol], deployment.pools[symbol], deployment.tokens["USDR"]
    mint(devnet, chain_id, symbol, DEPLOYER_ADDRESS, amount)
    approve = calls.selector("approve(address,uint256)")
    send(devnet, chain_id, token, approve + abi_encode(["address", "uint256"], [pool, amount]))
    send(devnet, chain_id, usdr, approve + abi_encode(["address", "uint256"], [pool, 2**255]))
    raw = node.rpc("eth_call", [{"to": pool, "data": "0x" + (calls.selector("getAmountOut(address,uint256)") + abi_encode(
        ["address", "uint256"], [token, amount])).hex()}, "latest"])
    bought = int(raw, 16)
    swap = calls.selector("swapExactIn(address,uint256,uint256,address)")
    nonce = int(node.rpc("eth_getTransactionCount", [DEPLOYER_ADDRESS, "latest"]), 16)
    node.rpc("evm_setAutomine", [False])
    try:
        hashes = [_rpc_send(node, pool, swap + abi_encode(["address", "uint256", "uint256", "address"],
                                                          [token, amount, 0, DEPLOYER_ADDRESS]), nonce),
                  _rpc_send(node, pool, swap + abi_encode(["address", "uint256", "uint256", "address"],
                                                          [usdr, bought, 0, DEPLOYER_ADDRESS]), nonce + 1)]
        assert len(node.rpc("eth_getBlockByNumber", ["pending", False])["transactions"]) == 2
        node.rpc("evm_mine", [])
    finally:
        node.rpc("evm_setAutomine", [True])
    receipts = [node.rpc("eth_getTransactionReceipt", [h]) for h in hashes]
    assert all(int(r["status"], 16) == 1 for r in receipts), receipts
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    return int(receipts[0]["blockNumber"], 16)


async def test_a_flash_crash_seen_in_swap_logs_stops_in_flight_relays_until_reset(devnet, traffic, tmp_path,
                                                                                   alert_receiver, monkeypatch):
    monkeypatch.setenv("MMTUI_TEST_ALERT_TOKEN", ALERT_TOKEN)
    rules = [{"name": "dai-flash", "kind": "price_drop", "scope": {"level": "token", "chain_id": DEST, "token": "DAI"},
              "threshold": 20, "stop_in_flight": True},
             {"name": "usdc-drop", "kind": "price_drop", "scope": {"level": "token", "chain_id": DEST,
                                                                   "token": "USDC"}, "threshold": 20}]
    config = breaker_config(devnet, tmp_path, rules, alert_receiver.url)
    assert [r.stop_in_flight for r in config.breakers] == [True, False]
    engine = make_engine(config)
    async with running(engine):
        await wait_for(lambda: all(engine.breakers.readings_stored[c] for c in (ORIGIN, DEST)), 20,
                       "first readings", tick=lambda: mine(devnet))
        # disarmed: a DAI order is committed, its relay waits (a dry run)
        order = await place(traffic, "DAI")
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.CommittedConfirmed, 30,
                       "the DAI order committed and confirmed", tick=lambda: mine(devnet),
                       describe=describe_order(engine, order.transaction_id))

        crashed_in = await asyncio.to_thread(flash_crash, devnet, DEST, "DAI", 1_000_000 * 10**18)
        await wait_for(lambda: tripped(engine, "dai-flash"), 10, "dai-flash to trip")
        state = engine.breakers.board.state("dai-flash")
        assert state.evidence["source"] == "swap_events" and state.evidence["block_number"] == crashed_in
        assert state.value > 40 and f"within block #{crashed_in}" in state.text  # the pool may be DAI-heavy already
        # the block's closing price alone would not have tripped: the buy-back restored it
        (closing,) = [r for r in engine.breakers.board._history[DEST] if r.block_number == crashed_in]
        pool = closing.pools[devnet.deployment(DEST).pools["DAI"].lower()]
        before = state.evidence["previous_reserves"]
        assert abs(pool.spot_price / (before[1] / before[0]) - 1) < 0.05
        assert not tripped(engine, "usdc-drop")
        assert engine.breakers.pool_log_queries[DEST] > 0 and engine.breakers.pool_log_queries[ORIGIN] == 0
        # the blocks without a swap were ruled out by their logsBloom, not asked for their logs
        assert engine.breakers.pool_log_skips[DEST] > engine.breakers.pool_log_queries[DEST]
        dai = devnet.deployment(DEST).tokens["DAI"]
        assert engine.breakers.stops_in_flight(DEST, dai).name == "dai-flash"
        assert engine.breakers.stops_in_flight(DEST, devnet.deployment(DEST).tokens["USDC"]) is None

        # armed now, the committed order is held: no relay while the stop is latched
        assert (await engine.execute(Arm(actor="test"))).ok
        stopped = "stopped by breaker dai-flash (stop_in_flight): DAI spot price -"
        await wait_for(lambda: (describe_order(engine, order.transaction_id)()).startswith(
            f"CommittedConfirmed: {stopped}"), 15, "the relay held", tick=lambda: mine(devnet),
            describe=describe_order(engine, order.transaction_id))
        for _ in range(4):
            await asyncio.to_thread(mine, devnet)
            await asyncio.sleep(0.5)
        assert status_of(engine, order.transaction_id) == OrderStatus.CommittedConfirmed
        assert relayed_by(devnet, order.transaction_id) is None
        detail = await engine.order_detail(order.transaction_id)
        assert any(g.name == "breaker" and not g.passed and g.text.startswith(stopped)
                   for t in detail.transitions for g in t.reasons)

        assert (await engine.execute(ResetBreaker(name="dai-flash", actor="test"))).ok
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 30,
                       "the DAI relay after the reset", tick=lambda: mine(devnet),
                       describe=describe_order(engine, order.transaction_id))
        await wait_for(lambda: len(alert_receiver.received) >= 2, 10, "trip and reset alerts")
    assert alert_receiver.titles()[0].startswith("breaker dai-flash TRIPPED")
    assert alert_receiver.titles()[1].startswith("breaker dai-flash reset")
    # readings were batched (fewer transactions than readings) and the last ones flushed at stop
    stored = sum(engine.breakers.readings_stored.values())
    assert engine.breakers.flushes < stored
    async with engine.db.read() as s:
        rows = (await s.execute(select(func.count()).select_from(BreakerReading))).scalar_one()
    assert rows == min(stored, 2 * 512)


def test_breaker_and_alert_config_fields(devnet, tmp_path) -> None:
    from engine.config import ConfigError, load_config_text

    base = yaml.safe_load(write_engine_config(devnet, tmp_path).read_text())

    def problems(breakers: list[dict], alerts: list[dict] | None = None) -> list[str]:
        data = dict(base, breakers=breakers, alerts=alerts or [])
        try:
            load_config_text(yaml.safe_dump(data), base_dir=tmp_path)
        except ConfigError as exc:
            return [p for p in exc.problems if "breakers" in p or "alerts" in p]
        return []

    fails = {"name": "fails", "kind": "failure_rate", "threshold": "0.5"}
    assert problems([dict(fails, min_attempts=5, stop_in_flight=True)]) == []
    assert problems([dict(fails, stop_in_flight="yes")]) == ["breakers[0].stop_in_flight: must be true or false"]
    assert problems([dict(fails, min_attempts=0)])[0].startswith("breakers[0].min_attempts: ")
    assert problems([{"name": "gas", "kind": "gas_price_cap", "threshold": 50, "min_attempts": 3}]) == [
        "breakers[0].min_attempts: only used by failure_rate rules, not gas_price_cap"]
    slack = {"name": "ops", "kind": "slack"}
    assert problems([], [dict(slack, url_env="SLACK_WEBHOOK_URL")]) == []
    both = "alerts[0].url: set url or url_env (the environment variable holding the URL), one of them"
    assert problems([], [slack]) == [both]
    assert problems([], [dict(slack, url="https://hooks.example/x", url_env="SLACK_WEBHOOK_URL")]) == [both]
    assert problems([], [dict(slack, url_env="not a name")])[0].startswith("alerts[0].url_env: must be the NAME")
    data = dict(base, breakers=[dict(fails, min_attempts=5)], alerts=[dict(slack, url_env="SLACK_WEBHOOK_URL")])
    config = load_config_text(yaml.safe_dump(data), base_dir=tmp_path)
    assert (config.breakers[0].min_attempts, config.breakers[0].stop_in_flight) == (5, False)
    assert (config.alerts[0].url, config.alerts[0].url_env) == ("", "SLACK_WEBHOOK_URL")
