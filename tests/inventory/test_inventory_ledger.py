"""The capital-in-flight ledger: funds by stage, chain and token, with the oldest entry's age against the
stage's expected time."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.api import OrderView, RebalanceView
from engine.inventory.ledger import EXPECTED_SECONDS, capital_in_flight
from engine.relayer.statuses import OrderStatus

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USDC_A, USDC_B = "0x" + "a" * 40, "0x" + "b" * 40


def order(status: OrderStatus, origin_amount: int, dest_amount: int, age: int, txid: str = "0x01") -> OrderView:
    at = NOW - timedelta(seconds=age)
    return OrderView(txid, 1, 2, USDC_A, USDC_B, "USDC", "USDC", 6, 6, origin_amount, dest_amount, 0, status, None,
                     at, at, "0xs", "0xr")


def ledger(orders, rebalances=(), dispute=600):
    return capital_in_flight(orders, rebalances, now=NOW, dispute_period=lambda chain: dispute,
                             symbols=lambda chain, token: ("USDC", 6))


def test_each_stage_counts_where_the_money_is_with_its_oldest_age():
    rows = ledger([order(OrderStatus.CommittedPending, 100, 99, 10), order(OrderStatus.RelayStarted, 50, 49, 30),
                   order(OrderStatus.RelayCompleted, 70, 69, 5), order(OrderStatus.ProvePosted, 20, 19, 700),
                   order(OrderStatus.ClaimCompleted, 1, 1, 1), order(OrderStatus.Seen, 1, 1, 1)])
    by_stage = {r.stage: r for r in rows}
    assert list(by_stage) == ["committed", "relayed, not proved", "proved, in dispute period"]
    committed = by_stage["committed"]  # the destination's funds, destAmount
    assert (committed.chain_id, committed.token, committed.amount, committed.entries) == (2, USDC_B, 148, 2)
    assert committed.oldest_age_seconds == 30 and not committed.overstayed
    owed = by_stage["relayed, not proved"]  # owed on the origin, originAmount
    assert (owed.chain_id, owed.token, owed.amount) == (1, USDC_A, 70)
    dispute = by_stage["proved, in dispute period"]
    assert dispute.expected_seconds == EXPECTED_SECONDS["proved, in dispute period"] + 600
    assert not dispute.overstayed


def test_a_stage_older_than_expected_is_overstayed_and_rebalances_count_on_their_destination():
    late = EXPECTED_SECONDS["committed"] + 1
    rebalance = RebalanceView(3, "USDC", 1, 2, 5_000, 6, "pending", "", NOW - timedelta(seconds=60), USDC_B)
    proposed = RebalanceView(4, "USDC", 1, 2, 7_000, 6, "proposed", "", NOW, USDC_B)
    rows = ledger([order(OrderStatus.CommittedConfirmed, 10, 9, late)], [rebalance, proposed])
    committed, rebalancing = rows
    assert committed.overstayed and committed.oldest_age_seconds == late
    assert (rebalancing.stage, rebalancing.chain_id, rebalancing.amount, rebalancing.entries) == \
        ("rebalancing", 2, 5_000, 1)
    assert not rebalancing.overstayed
