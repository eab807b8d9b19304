"""A fake EngineClient with fixed data and a frozen clock, for snapshot and key tests."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from engine.api import (
    ArmingCheck,
    BreakerView,
    CapitalStageView,
    ChainView,
    Command,
    CommandResult,
    EngineSnapshot,
    EventView,
    InventoryView,
    OrderDetail,
    OrderView,
    QuoteView,
    RebalanceView,
    TransactionView,
    TransitionView,
)
from engine.relayer.statuses import OrderStatus

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
CHAIN_TIME = 1_800_000_000
USDC = {31337: "0x5FbDB2315678afecb367f032d93F642f64180aa3", 31338: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        31339: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"}
NATIVE = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
RELAYER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
USER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def frozen_clock() -> datetime:
    return NOW


def _txid(i: int) -> str:
    return "0x" + f"{i:02x}" * 32


# (status, origin, dest, symbol, amount units, reason) — every status family is here
ORDER_SPECS = [
    (OrderStatus.Seen, 31337, 31338, "USDC", 250, "waiting for 1 more confirmation"),
    (OrderStatus.NotEnoughInventory, 31338, 31339, "USDC", 90_000, "needs 89,910 USDC, spendable 12,500"),
    (OrderStatus.CommittedPending, 31337, 31339, "ETH", 2, None),
    (OrderStatus.CommittedConfirmed, 31339, 31337, "USDC", 1_000, "DISARMED: would relay"),
    (OrderStatus.RelayStarted, 31337, 31338, "USDC", 500, None),
    (OrderStatus.RelayCompleted, 31338, 31337, "ETH", 1, None),
    (OrderStatus.ProvePosted, 31339, 31338, "USDC", 75, "dispute period: 8 s left"),
    (OrderStatus.ClaimPending, 31337, 31339, "USDC", 3_000, None),
    (OrderStatus.ClaimCompleted, 31338, 31339, "USDC", 42, None),
    (OrderStatus.WillNotProcess, 31337, 31338, "[/x]", 10, "token [/x] not on route (markup must not parse)"),
    (OrderStatus.DeadlineExceeded, 31339, 31337, "USDC", 5, "deadline passed before confirmations"),
    (OrderStatus.RelayRaceLost, 31338, 31337, "ETH", 3, "relayed by 0x90F79bf6EB2c4f870365E785982E1f101E93b906"),
]


def make_orders() -> tuple[OrderView, ...]:
    out = []
    for i, (status, origin, dest, symbol, amount, reason) in enumerate(ORDER_SPECS, start=1):
        decimals = 18 if symbol == "ETH" else 6
        token = NATIVE if symbol == "ETH" else USDC[origin]
        created = NOW - timedelta(seconds=30 * i + 7)
        out.append(OrderView(
            transaction_id=_txid(i), origin_chain_id=origin, dest_chain_id=dest,
            origin_token=token, dest_token=NATIVE if symbol == "ETH" else USDC[dest],
            origin_symbol=symbol, dest_symbol=symbol, origin_decimals=decimals, dest_decimals=decimals,
            origin_amount=amount * 10**decimals, dest_amount=amount * 10**decimals * 999 // 1000,
            deadline=CHAIN_TIME + 3600 - 300 * i, status=status, last_reason=reason,
            created_at=created, updated_at=created + timedelta(seconds=5),
            origin_sender=USER, dest_recipient=USER))
    return tuple(out)


def make_chains(rpc_down: int | None = None) -> tuple[ChainView, ...]:
    chains = []
    for n, chain_id in enumerate((31337, 31338, 31339)):
        history = tuple((1000 + b, int((1.0 + 0.3 * n + 0.05 * ((b * 7 + n) % 11)) * 1e9)) for b in range(40))
        down = chain_id == rpc_down
        chains.append(ChainView(
            chain_id=chain_id, native_symbol="ETH", head_number=1039 if not down else 1020,
            head_time=CHAIN_TIME if not down else CHAIN_TIME - 120,
            head_seen_at=NOW - timedelta(seconds=1) if not down else NOW - timedelta(seconds=121),
            cursor=1039 if not down else 1018, lag_blocks=0 if not down else 19, rpc_ok=not down,
            last_error="RpcError: connection refused (http://127.0.0.1:8547)" if down else None,
            gas_balance=(10**18 if chain_id != 31339 else 2 * 10**15), min_gas_token=10**16,
            base_fee_wei=history[-1][1], priority_fee_wei=10**9, pending_transactions=1 if chain_id == 31337 else 0,
            base_fee_history=history))
    return tuple(chains)


def make_inventory() -> tuple[InventoryView, ...]:
    inv = []
    for chain_id, usdc, eth in ((31337, 120_000, 50), (31338, 12_500, 30), (31339, 67_500, 20)):
        inv.append(InventoryView(chain_id, USDC[chain_id], "USDC", 6, usdc * 10**6, 1_000 * 10**6, 500 * 10**6))
        inv.append(InventoryView(chain_id, NATIVE, "ETH", 18, eth * 10**18, 0, 10**18))
    return tuple(inv)


BREAKERS = (
    BreakerView("max-loss-24h", "loss", "global", "tripped", "1,250 USDC", "1,000 USDC", NOW - timedelta(minutes=3)),
    BreakerView("chain-31339-reorgs", "reorg", "chain 31339", "ok", "0", "3", None),
)
REBALANCES = (
    RebalanceView(7, "USDC", 31337, 31338, 50_000 * 10**6, 6, "proposed", "31338 below target 30%",
                  NOW - timedelta(minutes=1)),
    RebalanceView(6, "USDC", 31339, 31337, 10_000 * 10**6, 6, "done", "31337 below target",
                  NOW - timedelta(hours=2)),
)
# One route of each kind: bounded by quote_pct, by max_relay_amount, a native token (18 decimals), and one
# halted by the tripped breaker (quoted at zero).
QUOTES = (
    QuoteView(31337, "USDC", 31338, "USDC", 6, 6, 58_437_750_000, 58_408_531_125, 1_523_000,
              "quote_pct 50% of committable 116875.5 USDC"),
    QuoteView(31338, "USDC", 31339, "USDC", 6, 6, 0, 0, 0, "halted by breaker max-loss-24h: 1,250 USDC > 1,000 USDC"),
    QuoteView(31339, "USDC", 31337, "USDC", 6, 6, 50_000 * 10**6, 49_975 * 10**6, 1_250_000,
              "max_relay_amount 50000 USDC"),
    QuoteView(31337, "ETH", 31339, "ETH", 18, 18, 9_890_000_000_000_000_000, 9_885_055_000_000_000_000,
              1_200_000_000_000_000, "quote_pct 50% of committable 19.8 ETH minus min_gas_token 0.01 ETH"),
)
# Committed funds within their time, a dispute stage overstaying, a rebalance under way.
CAPITAL = (
    CapitalStageView("committed", 31338, USDC[31338].lower(), "USDC", 6, 2_366_900_300, 3, 252, 300, False),
    CapitalStageView("proved, in dispute period", 31339, USDC[31339].lower(), "USDC", 6, 75 * 10**6, 1, 1500, 610,
                     True),
    CapitalStageView("rebalancing", 31338, USDC[31338].lower(), "USDC", 6, 50_000 * 10**6, 1, 60, 1800, False),
)
EVENTS = (
    EventView(NOW - timedelta(seconds=5), "warning", "chain 31339: gas balance below min_gas_token"),
    EventView(NOW - timedelta(seconds=20), "info", "operator: freeze -> withdrawals FROZEN"),
    EventView(NOW - timedelta(seconds=60), "error", "breaker max-loss-24h tripped: 1,250 USDC > 1,000 USDC"),
    EventView(NOW - timedelta(seconds=90), "info", "engine started"),
)


class FakeEngineClient:
    def __init__(self, *, orders: tuple[OrderView, ...] | None = None, armed: bool = False, frozen: bool = True,
                 rpc_down: int | None = None, breakers=BREAKERS, rebalances=REBALANCES, quotes=QUOTES,
                 capital=CAPITAL, arming_ok: bool = True) -> None:
        self.state = EngineSnapshot(
            version=1, taken_at=NOW, config_name="devnet", relayer=RELAYER,
            database="sqlite /var/lib/mmtui/mmtui.db", armed=armed, frozen=frozen,
            started_at=NOW - timedelta(minutes=10), heartbeat_at=NOW - timedelta(milliseconds=400),
            chains=make_chains(rpc_down), inventory=make_inventory(),
            orders=make_orders() if orders is None else orders,
            order_counts={}, events=EVENTS, breakers=breakers, rebalances=rebalances, quotes=quotes,
            capital=capital)
        self.state = replace(self.state, order_counts=_counts(self.state.orders))
        self.executed: list[Command] = []
        self.fail: dict[str, str] = {}  # command name -> refusal message
        self.raise_on: set[str] = set()
        self.arming_ok = arming_ok
        self.older: tuple[OrderView, ...] = ()
        self.list_calls: list[int] = []
        self.list_statuses: list[tuple[OrderStatus, ...]] = []

    async def snapshot(self) -> EngineSnapshot:
        return self.state

    async def execute(self, command: Command) -> CommandResult:
        self.executed.append(command)
        if command.name in self.raise_on:
            raise ConnectionError("engine thread gone")
        if command.name in self.fail:
            return CommandResult(False, self.fail[command.name], len(self.executed))
        return CommandResult(True, f"{command.name} done", len(self.executed))

    async def order_detail(self, transaction_id: str) -> OrderDetail | None:
        order = next((o for o in self.state.orders if o.transaction_id == transaction_id), None)
        if order is None:
            return None
        transitions = (TransitionView(None, OrderStatus.Seen, order.origin_chain_id, CHAIN_TIME - 60,
                                      order.created_at, ()),)
        if order.status != OrderStatus.Seen:
            transitions += (TransitionView(OrderStatus.Seen, order.status, order.dest_chain_id, CHAIN_TIME - 30,
                                           order.updated_at, ()),)
        txs = (TransactionView(order.dest_chain_id, 4, 1, "relay", "0x" + "ab" * 32, "mined", 1030, None,
                               order.updated_at),) if order.status >= OrderStatus.RelayStarted else ()
        return OrderDetail(order, transitions, txs)

    async def arming_checks(self) -> tuple[ArmingCheck, ...]:
        return (ArmingCheck("database", True, "sqlite reachable (0.3 ms)"),
                ArmingCheck("chain 31337 rpc", True, "head #1039, seen 1 s ago"),
                ArmingCheck("chain 31339 gas", self.arming_ok, "gas balance 2000000000000000 wei vs min_gas_token 10000000000000000 wei"))

    async def list_orders(self, *, statuses=(), text: str = "", offset: int = 0, limit: int = 200):
        self.list_calls.append(offset)
        self.list_statuses.append(tuple(statuses))
        rows = self.older if not statuses else tuple(o for o in self.older if o.status in statuses)
        return rows[offset: offset + limit]


def _counts(orders) -> dict[OrderStatus, int]:
    out: dict[OrderStatus, int] = {}
    for o in orders:
        out[o.status] = out.get(o.status, 0) + 1
    return out
