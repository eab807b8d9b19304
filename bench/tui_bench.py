"""Console benchmark: the issue's scenario — one snapshot refresh with 50,000 orders in history and 500
changing per second — and the app's idle CPU.

Targets (issue 4): < 50 ms per refresh with 50,000 orders in history and 500 changing per second (the app
pulls 4 snapshots a second, so 125 changes per refresh), and < 5 % of one core while idle. As in the engine,
the snapshot holds the live orders (active and recently finished, --live) and the whole history is in the
"database" (`list_orders`, paged in by the table on demand). Baselines measured in the same run: an unchanged
snapshot (the fixed cost of a refresh), an app with no orders (idle), and the previous design — every one of
the 50,000 orders as a row of a plain DataTable, updated by keyed diffs. Printed as a table; nothing asserted.

    .venv/bin/python bench/tui_bench.py                # 50,000 orders, 20 refreshes per case, 10 s idle
    .venv/bin/python bench/tui_bench.py --orders 5000 --idle-seconds 5

Runs Textual headless (Pilot): terminal output is not written, so the figures are the app's own work
(diff, table updates, layout and compositing), not the terminal's drawing.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
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
from rich.text import Text  # noqa: E402
from mmtui.app import MmtuiApp  # noqa: E402
from textual.app import App  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

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
        # The history stands for the database: in mmtui it is rows in SQLite, not 50,000 objects in the UI's
        # heap. Frozen out of the cyclic GC, it does not add the collector's full passes (~80 ms each, every
        # few refreshes) to the refreshes measured.
        gc.collect()
        gc.freeze()

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

    async def list_orders(self, *, statuses=(), offset: int = 0, limit: int = 200, **_kwargs):
        rows = self.history if not statuses else tuple(o for o in self.history if o.status in statuses)
        return rows[offset: offset + limit]


async def timed_refreshes(app, pilot, client: BenchClient, changes: int, count: int) -> list[float]:
    """CPU time of `count` refreshes on the UI thread: the diff inside batch_update, then the repaint
    (Pilot's pause also waits for timers; process time counts only the work)."""
    times = []
    for _ in range(count):
        if changes:
            client.change(changes)
        snap = await client.snapshot()
        start = time.process_time()
        app.snapshot = snap
        app.render_snapshot()
        await pilot.pause()
        times.append(time.process_time() - start)
    return times


async def refresh_case(client: BenchClient, changes: int, count: int, *, app=None,
                       scroll_to: int | None = None) -> dict[str, float]:
    app = app or MmtuiApp(client, refresh_seconds=3600)  # the bench drives every refresh itself
    async with app.run_test(size=(160, 50)) as pilot:
        start = time.process_time()
        app.snapshot = await client.snapshot()
        app.render_snapshot()
        await pilot.pause()
        first = time.process_time() - start
        if scroll_to is not None:  # the operator paged deep into the history: its pages are loaded
            table = app.main.query_one("#orders")
            table.focus()
            while table.total <= scroll_to:
                before = table.total
                table.select(table.total - 1)
                await pilot.pause()
                await app.workers.wait_for_complete()
                if table.total == before:
                    break
            table.select(scroll_to)
            await pilot.pause()
        await timed_refreshes(app, pilot, client, 0, 2)  # warm
        empty = await timed_refreshes(app, pilot, client, 0, count)
        changed = await timed_refreshes(app, pilot, client, changes, count)
    return {"first": first, "empty": statistics.median(empty), "empty_p95": _p95(empty),
            "changed": statistics.median(changed), "changed_p95": _p95(changed)}


class AllRowsApp(App):
    """The previous design, as the baseline: every order a row of one DataTable, keyed diffs on refresh."""

    def __init__(self, client: BenchClient) -> None:
        super().__init__()
        self.client = client
        self.snapshot: EngineSnapshot | None = None
        self.shown: dict[str, OrderView] = {}

    def compose(self):
        yield DataTable(cursor_type="row")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Order", "Route", "Amount", "Status", "Age")

    def render_snapshot(self) -> None:
        table = self.query_one(DataTable)
        with self.batch_update():
            for o in self.client.history if not self.shown else self.snapshot.orders:
                old = self.shown.get(o.transaction_id)
                if old is None:
                    table.add_row(Text(o.transaction_id[:10]), Text(f"{o.origin_chain_id} -> {o.dest_chain_id}"),
                                  Text(str(o.dest_amount)), Text(o.status.name), Text("1s"), key=o.transaction_id)
                elif old is not o:
                    table.update_cell(o.transaction_id, table.ordered_columns[3].key, Text(o.status.name))
                self.shown[o.transaction_id] = o


async def idle_cpu(client: BenchClient, seconds: float, refresh_seconds: float) -> float:
    """Share of one core used by the app pulling an unchanged engine state 1/refresh_seconds times a second."""
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
    parser.add_argument("--orders", type=int, default=50_000, help="orders in history (the database)")
    parser.add_argument("--changes-per-second", type=int, default=500)
    parser.add_argument("--refresh-seconds", type=float, default=0.25)
    parser.add_argument("--live", type=int, default=1_500,
                        help="orders in the engine's snapshot (active + recently finished; the engine keeps up to "
                             "1,000 finished ones); the rest of the history is paged in on demand")
    parser.add_argument("--deep", type=int, default=10_000, help="history row the operator pages down to")
    parser.add_argument("--count", type=int, default=20, help="refreshes timed per case")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    per_refresh = max(1, round(args.changes_per_second * args.refresh_seconds))
    n, live = args.orders, args.live

    top = await refresh_case(BenchClient(n, live=live), per_refresh, args.count)
    deep = await refresh_case(BenchClient(n, live=live), per_refresh, args.count, scroll_to=args.deep)
    old_client = BenchClient(n, live=live)
    old = await refresh_case(old_client, per_refresh, args.count, app=AllRowsApp(old_client))
    idle_empty = await idle_cpu(BenchClient(0, live=0), args.idle_seconds, args.refresh_seconds)
    idle = await idle_cpu(BenchClient(n, live=live), args.idle_seconds, args.refresh_seconds)

    ms = 1000
    rows = [
        (f"baseline: unchanged snapshot, {n:,} in history", top["empty"] * ms, top["empty_p95"] * ms, "ms"),
        (f"refresh, {n:,} in history, {per_refresh} changed", top["changed"] * ms, top["changed_p95"] * ms,
         "ms  (target < 50)"),
        (f"  ... cursor {args.deep:,} rows deep in history", deep["changed"] * ms, deep["changed_p95"] * ms,
         "ms  (target < 50)"),
        (f"first load, {live:,} live of {n:,}", top["first"] * ms, top["first"] * ms, "ms"),
        (f"baseline: previous design, {n:,} table rows", old["changed"] * ms, old["changed_p95"] * ms, "ms"),
        ("baseline: previous design, first load", old["first"] * ms, old["first"] * ms, "ms"),
        ("baseline: idle CPU, no orders", idle_empty * 100, idle_empty * 100, "% of a core"),
        (f"idle CPU, {live:,} live of {n:,}", idle * 100, idle * 100, "% of a core (target < 5)"),
    ]
    print(f"\nmmtui console bench: {n:,} orders in history, {live:,} in the live snapshot, refresh every "
          f"{args.refresh_seconds} s, {args.changes_per_second} order changes/s, {args.count} refreshes per case, "
          f"idle {args.idle_seconds:.0f} s\n")
    print(f"{'case':<52} {'median':>10} {'p95':>10}  unit")
    print("-" * 96)
    for name, median, p95, unit in rows:
        print(f"{name:<52} {median:>10.1f} {p95:>10.1f}  {unit}")


if __name__ == "__main__":
    asyncio.run(main())
