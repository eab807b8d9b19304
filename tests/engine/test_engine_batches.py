"""Proves and claims batched into one multicallNoResults transaction, on a real 2-chain devnet."""
from __future__ import annotations

import asyncio

from enginekit import (
    describe_order,
    engine_config,
    make_engine,
    mine,
    running,
    status_of,
    wait_for,
)
from sqlalchemy import func, select
from test_engine_lifecycle import (
    DEST,
    HAPPY_PATH,
    ORIGIN,
    RELAYER_ADDRESS,
    origin_status,
    path_of,
    place,
)

from engine.api import Arm, Disarm
from engine.devnet.accounts import COMPETITOR, dev_account
from engine.protocol import calls
from engine.relayer.decisions import Gate
from engine.relayer.orders import Step, move_order
from engine.relayer.statuses import OrderStatus
from engine.store import BatchMember, OutboundTx


def tx_input(devnet, chain_id: int, tx_hash: str) -> bytes:
    tx = devnet.node(chain_id).rpc("eth_getTransactionByHash", [tx_hash])
    return bytes.fromhex(tx["input"][2:])


async def test_the_proves_and_claims_of_orders_ready_together_share_one_transaction(devnet, traffic, db, tmp_path):
    # a long window: only a full batch (3 orders) sends, so each batch must hold all three
    engine = make_engine(engine_config(devnet, tmp_path, batch_window_seconds=60, batch_max_orders=3), db=db)
    async with running(engine):
        assert (await engine.execute(Arm(actor="test"))).ok
        orders = [await place(traffic, "USDC", amount) for amount in ("100", "120", "140")]
        txids = [o.transaction_id for o in orders]
        for txid in txids:
            await wait_for(lambda txid=txid: status_of(engine, txid) == OrderStatus.ClaimCompleted, 90,
                           "ClaimCompleted", tick=lambda: mine(devnet, 3), describe=describe_order(engine, txid))
        details = [await engine.order_detail(txid) for txid in txids]
    for txid, detail in zip(txids, details):
        assert await path_of(engine, txid) == HAPPY_PATH
        assert origin_status(devnet, txid) == 3  # RELAYER_CLAIMED
        posting = next(t for t in detail.transitions if t.to_status == OrderStatus.ProvePosting)
        assert any(g.name == "batch" and "3 orders" in g.text for g in posting.reasons)
        # the order's history lists the batch transactions it was served by, with its own relay
        assert sorted((t.purpose, t.batch_of) for t in detail.transactions) == [("claim", 3), ("prove", 3), ("relay", 1)]
    assert len({d.order.relay_tx_hash for d in details}) == 3
    prove_hashes, claim_hashes = {d.order.prove_tx_hash for d in details}, {d.order.claim_tx_hash for d in details}
    assert len(prove_hashes) == 1 and len(claim_hashes) == 1
    # on chain: one multicallNoResults of the three proves, one of the three claims, sent by us
    prove_input = tx_input(devnet, ORIGIN, prove_hashes.pop())
    claim_input = tx_input(devnet, ORIGIN, claim_hashes.pop())
    for data, inner in ((prove_input, calls.PROVE), (claim_input, calls.CLAIM)):
        assert data[:4] == calls.MULTICALL_NO_RESULTS
        assert data.count(inner) == 3
    async with db.read() as s:
        purposes = dict((await s.execute(select(OutboundTx.purpose, func.count()).where(
            OutboundTx.chain_id == ORIGIN, OutboundTx.signer == RELAYER_ADDRESS.lower())
            .group_by(OutboundTx.purpose))).all())
        members = (await s.scalars(select(BatchMember.transaction_id))).all()
    assert purposes.get("prove") == 1 and purposes.get("claim") == 1
    assert sorted(members) == sorted(txids * 2)


