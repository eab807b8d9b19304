"""The capital-in-flight ledger: where our funds are between leaving and coming back, by stage, each with
the age of its oldest entry against the time that stage is expected to take."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from engine.api import CapitalStageView, OrderView, RebalanceView
from engine.relayer.statuses import OrderStatus

# The stages an order's money passes through, with where the money is counted: committed funds are ours on the
# destination until the relay is mined; from then on the order's origin amount is owed to us on its origin.
ORDER_STAGES: Mapping[OrderStatus, str] = {
    OrderStatus.CommittedPending: "committed", OrderStatus.CommittedConfirmed: "committed",
    OrderStatus.RelayStarted: "committed",
    OrderStatus.RelayCompleted: "relayed, not proved", OrderStatus.ProvePosting: "relayed, not proved",
    OrderStatus.ProvePosted: "proved, in dispute period",
    OrderStatus.ClaimPending: "claiming",
}
REBALANCING = "rebalancing"
STAGES = ("committed", "relayed, not proved", "proved, in dispute period", "claiming", REBALANCING)
# How long a stage may hold funds before the operator should look (seconds); the dispute stage adds the
# chain's dispute period.
EXPECTED_SECONDS = {"committed": 300, "relayed, not proved": 300, "proved, in dispute period": 600,
                    "claiming": 300, REBALANCING: 1800}


def capital_in_flight(orders: Iterable[OrderView], rebalances: Iterable[RebalanceView], *, now: datetime,
                      dispute_period: Callable[[int], int], symbols: Callable[[int, str], tuple[str, int]]
                      ) -> tuple[CapitalStageView, ...]:
    """One row per (stage, chain, token) holding funds. `dispute_period(chain_id)` in seconds;
    `symbols(chain_id, token)` -> (symbol, decimals)."""
    rows: dict[tuple[str, int, str], list] = {}  # -> [amount, count, oldest datetime]

    def add(stage: str, chain_id: int, token: str, amount: int, since: datetime) -> None:
        row = rows.setdefault((stage, chain_id, token.lower()), [0, 0, since])
        row[0] += amount
        row[1] += 1
        row[2] = min(row[2], since)

    for o in orders:
        stage = ORDER_STAGES.get(o.status)
        if stage == "committed":
            add(stage, o.dest_chain_id, o.dest_token, o.dest_amount, o.updated_at)
        elif stage is not None:
            add(stage, o.origin_chain_id, o.origin_token, o.origin_amount, o.updated_at)
    for r in rebalances:
        if r.state in ("initiated", "pending"):
            add(REBALANCING, r.dest_chain_id, r.dest_token, r.amount, r.created_at)
    out = []
    for (stage, chain_id, token), (amount, count, oldest) in sorted(rows.items(), key=lambda kv: (
            STAGES.index(kv[0][0]), kv[0][1], kv[0][2])):
        expected = EXPECTED_SECONDS[stage] + (dispute_period(chain_id) if stage == "proved, in dispute period" else 0)
        age = max(0, int((now - oldest).total_seconds()))
        symbol, decimals = symbols(chain_id, token)
        out.append(CapitalStageView(stage, chain_id, token, symbol, decimals, amount, count, age, expected,
                                    age > expected))
    return tuple(out)
