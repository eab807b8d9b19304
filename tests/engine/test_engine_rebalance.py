"""Rebalancing on a real devnet: relays drain one chain's USDC, the canonical algorithm proposes a
rebalance, the operator rejects it (a new proposal follows) and approves the next through the same
command path the `r` key uses, the devnet's CCTP messenger burns and mints, and the balances move on
chain by exactly the amount; no second proposal appears while one is in flight."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from engine.api import ApproveRebalance, Arm, Disarm, RejectRebalance
from engine.relayer.statuses import OrderStatus
from engine.store import OperatorJournal
from enginekit import describe_order, engine_config, make_engine, mine, running, status_of, wait_for
from test_engine_lifecycle import DEST, ORIGIN, RELAYER_ADDRESS, place, token_balance

USDC = 10**6


def usdc_rebalances(engine, state: str | None = None):
    return [r for r in engine.snapshot().rebalances if r.symbol == "USDC" and (state is None or r.state == state)]


async def test_a_drained_chain_gets_a_proposal_the_operator_approves_and_cctp_restores_it(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, rebalance_interval="1s"))
    tick = lambda: mine(devnet)  # noqa: E731 - automine chains only move on transactions
    async with running(engine):
        origin_usdc = token_balance(devnet, ORIGIN, "USDC", RELAYER_ADDRESS)
        dest_usdc = token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS)
        # one large order leaves the destination below its 20 % maintenance share of the USDC total
        drain = (dest_usdc - origin_usdc // 4) // USDC + 5_000
        assert 0 < drain * USDC < dest_usdc
        assert (await engine.execute(Arm(actor="test"))).ok
        order = await place(traffic, "USDC", str(drain))
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.ClaimCompleted, 60,
                       "the draining order claimed", tick=lambda: mine(devnet, 5),
                       describe=describe_order(engine, order.transaction_id))
        await engine.execute(Disarm(actor="test"))

        first = (await wait_for(lambda: usdc_rebalances(engine, "proposed"), 20, "a USDC proposal", tick=tick))[0]
        assert (first.origin_chain_id, first.dest_chain_id) == (ORIGIN, DEST)
        assert first.amount > 0 and "maintenance" in first.reason, first.reason
        await asyncio.sleep(2.5)  # two more proposal runs: still one proposal for the token
        assert [r.id for r in usdc_rebalances(engine) if r.state == "proposed"] == [first.id]

        rejected = await engine.execute(RejectRebalance(actor="test", rebalance_id=first.id))
        assert rejected.ok, rejected.message
        second = (await wait_for(lambda: usdc_rebalances(engine, "proposed"), 20, "a new proposal", tick=tick))[0]
        assert second.id != first.id
        origin_before = token_balance(devnet, ORIGIN, "USDC", RELAYER_ADDRESS)
        dest_before = token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS)
        # REFERENCE §4 with the devnet's 50/50 initial split: bring the destination back to half the total
        assert second.amount == (origin_before - dest_before) // 2
        approved = await engine.execute(ApproveRebalance(actor="test", rebalance_id=second.id))
        assert approved.ok, approved.message
        assert (await engine.execute(ApproveRebalance(actor="test", rebalance_id=second.id))).ok is False
        await wait_for(lambda: [r for r in usdc_rebalances(engine) if r.id == second.id and r.state in
                                ("pending", "done")], 30, "the burn", tick=tick)
        # in flight: counted as pending in on the destination, and no new proposal for USDC
        await asyncio.sleep(1.5)
        assert not usdc_rebalances(engine, "proposed")
        done = await wait_for(lambda: [r for r in usdc_rebalances(engine) if r.id == second.id and r.state == "done"],
                              60, "the mint", tick=tick)
        assert done

        assert token_balance(devnet, ORIGIN, "USDC", RELAYER_ADDRESS) == origin_before - second.amount
        assert token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS) == dest_before + second.amount

    async with engine.db.read() as s:
        journal = (await s.scalars(select(OperatorJournal).where(OperatorJournal.command.in_(
            ["approve_rebalance", "reject_rebalance"])).order_by(OperatorJournal.id))).all()
    assert [(j.command, j.ok, j.args["rebalance_id"]) for j in journal] == [
        ("reject_rebalance", True, first.id), ("approve_rebalance", True, second.id),
        ("approve_rebalance", False, second.id)]
