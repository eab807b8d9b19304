"""Breaker readings on the real 2-chain devnet: one multicall per head, a massive mint and a price crash
trip their rules, pool logs of a reorged block are skipped, and the stored window keeps 512 blocks."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from engine.breakers import BreakerBoard, TokenFacts
from engine.breakers.readings import (
    READING_WINDOW_BLOCKS,
    ChainWatch,
    PoolSwap,
    PoolSync,
    canonical_pool_events,
    fetch_pool_events,
    load_pool_specs,
    load_readings,
    pool_readings_at_block_end,
    read_chain,
    store_reading,
    store_readings,
)
from engine.chain.rpc import ChainRpc
from engine.config import NATIVE_TOKEN_ADDRESS, BreakerRule
from engine.devnet.accounts import DEPLOYER, RELAYER, dev_account
from engine.devnet.deployer import DEVNET_TOKENS, NATIVE, REFERENCE_STABLE, ChainDeployer
from engine.protocol import calls

pytestmark = pytest.mark.anvil

RELAYER_ADDRESS = dev_account(RELAYER).address
DEPLOYER_ADDRESS = dev_account(DEPLOYER).address


@pytest.fixture
def chain(devnet):
    deployment = devnet.deployments[0]
    return deployment, ChainDeployer(devnet.node(deployment.chain_id), cctp_domain=0)


@pytest.fixture
async def rpc(chain):
    deployment, _ = chain
    client = ChainRpc(deployment.chain_id, deployment.rpc_url, timeout=10)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def watch(chain, rpc) -> ChainWatch:
    deployment, _ = chain
    pools = await load_pool_specs(rpc, deployment.multicall, list(deployment.pools.values()))
    tokens = tuple(deployment.tokens[s.symbol] for s in (*DEVNET_TOKENS, NATIVE))
    return ChainWatch(deployment.chain_id, deployment.multicall, RELAYER_ADDRESS, tokens, pools)


def token_facts(deployment) -> dict:
    specs = (*DEVNET_TOKENS, NATIVE, REFERENCE_STABLE)
    return {(deployment.chain_id, deployment.tokens[s.symbol]): TokenFacts(s.symbol, s.decimals, Decimal(s.price_usd))
            for s in specs}


def rule(name: str, kind: str, threshold: str, deployment, symbol: str | None = None) -> BreakerRule:
    if symbol is None:
        return BreakerRule(name, kind, "chain", Decimal(threshold), chain_id=deployment.chain_id)
    return BreakerRule(name, kind, "token", Decimal(threshold), chain_id=deployment.chain_id, token=symbol,
                       token_address=deployment.tokens[symbol])


async def head(rpc: ChainRpc):
    return await rpc.get_block("latest")


async def test_one_multicall_per_head_reads_every_watched_value(chain, rpc, watch) -> None:
    deployment, _ = chain
    header = await head(rpc)
    requests_before = rpc.requests
    reading = await read_chain(rpc, watch, header)
    assert rpc.requests - requests_before == 1

    assert (reading.chain_id, reading.block_number, reading.block_timestamp) == (
        deployment.chain_id, header.number, header.timestamp)
    assert reading.block_hash == "0x" + header.hash.hex()
    assert reading.base_fee == header.base_fee_per_gas
    usdc = deployment.tokens["USDC"]
    assert reading.total_supplies[usdc.lower()] == calls.decode_uint(
        await rpc.call(usdc, calls.selector("totalSupply()")))
    assert reading.balances[usdc.lower()] == 100_000 * 10**6  # the devnet relayer's inventory
    assert reading.gas_balance == await rpc.get_balance(RELAYER_ADDRESS) == reading.balances[NATIVE_TOKEN_ADDRESS.lower()]
    assert NATIVE_TOKEN_ADDRESS.lower() not in reading.total_supplies
    pool = reading.pools[deployment.pools["USDC"].lower()]
    assert (pool.token, pool.quote_token) == (usdc.lower(), deployment.tokens["USDR"].lower())
    assert (pool.token_decimals, pool.quote_decimals) == (6, 18)
    assert pool.spot_price == 1  # seeded at 1 USD a side


async def test_a_massive_mint_trips_supply_jump_within_one_block(chain, rpc, watch) -> None:
    deployment, deployer = chain
    board = BreakerBoard([rule("usdc-supply", "supply_jump", "50", deployment, "USDC"),
                          rule("dai-supply", "supply_jump", "50", deployment, "DAI")],
                         token_facts(deployment), {deployment.chain_id: 10**17})
    before = await read_chain(rpc, watch, await head(rpc))
    assert board.observe_reading(before, now=1000.0) == []

    deployer.call("DevToken", deployment.tokens["USDC"], "mint", DEPLOYER_ADDRESS, 2**200)  # one block (automine)
    after = await read_chain(rpc, watch, await head(rpc))
    assert after.block_number == before.block_number + 1
    tripped = board.observe_reading(after, now=1001.0)

    assert [s.name for s in tripped] == ["usdc-supply"]
    (state,) = tripped
    assert state.text.startswith("USDC total supply +") and state.text.endswith("% in 1 block > 50 %")
    assert state.evidence["supply"] - state.evidence["previous_supply"] == 2**200
    assert board.halts(deployment.chain_id, deployment.tokens["USDC"]) == (state,)
    assert board.halts(deployment.chain_id, deployment.tokens["DAI"]) == ()


async def test_a_swap_that_crashes_the_price_trips_and_its_logs_are_read(chain, rpc, watch) -> None:
    deployment, deployer = chain
    dai, pool = deployment.tokens["DAI"], deployment.pools["DAI"]
    board = BreakerBoard([rule("dai-drop", "price_drop", "20", deployment, "DAI"),
                          rule("dai-off-peg", "price_deviation", "10", deployment, "DAI"),
                          rule("usdc-drop", "price_drop", "20", deployment, "USDC")],
                         token_facts(deployment), {deployment.chain_id: 10**17})
    amount = 10**6 * 10**18  # as much DAI again as the pool holds: the DAI price falls to about a quarter
    deployer.call("DevToken", dai, "mint", DEPLOYER_ADDRESS, amount)
    deployer.call("DevToken", dai, "approve", pool, amount)
    before = await read_chain(rpc, watch, await head(rpc))
    board.observe_reading(before, now=1.0)
    deployer.call("ConstantProductPool", pool, "swapExactIn", dai, amount, 0, DEPLOYER_ADDRESS)
    header = await head(rpc)
    after = await read_chain(rpc, watch, header)
    tripped = {s.name: s for s in board.observe_reading(after, now=2.0)}

    assert set(tripped) == {"dai-drop", "dai-off-peg"}
    assert tripped["dai-drop"].value > 70  # percent
    assert tripped["dai-drop"].evidence["pool"] == pool.lower()
    assert board.halts(deployment.chain_id, deployment.tokens["USDC"]) == ()

    events = await fetch_pool_events(rpc, list(deployment.pools.values()), header.number, header.number, {header.hash})
    swap = next(e for e in events if isinstance(e, PoolSwap))
    assert (swap.pool, swap.token_in, swap.amount_in) == (pool.lower(), dai.lower(), amount)
    closing = pool_readings_at_block_end(events, {spec.pool: spec for spec in watch.pools})
    assert closing[(pool.lower(), header.number)] == after.pools[pool.lower()]


async def test_pool_logs_of_a_reorged_block_are_skipped(devnet, chain, rpc, watch) -> None:
    deployment, deployer = chain
    usdc, pool = deployment.tokens["USDC"], deployment.pools["USDC"]
    node = devnet.node(deployment.chain_id)
    deployer.call("DevToken", usdc, "mint", DEPLOYER_ADDRESS, 10**12)
    deployer.call("DevToken", usdc, "approve", pool, 10**12)
    snapshot = node.rpc("evm_snapshot")
    deployer.call("ConstantProductPool", pool, "swapExactIn", usdc, 10**12, 0, DEPLOYER_ADDRESS)
    forked = await head(rpc)
    raw_logs = await rpc.get_logs([pool], forked.number, forked.number)
    assert {type(e) for e in canonical_pool_events(raw_logs, {forked.hash})} == {PoolSwap, PoolSync}

    # The swap's block is reorged away: same height, another block, no swap in it.
    node.rpc("evm_revert", [snapshot])
    node.rpc("evm_mine")
    replacement = await head(rpc)
    assert replacement.number == forked.number and replacement.hash != forked.hash
    # anvil does not mark the fetched logs removed: only the canonical hash set can drop them
    assert not any(log.removed for log in raw_logs)
    assert canonical_pool_events(raw_logs, {replacement.hash}) == []
    assert await fetch_pool_events(rpc, [pool], forked.number, forked.number, {replacement.hash}) == []


async def test_the_stored_window_keeps_512_blocks_and_round_trips_exactly(db, devnet, chain, rpc, watch) -> None:
    deployment, _ = chain
    node = devnet.node(deployment.chain_id)
    node.rpc("anvil_mine", [hex(READING_WINDOW_BLOCKS + 8)])
    tip = await rpc.block_number()
    first = tip - READING_WINDOW_BLOCKS - 7
    pruned = 0
    for number in range(first, tip + 1):
        reading = await read_chain(rpc, watch, await rpc.get_block(number))
        pruned += await store_reading(db, reading)
    assert pruned == 8
    stored = await load_readings(db, deployment.chain_id)
    assert [r.block_number for r in stored] == list(range(tip - READING_WINDOW_BLOCKS + 1, tip + 1))
    assert stored[-1] == reading  # exact, uint256 supplies included (USDC's passed 2**200 above)
    assert (await load_readings(db, deployment.chain_id, last=2))[0] == stored[-2]

    # A reorg at the tip replaces the stored readings from that height on.
    replacement = type(reading)(reading.chain_id, tip - 1, "0x" + "ab" * 32, reading.block_timestamp,
                                reading.total_supplies, reading.pools, reading.balances, reading.gas_balance, None)
    await store_reading(db, replacement)
    tail = await load_readings(db, deployment.chain_id, last=2)
    assert [(r.block_number, r.block_hash) for r in tail] == [(tip - 2, stored[-3].block_hash), (tip - 1, "0x" + "ab" * 32)]


async def test_a_batch_of_readings_is_written_and_pruned_in_one_transaction(db, chain, rpc, watch) -> None:
    deployment, _ = chain
    real = await read_chain(rpc, watch, await head(rpc))
    cid = 990_001  # a chain of its own in the shared database

    def at(number: int, tag: str = "aa"):
        return replace(real, chain_id=cid, block_number=number, block_hash="0x" + tag * 31 + f"{number % 256:02x}")

    writes = 0
    original_write = db.run_write

    def counting_write(*args, **kwargs):
        nonlocal writes
        writes += 1
        return original_write(*args, **kwargs)

    db.run_write = counting_write
    try:
        # 520 blocks in one flush: one transaction, the window's 512 kept
        assert await store_readings(db, [at(n) for n in range(1, 521)]) == 0  # nothing stored earlier to prune
        assert writes == 1
        stored = await load_readings(db, cid)
        assert [r.block_number for r in stored] == list(range(9, 521)) and stored[-1] == at(520)
        # the next flush: a reorg of 519..520 since the last one, and one inside the batch itself
        batch = [at(519, "bb"), at(520, "bb"), at(521, "bb"), at(521, "cc"), at(522, "cc")]
        assert await store_readings(db, batch) == 2  # blocks 9 and 10 leave the window
        assert writes == 2
        tail = await load_readings(db, cid, last=5)
        assert [(r.block_number, r.block_hash[2:4]) for r in tail] == [
            (518, "aa"), (519, "bb"), (520, "bb"), (521, "cc"), (522, "cc")]
        assert len(await load_readings(db, cid)) == READING_WINDOW_BLOCKS
        assert await store_readings(db, []) == 0 and writes == 2  # nothing to write: no transaction
    finally:
        db.run_write = original_write
