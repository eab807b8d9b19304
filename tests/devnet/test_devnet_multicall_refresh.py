"""LiveChain.refresh on a real devnet: all of a chain's balances in ONE Multicall3 aggregate3 call (gas
balance + balanceOf per token), equal to per-token reads; the per-call path without a multicall_address;
and the generation guard: a forget_balance while the multicall is in flight keeps its older value out."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal

import pytest
from eth_abi import encode as abi_encode

from engine.chain.fees import FeeConfig, FeePolicy
from engine.chain.live import LiveChain
from engine.chain.rpc import ChainRpc
from engine.config import load_config
from engine.devnet.accounts import DEPLOYER, RELAYER, dev_account
from engine.protocol import calls
from engine.protocol.codec import NATIVE_TOKEN
from engine.protocol.multicall import AGGREGATE3, GET_ETH_BALANCE, MulticallFailed

RELAYER_ADDRESS = dev_account(RELAYER).address


class NotingSubmitter:
    """What a LiveChain asks of its submitter here: the address, the settlement count, and the balance it notes."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.settlements = 7
        self.noted: list[tuple[int, int]] = []

    def note_gas_balance(self, balance: int, settlements: int) -> None:
        self.noted.append((balance, settlements))


@pytest.fixture
async def live(devnet):
    """A LiveChain on the devnet's first chain, with every RPC request counted by method."""
    config = load_config(devnet.config_path)
    cid = devnet.deployments[0].chain_id
    rpc = ChainRpc(cid, config.chain(cid).rpc_url)
    chain = LiveChain(config.chain(cid), rpc, None, NotingSubmitter(RELAYER_ADDRESS),
                      FeePolicy(rpc, FeeConfig(max_fee_ceiling_gwei=Decimal(500))))
    chain.requests = Counter()
    request = rpc.request

    async def counted(method, params=None, **kwargs):
        key = method
        if method == "eth_call":
            key = (method, params[0]["to"].lower(), params[0].get("data", params[0].get("input", ""))[:10])
        chain.requests[key] += 1
        return await request(method, params, **kwargs)

    rpc.request = counted
    yield chain
    await rpc.close()


def on_chain(devnet, chain_id: int, token: str) -> int:
    node = devnet.node(chain_id)
    if token.lower() == NATIVE_TOKEN.lower():
        return int(node.rpc("eth_getBalance", [RELAYER_ADDRESS, "latest"]), 16)
    data = calls.encode_balance_of(RELAYER_ADDRESS)
    return calls.decode_uint(bytes.fromhex(node.rpc("eth_call", [{"to": token, "data": "0x" + data.hex()},
                                                                 "latest"])[2:]))


def mint(devnet, chain_id: int, token: str, amount: int) -> None:
    """Mint and wait until it is mined: anvil answers eth_sendTransaction before it mines."""
    data = calls.selector("mint(address,uint256)") + abi_encode(["address", "uint256"], [RELAYER_ADDRESS, amount])
    node = devnet.node(chain_id)
    tx_hash = node.rpc("eth_sendTransaction", [{"from": dev_account(DEPLOYER).address, "to": token,
                                                "data": "0x" + data.hex()}])
    deadline = time.monotonic() + 10
    while node.rpc("eth_getTransactionReceipt", [tx_hash]) is None:
        assert time.monotonic() < deadline, "the mint was not mined within 10 s"
        time.sleep(0.01)


async def test_one_multicall_per_refresh_equal_to_per_token_reads(devnet, live):
    tokens = [t.address for t in live.config.tokens.values()]
    assert live.multicall and len(tokens) == 3  # USDC, DAI and the native ETH
    await live.refresh()
    assert live.last_refresh_error is None
    # the gas balance read is handed to the submitter, stamped with its settlement count from before the read
    assert live.submitter.noted == [(live.gas_balance, 7)]
    multicalls = {k: n for k, n in live.requests.items() if k[0] == "eth_call"}
    assert multicalls == {("eth_call", live.multicall.lower(), "0x" + AGGREGATE3.hex()): 1}, live.requests
    assert live.requests["eth_getBalance"] == 0  # the gas balance came from the same multicall
    expected = {t.lower(): on_chain(devnet, live.chain_id, t) for t in tokens}
    assert live.token_balances == expected and all(v > 0 for v in expected.values())
    assert live.gas_balance == expected[NATIVE_TOKEN.lower()]
    assert live.fees is not None  # fees still read as before
    # the per-token reads agree
    for t in tokens:
        assert await live.balance_of(t) == expected[t.lower()]

    # a balance moves on chain: the next refresh (one more multicall) sees it
    usdc = live.config.tokens["USDC"].address
    await asyncio.to_thread(mint, devnet, live.chain_id, usdc, 12_345)
    live.requests.clear()
    await live.refresh()
    assert sum(n for k, n in live.requests.items() if k[0] == "eth_call") == 1
    assert live.token_balances[usdc.lower()] == expected[usdc.lower()] + 12_345


