"""Console benchmark: the cost of one snapshot refresh with a large order history, and idle CPU.

Targets (DESIGN/issue): < 50 ms per refresh with 50,000 orders in history and 500 changing per second (the
app pulls 4 snapshots a second, so 125 changes per refresh), and < 5 % of one core while idle. The engine's
snapshot holds the active orders and the most recent finished ones (--live); the rest of the history stays
in the database and is paged in on demand. A "worst" case puts all 50,000 rows in the table. Printed as a table with
baselines measured in the same run (an empty refresh: an unchanged snapshot); nothing is asserted.

    .venv/bin/python bench/tui_bench.py                # 50,000 orders, 20 refreshes per case, 10 s idle
    .venv/bin/python bench/tui_bench.py --orders 5000 --idle-seconds 5

Runs Textual headless (Pilot): terminal output is not written, so the figures are the app's own work
(diff, table updates, layout and compositing), not the terminal's drawing.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.api import (  # noqa: E402
    ArmingCheck,
    ChainView,
    CommandResult,
    EngineSnapshot,
    EventView,
    InventoryView,
    OrderView,
)
from engine.relayer.statuses import OrderStatus  # noqa: E402
from mmtui.app import MmtuiApp  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CHAIN_TIME = 1_800_000_000
CHAINS = (31337, 31338, 31339)
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
LIVE = [s for s in OrderStatus if not s.is_terminal]


class BenchClient:
    """Snapshots of `orders` orders; `change(n)` moves n of them to another status (a new snapshot)."""

    def __init__(self, orders: int, seed: int = 1, live: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.version = 0
        self.orders: dict[str, OrderView] = {}
        for i in range(orders):
            origin, dest = self.rng.sample(CHAINS, 2)
            created = NOW - timedelta(seconds=i)
            view = OrderView(
                transaction_id="0x" + f"{i:064x}", origin_chain_id=origin, dest_chain_id=dest,
                origin_token=TOKEN, dest_token=TOKEN, origin_symbol="USDC", dest_symbol="USDC",
                origin_decimals=6, dest_decimals=6, origin_amount=self.rng.randrange(10**6, 10**11),
                dest_amount=self.rng.randrange(10**6, 10**11), deadline=CHAIN_TIME + self.rng.randrange(-600, 3600),
                status=self.rng.choice(list(OrderStatus)), last_reason=None, created_at=created,
                updated_at=created, origin_sender=USER, dest_recipient=USER)
            self.orders[view.transaction_id] = view
        self.keys = list(self.orders)[:live] if live is not None else list(self.orders)
        self.history = tuple(self.orders.values())
        self._snapshot = self._take()

    def _take(self) -> EngineSnapshot:
        self.version += 1
        chains = tuple(ChainView(c, "ETH", 1000 + self.version, CHAIN_TIME + self.version, NOW, 1000, 0, True, None,
                                 10**18, 10**16, 10**9, 10**8,
                                 base_fee_history=tuple((b, 10**9 + b * 1000) for b in range(64)))
                       for c in CHAINS)
        inventory = tuple(InventoryView(c, TOKEN, "USDC", 6, 10**12, 10**9, 10**8) for c in CHAINS)
        return EngineSnapshot(
            version=self.version, taken_at=NOW, config_name="bench", relayer=USER, database="sqlite bench",
            armed=True, frozen=True, started_at=NOW, heartbeat_at=NOW, chains=chains, inventory=inventory,
            orders=tuple(self.orders[k] for k in self.keys), events=(EventView(NOW, "info", "bench"),))

    def change(self, n: int) -> None:
        for key in self.rng.sample(self.keys, n):
            old = self.orders[key]
            self.orders[key] = replace(old, status=self.rng.choice(LIVE), last_reason=f"bench {self.version}",
                                       updated_at=old.updated_at + timedelta(seconds=1))
        self._snapshot = self._take()

    async def snapshot(self) -> EngineSnapshot:
        return self._snapshot

    async def execute(self, command):
        return CommandResult(True, "ok")

    async def order_detail(self, transaction_id):
        return None

    async def arming_checks(self):
        return (ArmingCheck("bench", True, "ok"),)

    async def list_orders(self, *, offset: int = 0, limit: int = 200, **_kwargs):
        return self.history[offset: offset + limit]


async def timed_refreshes(app: MmtuiApp, pilot, client: BenchClient, changes: int, count: int) -> list[float]:
    """CPU time of `count` refreshes on the UI thread: the keyed diff inside batch_update, then the repaint
    (Pilot's pause also waits for timers; process time counts only the work)."""
    times = []
    for _ in range(count):
        if changes:
            client.change(changes)
        snap = await client.snapshot()
        start = time.process_time()
        app.snapshot = snap
        app._render()
        await pilot.pause()
        times.append(time.process_time() - start)
    return times


async def refresh_case(orders: int, changes: int, count: int, live: int | None = None) -> dict[str, float]:
    client = BenchClient(orders, live=live)
    app = MmtuiApp(client, refresh_seconds=3600)  # the bench drives every refresh itself
    async with app.run_test(size=(160, 50)) as pilot:
        start = time.process_time()
        app.snapshot = await client.snapshot()
        app._render()
        await pilot.pause()
        first = time.process_time() - start
        await timed_refreshes(app, pilot, client, 0, 2)  # warm
        empty = await timed_refreshes(app, pilot, client, 0, count)
        changed = await timed_refreshes(app, pilot, client, changes, count)
    return {"first": first, "empty": statistics.median(empty), "empty_p95": _p95(empty),
            "changed": statistics.median(changed), "changed_p95": _p95(changed)}


async def idle_cpu(orders: int, seconds: float, refresh_seconds: float, live: int | None = None) -> float:
    """Share of one core used by the app pulling an unchanged engine state 1/refresh_seconds times a second."""
    client = BenchClient(orders, live=live)
    app = MmtuiApp(client, refresh_seconds=refresh_seconds)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(1.0)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / (wall1 - wall0)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--changes-per-second", type=int, default=500)
    parser.add_argument("--refresh-seconds", type=float, default=0.25)
    parser.add_argument("--live", type=int, default=1_500,
                        help="orders in the engine's live view (active + recent finished; the engine keeps up to "
                             "1,000 finished); the rest of the history is paged in on demand")
    parser.add_argument("--count", type=int, default=20, help="refreshes timed per case")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    per_refresh = max(1, round(args.changes_per_second * args.refresh_seconds))

    small = await refresh_case(500, per_refresh, args.count)
    real = await refresh_case(args.orders, per_refresh, args.count, live=args.live)
    big = await refresh_case(args.orders, per_refresh, args.count)
    idle_empty = await idle_cpu(0, args.idle_seconds, args.refresh_seconds)
    idle_real = await idle_cpu(args.orders, args.idle_seconds, args.refresh_seconds, live=args.live)
    idle_big = await idle_cpu(args.orders, args.idle_seconds, args.refresh_seconds)

    ms = 1000
    rows = [
        ("baseline: empty refresh, 500 orders", small["empty"] * ms, small["empty_p95"] * ms, "ms"),
        (f"refresh, 500 orders, {per_refresh} changed", small["changed"] * ms, small["changed_p95"] * ms, "ms"),
        (f"refresh, {args.live:,} live of {args.orders:,}, {per_refresh} changed", real["changed"] * ms,
         real["changed_p95"] * ms, "ms  (target < 50)"),
        (f"first load, {args.live:,} live rows (once)", real["first"] * ms, real["first"] * ms, "ms"),
        (f"baseline: empty refresh, {args.orders:,} rows", big["empty"] * ms, big["empty_p95"] * ms, "ms"),
        (f"worst: {args.orders:,} rows in the table, {per_refresh} changed", big["changed"] * ms,
         big["changed_p95"] * ms, "ms"),
        (f"worst: first load, {args.orders:,} rows (once)", big["first"] * ms, big["first"] * ms, "ms"),
        ("baseline: idle CPU, no orders", idle_empty * 100, idle_empty * 100, "% of a core"),
        (f"idle CPU, {args.live:,} live of {args.orders:,}", idle_real * 100, idle_real * 100,
         "% of a core (target < 5)"),
        (f"worst: idle CPU, {args.orders:,} rows", idle_big * 100, idle_big * 100, "% of a core"),
    ]
    print(f"\nmmtui console bench: refresh every {args.refresh_seconds} s, {args.changes_per_second} order "
          f"changes/s, {args.count} refreshes per case, idle {args.idle_seconds:.0f} s\n")
    print(f"{'case':<52} {'median':>10} {'p95':>10}  unit")
    print("-" * 90)
    for name, median, p95, unit in rows:
        print(f"{name:<52} {median:>10.1f} {p95:>10.1f}  {unit}")


if __name__ == "__main__":
    asyncio.run(main())
