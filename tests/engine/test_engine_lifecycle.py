"""The relay engine end to end on a real 2-chain devnet: every order outcome the issue names, checked in
the engine's view, in its stored decision trace and on chain."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from eth_abi import encode as abi_encode
from sqlalchemy import select

from engine.api import Arm, Disarm, RelayOrder
from engine.devnet.accounts import DEPLOYER, RELAYER, dev_account
from engine.protocol import calls
from engine.relayer.statuses import OrderStatus
from engine.store import OperatorJournal, OutboundTx
from enginekit import describe_order, engine_config, make_engine, mine, running, status_of, wait_for

ORIGIN, DEST = 31337, 31338
RELAYER_ADDRESS = dev_account(RELAYER).address
HAPPY_PATH = [OrderStatus.Seen, OrderStatus.CommittedPending, OrderStatus.CommittedConfirmed,
              OrderStatus.RelayStarted, OrderStatus.RelayCompleted, OrderStatus.ProvePosting,
              OrderStatus.ProvePosted, OrderStatus.ClaimPending, OrderStatus.ClaimCompleted]


def units(amount: str, symbol: str) -> int:
    return int(Decimal(amount) * 10 ** (6 if symbol == "USDC" else 18))


def order_amounts(symbol: str, amount: str) -> tuple[int, int]:
    origin = units(amount, symbol)
    fee = units("3", "USDC") if symbol == "USDC" else units("0.002", "ETH")
    return origin, origin * 999 // 1000 - fee


async def place(traffic, symbol: str = "USDC", amount: str | None = None, **kwargs):
    amount = amount or ("0.5" if symbol == "ETH" else "100")
    origin_amount, dest_amount = order_amounts(symbol, amount)
    dest_amount = kwargs.pop("dest_amount", dest_amount)
    return await asyncio.to_thread(traffic.place_order, kwargs.pop("origin", ORIGIN), kwargs.pop("dest", DEST),
                                   symbol, origin_amount, dest_amount, **kwargs)


def eth_call(devnet, chain_id: int, to: str, data: bytes) -> bytes:
    # Plain JSON-RPC over urllib: web3's sync session cache can deadlock against the traffic threads.
    return bytes.fromhex(devnet.node(chain_id).rpc("eth_call", [{"to": to, "data": "0x" + data.hex()},
                                                                "latest"])[2:])


def bridge_view(devnet, chain_id: int, data: bytes) -> bytes:
    return eth_call(devnet, chain_id, devnet.deployment(chain_id).bridge, data)


def relayed_by(devnet, txid: str) -> str | None:
    return calls.decode_relay_details(bridge_view(devnet, DEST, calls.encode_bridge_relay_details(txid))).relayer


def origin_status(devnet, txid: str) -> int:
    return calls.decode_uint(bridge_view(devnet, ORIGIN, calls.encode_bridge_statuses(txid)))


def token_balance(devnet, chain_id: int, symbol: str, owner: str) -> int:
    if symbol == "ETH":
        return int(devnet.node(chain_id).rpc("eth_getBalance", [owner, "latest"]), 16)
    token = devnet.deployment(chain_id).tokens[symbol]
    return calls.decode_uint(eth_call(devnet, chain_id, token, calls.encode_balance_of(owner)))


def mint(devnet, chain_id: int, symbol: str, to: str, amount: int) -> None:
    data = calls.selector("mint(address,uint256)") + abi_encode(["address", "uint256"], [to, amount])
    devnet.node(chain_id).rpc("eth_sendTransaction", [{"from": dev_account(DEPLOYER).address, "to":
                                                       devnet.deployment(chain_id).tokens[symbol],
                                                       "data": "0x" + data.hex()}])


async def path_of(engine, txid: str) -> list[OrderStatus]:
    detail = await engine.order_detail(txid)
    assert detail is not None
    path = [t.to_status for t in detail.transitions]
    return [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]


def reason_of(engine, txid: str) -> str:
    view = next(o for o in engine.snapshot().orders if o.transaction_id == txid)
    return view.last_reason or ""


@pytest.mark.parametrize("symbol", ["USDC", "ETH"])
async def test_an_order_is_relayed_proved_and_claimed(devnet, traffic, db, tmp_path, symbol):
    engine = make_engine(engine_config(devnet, tmp_path), db=db)
    async with running(engine):
        armed = await engine.execute(Arm(actor="test"))
        assert armed.ok, armed.message
        order = await place(traffic, symbol)
        recipient_before = token_balance(devnet, DEST, symbol, order_recipient(order))
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.ClaimCompleted, 60,
                       "ClaimCompleted", tick=lambda: mine(devnet, 3),
                       describe=describe_order(engine, order.transaction_id))
        assert await path_of(engine, order.transaction_id) == HAPPY_PATH
        # the order may finish from our claim's log before the submitter's tick has settled the claim's receipt
        mined: list[str] = []

        async def settled():
            detail = await engine.order_detail(order.transaction_id)
            mined[:] = sorted(t.purpose for t in detail.transactions if t.state == "mined")
            return detail if mined == ["claim", "prove", "relay"] else None

        detail = await wait_for(settled, 30, "our three transactions recorded mined", tick=lambda: mine(devnet),
                                describe=lambda: f"mined: {mined}")
    # on chain: the user got destAmount, we relayed it, and our claim settled the origin
    assert relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS
    assert token_balance(devnet, DEST, symbol, order_recipient(order)) - recipient_before == order.dest_amount
    assert origin_status(devnet, order.transaction_id) == 3  # RELAYER_CLAIMED
    assert detail.order.relay_tx_hash and detail.order.prove_tx_hash and detail.order.claim_tx_hash
    committed = next(t for t in detail.transitions if t.to_status == OrderStatus.CommittedPending)
    assert any(g.name == "inventory" and g.passed and "committable" in g.text for g in committed.reasons)
    async with db.read() as s:
        journal = (await s.scalars(select(OperatorJournal))).all()
    assert [(j.command, j.actor, j.ok) for j in journal] == [("arm", "test", True)]


def order_recipient(order) -> str:
    from engine.protocol.codec import decode_request
    return decode_request(order.request).dest_recipient


async def test_disarmed_it_only_records_would_relay_and_the_operator_can_relay_one_order(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        order = await place(traffic, "USDC")
        await wait_for(lambda: "DISARMED: would relay" in reason_of(engine, order.transaction_id)
                       if status_of(engine, order.transaction_id) else False, 30, "a dry run",
                       tick=lambda: mine(devnet))
        assert status_of(engine, order.transaction_id) == OrderStatus.CommittedConfirmed
        async with engine.db.read() as s:
            assert (await s.scalars(select(OutboundTx).where(OutboundTx.purpose == "relay"))).all() == []
        assert relayed_by(devnet, order.transaction_id) is None
        refused = await engine.execute(RelayOrder(transaction_id="0x1234"))
        assert not refused.ok and "not a transactionId" in refused.message
        result = await engine.execute(RelayOrder(transaction_id=order.transaction_id))
        assert result.ok, result.message
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 20, "the relay")
        assert not engine.armed
        async with engine.db.read() as s:
            journal = (await s.scalars(select(OperatorJournal).order_by(OperatorJournal.id))).all()
        assert [(j.command, j.ok) for j in journal] == [("relay_order", False), ("relay_order", True)]
        assert journal[1].args == {"transaction_id": order.transaction_id}


async def test_an_unprofitable_order_stays_seen_with_the_numbers(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        await engine.execute(Arm())
        amount = units("100", "USDC")
        order = await place(traffic, "USDC", dest_amount=amount)  # nothing left for our fee
        await wait_for(lambda: "not profitable" in reason_of(engine, order.transaction_id)
                       if status_of(engine, order.transaction_id) else False, 30, "refusal to commit")
        for _ in range(3):
            await asyncio.to_thread(mine, devnet)
            await asyncio.sleep(0.3)
        assert status_of(engine, order.transaction_id) == OrderStatus.Seen
        assert "100 USDC vs dest 100 USDC + fee" in reason_of(engine, order.transaction_id)
    assert relayed_by(devnet, order.transaction_id) is None


async def test_a_deadline_inside_the_buffer_is_not_relayed_and_frees_its_commitment(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))  # disarmed: the order waits committed
    async with running(engine):
        order = await place(traffic, "USDC", deadline_in=65)
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.CommittedConfirmed, 30,
                       "a commitment", tick=lambda: mine(devnet))
        usdc = next(i for i in engine.snapshot().inventory if i.chain_id == DEST and i.symbol == "USDC")
        assert usdc.committed == order.dest_amount
        await asyncio.to_thread(mine, devnet, 40)  # 25 s left < the 30 s buffer
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.DeadlineExceeded, 30,
                       "DeadlineExceeded", tick=lambda: mine(devnet))
        assert "< buffer 30 s" in reason_of(engine, order.transaction_id)
        await engine.execute(Arm())
        await asyncio.to_thread(mine, devnet)
        await asyncio.sleep(0.5)
        usdc = next(i for i in engine.snapshot().inventory if i.chain_id == DEST and i.symbol == "USDC")
        assert usdc.committed == 0
    assert relayed_by(devnet, order.transaction_id) is None


async def test_another_relayers_exclusivity_is_respected_then_the_order_is_ours(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        await engine.execute(Arm())
        order = await place(traffic, "USDC", exclusive_to=traffic.competitor, exclusivity_seconds=30)
        await wait_for(lambda: "exclusive to" in reason_of(engine, order.transaction_id)
                       if status_of(engine, order.transaction_id) else False, 30, "exclusivity wait",
                       tick=lambda: mine(devnet))
        assert status_of(engine, order.transaction_id) == OrderStatus.Seen  # waits uncommitted
        assert relayed_by(devnet, order.transaction_id) is None
        await asyncio.to_thread(mine, devnet, 31)
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 30,
                       "our relay after exclusivity", tick=lambda: mine(devnet))


async def test_a_competitor_relaying_first_means_race_lost(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))  # disarmed, so the competitor wins
    async with running(engine):
        order = await place(traffic, "USDC")
        await wait_for(lambda: status_of(engine, order.transaction_id) is not None, 20, "the order")
        await asyncio.to_thread(traffic.competitor_relay, DEST, order.request)
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.RelayRaceLost, 30,
                       "RelayRaceLost", tick=lambda: mine(devnet))
        assert "race lost" in reason_of(engine, order.transaction_id)
        usdc = next(i for i in engine.snapshot().inventory if i.chain_id == DEST and i.symbol == "USDC")
        assert usdc.committed == 0


async def test_not_enough_inventory_waits_until_funds_arrive(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        await engine.execute(Arm())
        held = token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS)
        amount = Decimal(held + units("5000", "USDC")) / 10**6
        order = await place(traffic, "USDC", amount=str(amount))
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.NotEnoughInventory, 30,
                       "NotEnoughInventory", tick=lambda: mine(devnet))
        assert "< destAmount" in reason_of(engine, order.transaction_id)
        await asyncio.to_thread(mint, devnet, DEST, "USDC", RELAYER_ADDRESS, units("10000", "USDC"))
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 30,
                       "the relay once funded", tick=lambda: mine(devnet))


async def test_a_reorg_of_the_origin_block_before_confirmations_means_no_relay(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=3))
    async with running(engine):
        await engine.execute(Arm())
        order = await place(traffic, "USDC")
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.CommittedPending, 30,
                       "CommittedPending")
        # The block holding the bridge transaction is replaced by an empty one.
        devnet.node(ORIGIN).rpc("anvil_reorg", [1, []])
        for _ in range(5):
            await asyncio.to_thread(mine, devnet)
            await asyncio.sleep(0.3)
        await wait_for(lambda: "reorged away" in reason_of(engine, order.transaction_id), 30, "the rollback",
                       tick=lambda: mine(devnet))
        assert status_of(engine, order.transaction_id) == OrderStatus.Seen
        assert origin_status(devnet, order.transaction_id) == 0
        usdc = next(i for i in engine.snapshot().inventory if i.chain_id == DEST and i.symbol == "USDC")
        assert usdc.committed == 0
    assert relayed_by(devnet, order.transaction_id) is None


async def test_disarm_stops_new_relays(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        assert (await engine.execute(Arm())).ok
        assert (await engine.execute(Disarm())).ok
        order = await place(traffic, "ETH", amount="0.2")
        await wait_for(lambda: "DISARMED" in reason_of(engine, order.transaction_id)
                       if status_of(engine, order.transaction_id) else False, 30, "dry run",
                       tick=lambda: mine(devnet))
        assert engine.snapshot().armed is False
    assert relayed_by(devnet, order.transaction_id) is None