async def test_without_a_multicall_address_each_balance_is_one_call(devnet, live):
    live.multicall = None
    await live.refresh()
    assert live.last_refresh_error is None
    erc20s = [t.address for t in live.config.tokens.values() if t.address.lower() != NATIVE_TOKEN.lower()]
    calls_made = {k: n for k, n in live.requests.items() if k[0] == "eth_call"}
    assert calls_made == {("eth_call", t.lower(), "0x" + calls.BALANCE_OF.hex()): 1 for t in erc20s}
    assert live.requests["eth_getBalance"] == 2  # the gas balance and the native token's balance_of
    for t in live.config.tokens.values():
        assert live.token_balances[t.address.lower()] == on_chain(devnet, live.chain_id, t.address)


async def test_forget_balance_during_the_multicall_keeps_its_older_value_out(devnet, live):
    usdc = live.config.tokens["USDC"].address.lower()
    dai = live.config.tokens["DAI"].address.lower()
    native = NATIVE_TOKEN.lower()
    in_flight, release = asyncio.Event(), asyncio.Event()
    call = live.rpc.call

    async def slow_call(to, data, block="latest", **kwargs):
        result = await call(to, data, block, **kwargs)  # the balances are read now...
        if to == live.multicall:
            in_flight.set()
            await release.wait()  # ...and stored only after the test's forget_balance
        return result

    live.rpc.call = slow_call
    release.set()
    await live.refresh()
    before = dict(live.token_balances)
    in_flight.clear()
    release.clear()

    refresh = asyncio.create_task(live.refresh())
    await asyncio.wait_for(in_flight.wait(), 10)
    live.forget_balance(usdc)  # e.g. a relay of USDC just mined: the value being read may predate it
    live.forget_balance(native)
    release.set()
    await refresh
    assert usdc not in live.token_balances and native not in live.token_balances
    assert live.token_balances[dai] == before[dai]  # not forgotten: stored as read
    assert live.gas_balance == before[native]  # the gas balance itself is not a cached token balance

    # a forget_balance BEFORE a read starts does not stop that (newer) read from being stored
    release.set()
    await live.refresh()
    assert live.token_balances[usdc] == before[usdc] and live.token_balances[native] == before[native]

    # and the per-token read keeps the same guard
    in_flight.clear()
    release.clear()

    async def slow_token_call(to, data, block="latest", **kwargs):
        result = await call(to, data, block, **kwargs)
        in_flight.set()
        await release.wait()
        return result

    live.rpc.call = slow_token_call
    read = asyncio.create_task(live.balance_of(usdc))
    await asyncio.wait_for(in_flight.wait(), 10)
    live.forget_balance(usdc)
    release.set()
    assert await read == before[usdc]  # the caller gets what it read...
    assert usdc not in live.token_balances  # ...but it is not cached


async def test_one_unreadable_token_does_not_hide_the_others(devnet, live):
    usdc = live.config.tokens["USDC"].address
    not_a_token = dev_account(DEPLOYER).address  # an account: balanceOf answers nothing
    gas, failures = await live._read_balances_multicall([usdc, not_a_token, NATIVE_TOKEN])
    assert gas == on_chain(devnet, live.chain_id, NATIVE_TOKEN)
    assert live.token_balances[usdc.lower()] == on_chain(devnet, live.chain_id, usdc)
    assert not_a_token.lower() not in live.token_balances
    assert len(failures) == 1 and isinstance(failures[0], MulticallFailed) and not_a_token in str(failures[0])


async def test_a_wrong_multicall_address_is_a_refresh_error_not_a_crash(devnet, live):
    live.multicall = dev_account(DEPLOYER).address  # no contract there
    await live.refresh()
    assert live.last_refresh_error == (f"chain {live.chain_id}: multicall_address {live.multicall}: "
                                       "not a multicall answer (the answer is too short)")
    assert live.token_balances == {} and live.fees is not None
    assert GET_ETH_BALANCE == calls.selector("getEthBalance(address)")


async def test_a_mined_outflow_rereads_the_balance_at_once_and_funds_about_to_leave_do_not(devnet, live):
    usdc, dai = (live.config.tokens[s].address.lower() for s in ("USDC", "DAI"))
    await live.refresh()
    live.token_balances[usdc] = live.token_balances[dai] = 1  # stale values the forget must not keep
    live.forget_balance(usdc, reread=True)  # a relay of USDC mined: read again without waiting for a head
    live.forget_balance(dai)  # a burn only sent: nothing is read until the next refresh
    for _ in range(200):
        if usdc in live.token_balances:
            break
        await asyncio.sleep(0.01)
    assert live.token_balances[usdc] == on_chain(devnet, live.chain_id, live.config.tokens["USDC"].address)
    assert dai not in live.token_balances