async def test_a_batch_that_would_revert_goes_out_one_order_per_transaction(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, batch_window_seconds=8, batch_max_orders=20))
    async with running(engine):
        assert (await engine.execute(Arm(actor="test"))).ok
        ours, taken = [await place(traffic, "USDC", amount) for amount in ("100", "110")]
        for order in (ours, taken):
            await wait_for(lambda o=order: status_of(engine, o.transaction_id) == OrderStatus.RelayCompleted, 30,
                           "RelayCompleted", tick=lambda: mine(devnet), describe=describe_order(engine, order.transaction_id))
        # a competitor proves one of them while both wait for their batch: the batch would revert (StatusIncorrect)
        data = calls.encode_prove(taken.request, "0x" + "11" * 32)
        await asyncio.to_thread(devnet.node(ORIGIN).rpc, "eth_sendTransaction", [{
            "from": dev_account(COMPETITOR).address, "to": devnet.deployment(ORIGIN).bridge,
            "data": "0x" + data.hex()}])
        await wait_for(lambda: status_of(engine, ours.transaction_id) == OrderStatus.ProvePosted, 40,
                       "ProvePosted", tick=lambda: mine(devnet), describe=describe_order(engine, ours.transaction_id))
        detail = await engine.order_detail(ours.transaction_id)
        taken_detail = await engine.order_detail(taken.transaction_id)
    # ours was proved on its own, with a plain prove
    assert tx_input(devnet, ORIGIN, detail.order.prove_tx_hash)[:4] == calls.PROVE
    posting = next(t for t in detail.transitions if t.to_status == OrderStatus.ProvePosting)
    assert not any(g.name == "batch" for g in posting.reasons)
    # the taken one was never sent: its own prove would revert, and it waits (retried, never given up)
    assert taken_detail.order.status == OrderStatus.RelayCompleted
    assert "prove would revert" in taken_detail.order.last_reason
    assert not any(t.purpose == "prove" for t in taken_detail.transactions)
    assert origin_status(devnet, ours.transaction_id) == 2  # RELAYER_PROVED, by us


async def test_an_order_that_moved_while_its_batch_waited_leaves_the_batch(devnet, traffic, db, tmp_path):
    # the window is long: the test sends the batch itself, once one of its orders has moved
    engine = make_engine(engine_config(devnet, tmp_path, batch_window_seconds=600, batch_max_orders=20), db=db)
    async with running(engine):
        assert (await engine.execute(Arm(actor="test"))).ok
        orders = [await place(traffic, "USDC", amount) for amount in ("100", "110", "120")]
        for order in orders:
            await wait_for(lambda o=order: engine.relayer.in_batch(o.transaction_id), 30, "in the prove batch",
                           tick=lambda: mine(devnet), describe=describe_order(engine, order.transaction_id))
        assert (await engine.execute(Disarm(actor="test"))).ok  # the moved order is not relayed again
        moved = orders[-1].transaction_id
        gate = Gate("relay_receipt", False, "vanished", "mined", "rolled back by the test, as a reorg does")

        def roll_back(s):
            return move_order(s, moved, OrderStatus.RelayCompleted, [Step(OrderStatus.CommittedConfirmed, [gate])],
                              chain_id=DEST, chain_time=0, rollback=True)

        entries = engine.relayer._batches.pop((ORIGIN, "prove"))
        assert sorted(entries) == sorted(o.transaction_id for o in orders)
        assert await db.run_write(roll_back) is not None
        await engine.relayer._send_batch(engine.chains[ORIGIN], "prove", entries)
        kept = [o.transaction_id for o in orders[:-1]]
        details = {txid: await engine.order_detail(txid) for txid in [*kept, moved]}
    assert all(details[txid].order.status in (OrderStatus.ProvePosting, OrderStatus.ProvePosted) for txid in kept)
    prove_hashes = {details[txid].order.prove_tx_hash for txid in kept}
    assert len(prove_hashes) == 1
    data = tx_input(devnet, ORIGIN, prove_hashes.pop())
    assert data[:4] == calls.MULTICALL_NO_RESULTS and data.count(calls.PROVE) == 2
    assert [(t.purpose, t.batch_of) for t in details[kept[0]].transactions if t.purpose == "prove"] == [("prove", 2)]
    assert details[moved].order.status == OrderStatus.CommittedConfirmed
    assert not any(t.purpose == "prove" for t in details[moved].transactions)
