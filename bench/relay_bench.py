"""Relay benchmark on the devnet: the engine against a minimal baseline relayer, in one run.

    .venv/bin/python bench/relay_bench.py            # 1,000 orders per phase, rate + burst (~6 min)
    .venv/bin/python bench/relay_bench.py --quick    # 100 orders per phase (~1 min)
    .venv/bin/python bench/relay_bench.py --mode rss --rss-orders 10000   # engine RSS through 10k orders (~35 min)

See bench/README.md for what is measured and how. In short:

* One 2-chain automine devnet (anvil). Orders are native ETH, one direction (chain A -> chain B),
  placed by dev users 4-9 (unlocked, eth_sendTransaction) from a separate process.
* Every relayer runs in its own process, one at a time, each phase on fresh orders:
  baseline (WebSocket newHeads + eth_getLogs, then sign and send `relay` with in-memory nonces, a
  fixed gas limit and fees read once: no database, no checks) and the real Engine (fresh SQLite
  database, `confirmations: 0`, armed with Arm(override=True)).
* One neutral observer (a thread of this process) holds a newHeads WebSocket subscription to both
  chains and stamps the arrival time of every block. Latency of an order = arrival of the dest block
  holding its relay - arrival of the origin block holding its BridgeRequested. On automine chains a
  transaction is mined as soon as the node accepts it, so "relay accepted by the dest node" ==
  "relay block announced". The same clock and the same method serve both relayers.
"""
from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from eth_abi import encode as abi_encode  # noqa: E402
from eth_utils import keccak  # noqa: E402

from engine.protocol.codec import NATIVE_TOKEN  # noqa: E402
from engine.protocol.events import BRIDGE_RELAYED, BRIDGE_REQUESTED  # noqa: E402

USER_INDEXES = range(4, 10)  # anvil dev accounts 4..9 (engine/devnet/accounts.py)
BASELINE_INDEX = 10  # derived from the public dev mnemonic; not one of anvil's 10 funded accounts
FUNDING_WEI = 10**25  # 10,000,000 ETH via anvil_setBalance: no relayer ever runs short
ORDER_ETH = (0.01, 0.1)  # origin amount range, ETH
FEE_MARGIN_USD = 3  # the same sizing as engine/devnet/traffic.py: dest = origin * 0.999 - $3
ETH_USD = 2600
ORDER_GAS = 200_000  # bridge() uses ~65-82k gas
RELAY_GAS = 200_000  # the baseline's fixed gas limit (relay of native ETH uses ~60-70k)
BURST_GAS_LIMIT = 2**40  # origin block gas limit, so a whole burst fits in one block
BRIDGE_SELECTOR = keccak(text="bridge((uint32,address,address,address,address,uint256,uint256,bool,uint256))")[:4]
RELAYER_INDEX = 1  # engine.devnet.accounts.RELAYER


def _hex32(address: str) -> str:
    return "0x" + "00" * 12 + address.lower().removeprefix("0x")


def _die_with_parent() -> None:
    """A child process dies with this process (even after a kill -9), like the devnet's anvils."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def read_rss(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM (peak) of a process, in MB (MiB)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    # user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _own_cpu() -> float:
    """CPU seconds of this process plus its reaped children (the users processes)."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def _process_cpu(pid: int) -> float:
    """user + system CPU seconds of a process (children not included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(values: list[float]) -> float | None:
    return percentile(values, 0.5)


# ==================================================================================================
# Users: place orders (child process)
# ==================================================================================================


class _Http:
    """Keep-alive JSON-RPC over http.client (one per thread)."""

    def __init__(self, url: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self._make = lambda: http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.conn = self._make()

    def call(self, method: str, params: list) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        for attempt in range(2):
            try:
                self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
                reply = json.loads(self.conn.getresponse().read())
                break
            except (OSError, ValueError):
                self.conn.close()
                self.conn = self._make()
                if attempt:
                    raise
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]


def _order_calldata(dest_chain_id: int, user: str, origin_amount: int, deadline: int) -> tuple[str, int]:
    fee = FEE_MARGIN_USD * 10**18 // ETH_USD
    dest_amount = max(origin_amount * 999 // 1000 - fee, 1)
    params = (dest_chain_id, user, user, NATIVE_TOKEN, NATIVE_TOKEN, origin_amount, dest_amount, False, deadline)
    data = BRIDGE_SELECTOR + abi_encode(["(uint32,address,address,address,address,uint256,uint256,bool,uint256)"],
                                        [params])
    return "0x" + data.hex(), dest_amount


def _users_entry(spec: dict, out_path: str, ready_evt, go_evt) -> None:
    """Place spec["orders"] orders: at spec["rate"] per second (one sender, paced), or as fast as
    possible from one thread per user (burst; the parent has switched the origin's automine off)."""
    _die_with_parent()
    result: dict = {"sent": [], "errors": []}
    try:
        from engine.devnet.accounts import dev_account

        users = [dev_account(i).address for i in USER_INDEXES]
        rng = random.Random(spec["seed"])
        http = _Http(spec["origin_url"])
        nonces = {u: int(http.call("eth_getTransactionCount", [u, "pending"]), 16) for u in users}
        chain_time = int(http.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        deadline = chain_time + spec["deadline_seconds"]
        n = spec["orders"]
        plan = []
        for i in range(n):
            user = users[i % len(users)]
            amount = int(rng.uniform(*ORDER_ETH) * 10_000) * 10**14  # 4 decimals
            data, _ = _order_calldata(spec["dest_chain_id"], user, amount, deadline)
            tx = {"from": user, "to": spec["bridge"], "value": hex(amount), "data": data, "gas": hex(ORDER_GAS),
                  "nonce": hex(nonces[user])}
            nonces[user] += 1
            plan.append(tx)
        lock = threading.Lock()
        ready_evt.set()
        go_evt.wait()

        def send(client: _Http, tx: dict) -> None:
            try:
                tx_hash = client.call("eth_sendTransaction", [tx])
                t = time.monotonic()
                with lock:
                    result["sent"].append([tx_hash, t])
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    result["errors"].append(str(exc)[:300])

        result["t_start"] = time.monotonic()
        if spec["mode"] == "rate":
            interval = 1.0 / spec["rate"]
            next_at = time.monotonic()
            for tx in plan:
                send(http, tx)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        else:
            by_user: dict[str, list[dict]] = {}
            for tx in plan:
                by_user.setdefault(tx["from"], []).append(tx)

            def worker(txs: list[dict]) -> None:
                client = _Http(spec["origin_url"])
                for tx in txs:
                    send(client, tx)

            threads = [threading.Thread(target=worker, args=(txs,)) for txs in by_user.values()]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        result["t_end"] = time.monotonic()
    except Exception:  # noqa: BLE001 - reported by the parent
        result["fatal"] = traceback.format_exc()
    Path(out_path).write_text(json.dumps(result))


# ==================================================================================================
# Relayers (child processes)
# ==================================================================================================


def _relayer_entry(kind: str, spec: dict, stop_evt, ready_evt, counter, out_path: str) -> None:
    _die_with_parent()
    import logging

    logging.basicConfig(filename=spec["log_path"], level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: dict = {}
    try:
        main = _baseline_main if kind == "baseline" else _engine_main
        result = asyncio.run(main(spec, stop_evt, ready_evt, counter))
    except BaseException:  # noqa: BLE001 - the parent reports it
        result["fatal"] = traceback.format_exc()
    result["rss_self"] = read_rss(os.getpid())
    Path(out_path).write_text(json.dumps(result))


async def _wait_stop(stop_evt, task: asyncio.Task | None = None) -> None:
    while not stop_evt.is_set() and (task is None or not task.done()):
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------------- baseline


async def _baseline_main(spec: dict, stop_evt, ready_evt, counter) -> dict:
    """The minimal relayer: newHeads wake-up + eth_getLogs on the origin; for each BridgeRequested,
    sign relay(request) with value = destAmount, an in-memory nonce, a fixed gas limit and fees read
    once, and send it. No database, no checks, no receipts."""
    import aiohttp
    import websockets
    from eth_account import Account

    from engine.devnet.accounts import dev_account
    from engine.protocol.calls import encode_relay
    from engine.protocol.events import decode_event

    account = Account.from_key(dev_account(BASELINE_INDEX).private_key)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=30))
    requests = 0

    async def call(url: str, method: str, params: list) -> object:
        nonlocal requests
        requests += 1
        async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as r:
            reply = await r.json(content_type=None)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    origin, dest = spec["origin_url"], spec["dest_url"]
    dest_chain_id = spec["dest_chain_id"]
    nonce = int(await call(dest, "eth_getTransactionCount", [account.address, "pending"]), 16)
    latest = await call(dest, "eth_getBlockByNumber", ["latest", False])
    tip = int(await call(dest, "eth_maxPriorityFeePerGas", []), 16)
    max_fee = 2 * int(latest["baseFeePerGas"], 16) + tip
    cursor = spec["origin_start_block"] - 1
    head = [cursor]
    head_evt = asyncio.Event()
    subscribed = asyncio.Event()
    detected: dict[str, float] = {}
    sent: dict[str, float] = {}
    errors: list[str] = []
    sem = asyncio.Semaphore(16)
    pending: set[asyncio.Task] = set()

    async def heads() -> None:
        async with websockets.connect(spec["origin_ws"], max_size=None) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            await ws.recv()
            subscribed.set()
            async for message in ws:
                number = int(json.loads(message)["params"]["result"]["number"], 16)
                head[0] = max(head[0], number)
                head_evt.set()

    async def send(txid: str, raw: bytes) -> None:
        async with sem:
            try:
                await call(dest, "eth_sendRawTransaction", ["0x" + raw.hex()])
                sent[txid] = time.monotonic()
                with counter.get_lock():
                    counter.value += 1
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{txid[:10]}: {exc}"[:300])

    ws_task = asyncio.create_task(heads())
    await asyncio.wait_for(subscribed.wait(), 10)
    ready_evt.set()
    topic0 = "0x" + BRIDGE_REQUESTED.topic0.hex()
    while not stop_evt.is_set():
        try:
            async with asyncio.timeout(spec["poll_interval"]):
                await head_evt.wait()
        except TimeoutError:  # the poll fallback
            head[0] = max(head[0], int(await call(origin, "eth_blockNumber", []), 16))
        head_evt.clear()
        to = head[0]
        if to <= cursor:
            continue
        logs = await call(origin, "eth_getLogs", [{"address": spec["origin_bridge"], "topics": [topic0],
                                                   "fromBlock": hex(cursor + 1), "toBlock": hex(to)}])
        cursor = to
        now = time.monotonic()
        for entry in logs:
            event = decode_event([bytes.fromhex(t[2:]) for t in entry["topics"]], bytes.fromhex(entry["data"][2:]))
            if event.args["destChainId"] != dest_chain_id:
                continue
            txid = "0x" + event.args["transactionId"].hex()
            detected[txid] = now
            signed = account.sign_transaction({
                "type": 2, "chainId": dest_chain_id, "nonce": nonce, "to": spec["dest_bridge"],
                "value": event.args["destAmount"], "data": encode_relay(event.args["request"]), "gas": RELAY_GAS,
                "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip})
            nonce += 1
            task = asyncio.create_task(send(txid, bytes(signed.raw_transaction)))
            pending.add(task)
            task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=10)
    ws_task.cancel()
    await asyncio.gather(ws_task, return_exceptions=True)
    await session.close()
    return {"detected": detected, "sent": sent, "errors": errors, "rpc_requests": requests}


# ------------------------------------------------------------------------------------------ engine


async def _engine_main(spec: dict, stop_evt, ready_evt, counter) -> dict:
    """The real Engine, unmodified. Two listeners are wrapped (instance attributes, before start) to
    stamp when the watcher delivered an order's BridgeRequested and when each status was recorded."""
    from eth_account import Account

    from engine.api import Arm
    from engine.config import load_config
    from engine.core import Engine
    from engine.devnet.accounts import dev_account
    from engine.relayer.statuses import OrderStatus

    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    config = load_config(spec["config"])
    engine = Engine(config, Account.from_key(dev_account(RELAYER_INDEX).private_key),
                    poll_interval=spec["poll_interval"], workers=spec["workers"])
    delivered: dict[str, float] = {}
    statuses: dict[str, dict[int, float]] = {}

    on_logs = engine._on_logs

    def stamp_logs(chain_id, logs):
        now = time.monotonic()
        for w in logs:
            if w.request is not None:
                delivered.setdefault("0x" + w.event.args["transactionId"].hex(), now)
        return on_logs(chain_id, logs)

    engine._on_logs = stamp_logs  # read by Engine._build_chain in start()
    on_order = engine.relayer.on_order

    def stamp_order(row):
        seen = statuses.setdefault(row.transaction_id, {})
        if row.status not in seen:
            seen[row.status] = time.monotonic()
            if row.status == OrderStatus.RelayCompleted:
                with counter.get_lock():
                    counter.value += 1
        return on_order(row)

    engine.relayer.on_order = stamp_order
    instrument = _Instrument(engine) if spec.get("instrument") else None
    if profiler:
        profiler.enable()
    await engine.start()
    if instrument:
        instrument.wrap_rpcs(engine)
    trace = None
    if spec.get("trace"):
        origin_id = next(cid for cid in engine.chains if cid != spec["dest_chain_id"])
        trace = _Trace(engine, origin_id, spec["dest_chain_id"])
    armed = await engine.execute(Arm(override=True))
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    sampler = asyncio.create_task(instrument.sample(engine)) if instrument else None
    ready_evt.set()
    await _wait_stop(stop_evt, task)
    snapshot = engine.snapshot()
    if sampler is not None:
        sampler.cancel()
    requests = {c.chain_id: c.rpc.requests for c in engine.chains.values()}
    processed, step_errors = engine.relayer.processed, engine.relayer.step_errors
    stop.set()
    try:
        await asyncio.wait_for(task, 30)
    finally:
        if profiler:
            profiler.disable()
            import io
            import pstats

            for key in ("cumulative", "tottime"):
                buf = io.StringIO()
                pstats.Stats(profiler, stream=buf).sort_stats(key).print_stats(45)
                Path(spec["profile"] + f".{key}.txt").write_text(buf.getvalue())
            profiler.dump_stats(spec["profile"] + ".pstats")
    waiting: dict[str, int] = {}
    for view in snapshot.orders:
        lost = view.status.is_terminal and view.status != OrderStatus.ClaimCompleted
        if view.status < OrderStatus.RelayStarted or lost:
            key = f"{view.status.name}: {view.last_reason or ''}"[:160]
            waiting[key] = waiting.get(key, 0) + 1
    return {
        "delivered": delivered,
        "statuses": {txid: {str(int(k)): v for k, v in s.items()} for txid, s in statuses.items()},
        "armed": armed.message, "fatal_error": snapshot.fatal_error, "rpc_requests": requests,
        "processed": processed, "step_errors": step_errors, "not_relayed": waiting,
        "order_counts": {k.name: v for k, v in snapshot.order_counts.items()},
        "instrument": instrument.summary() if instrument else None,
        "trace": trace.marks if trace else None,
    }


class _Trace:
    """--trace: stamps (time.monotonic, comparable with the observer's t0) of each new order's way from its
    origin logs to its relay's broadcast, by per-instance wrappers of the origin's log reads, the relayer's
    prefetch (called at decode) and the destination submitter's reads, write and broadcast."""

    STAGES = ("logs asked", "logs answered", "decoded", "reads sent", "reads answered", "write committed",
              "broadcast sent", "broadcast answered")

    def __init__(self, engine, origin_id: int, dest_id: int) -> None:
        # the engine's own keccak: eth_utils' costs ~0.1 ms on a cold cache, inside the measured path
        from engine.protocol.codec import keccak256

        self.marks: dict[str, dict[str, float]] = {}
        origin, dest = engine.chains[origin_id], engine.chains[dest_id]
        self._by_reads: dict[int, str] = {}
        self._by_hash: dict[str, str] = {}

        def mark(txid: str | None, stage: str, at: float | None = None) -> None:
            if txid is not None:
                self.marks.setdefault(txid, {}).setdefault(stage, time.monotonic() if at is None else at)

        def wrap_logs(name: str) -> None:
            real = getattr(origin.rpc, name)

            async def traced(*args, **kwargs):
                asked = time.monotonic()
                raws = await real(*args, **kwargs)
                answered = time.monotonic()
                for raw in raws:
                    if len(raw.topics) > 1:
                        txid = "0x" + bytes(raw.topics[1]).hex()
                        mark(txid, "logs asked", asked)
                        mark(txid, "logs answered", answered)
                return raws

            setattr(origin.rpc, name, traced)

        wrap_logs("get_logs_by_block_hash")
        wrap_logs("get_logs")
        prefetch = engine.relayer.prefetch

        def traced_prefetch(logs):
            for w in logs:
                if w.request is not None:
                    mark("0x" + w.event.args["transactionId"].hex(), "decoded")
            return prefetch(logs)

        engine.relayer.prefetch = traced_prefetch
        submitter = dest.submitter
        read_for_send, store, broadcast_stored = submitter.read_for_send, submitter.store, submitter.broadcast_stored

        async def traced_reads(*args, **kwargs):
            txid = kwargs.get("transaction_id")
            mark(txid, "reads sent")
            reads = await read_for_send(*args, **kwargs)
            mark(txid, "reads answered")
            return reads

        async def traced_store(reads, **kwargs):
            row = await store(reads, **kwargs)
            mark(reads.transaction_id, "write committed")
            return row

        def traced_broadcast(row):
            self._by_hash[row.tx_hash.lower()] = row.transaction_id
            return broadcast_stored(row)

        submitter.read_for_send, submitter.store = traced_reads, traced_store
        submitter.broadcast_stored = traced_broadcast
        send_raw = dest.rpc.send_raw_transaction

        async def traced_send(raw):
            raw_bytes = bytes.fromhex(raw.removeprefix("0x")) if isinstance(raw, str) else bytes(raw)
            txid = self._by_hash.get("0x" + keccak256(raw_bytes).hex())
            mark(txid, "broadcast sent")
            try:
                return await send_raw(raw)
            finally:
                mark(txid, "broadcast answered")

        dest.rpc.send_raw_transaction = traced_send


def _engine_caller() -> str:
    """The innermost engine function (outside the store and contextlib) on the stack: who writes."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if "/engine/" in path and "/engine/store/" not in path:
            return f"{Path(path).stem}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class _Instrument:
    """--instrument: wraps (per instance, engine code untouched) Relayer.advance and Database.write/read/
    run_write/run_read (for run_*: "held" is the function's time on the database thread, commit excluded)
    to count and time them, and samples the relayer queue length and the event loop's lag."""

    def __init__(self, engine) -> None:
        from contextlib import asynccontextmanager

        self.advance = {"calls": 0, "seconds": 0.0, "results": {}}
        # count, wait s, held s (+ for run_*: back s, from the function's end to the caller resuming)
        self.db = {"write": [0, 0.0, 0.0], "read": [0, 0.0, 0.0],
                   "run_write": [0, 0.0, 0.0, 0.0], "run_read": [0, 0.0, 0.0, 0.0]}
        self.queue: list[int] = []
        self.lag: list[float] = []
        self.rpc: dict[str, int] = {}
        self.writers: dict[str, list] = {}  # engine function that opened a write -> [count, held s]
        self.readers: dict[str, list] = {}  # engine function that ran a read (run_read) -> [count, held s]
        relayer, db = engine.relayer, engine.db
        advance = relayer.advance

        async def timed_advance(txid, **kwargs):
            t = time.perf_counter()
            key = "raised"
            try:
                result = await advance(txid, **kwargs)
                key = f"{result.status.name}{'' if result.changed else ' (no change)'}"
                return result
            except asyncio.CancelledError:
                key = "cancelled at stop"
                raise
            finally:
                self.advance["calls"] += 1
                self.advance["seconds"] += time.perf_counter() - t
                self.advance["results"][key] = self.advance["results"].get(key, 0) + 1

        relayer.advance = timed_advance
        for name in ("write", "read"):
            original = getattr(db, name)
            stats = self.db[name]

            def wrap(original=original, stats=stats):
                @asynccontextmanager
                async def timed(*args, **kwargs):
                    t = time.perf_counter()
                    site = _engine_caller() if stats is self.db["write"] else None
                    async with original(*args, **kwargs) as session:
                        t_in = time.perf_counter()
                        try:
                            yield session
                        finally:
                            stats[1] += t_in - t
                    stats[0] += 1
                    stats[2] += time.perf_counter() - t_in
                    if site is not None:
                        by_site = self.writers.setdefault(site, [0, 0.0])
                        by_site[0] += 1
                        by_site[1] += time.perf_counter() - t_in

                return timed

            setattr(db, name, wrap())
        for name in ("run_write", "run_read"):
            original = getattr(db, name)
            stats = self.db[name]

            def wrap_run(original=original, stats=stats, name=name):
                async def timed(fn, **kwargs):
                    t = time.perf_counter()
                    site = _engine_caller()
                    sites = self.writers if name == "run_write" else self.readers
                    marks: list[float] = []

                    def measured(session):  # runs on the database thread
                        marks.append(time.perf_counter())
                        try:
                            return fn(session)
                        finally:
                            marks.append(time.perf_counter())

                    try:
                        return await original(measured, **kwargs)
                    finally:
                        if len(marks) == 2:
                            stats[0] += 1
                            stats[1] += marks[0] - t
                            stats[2] += marks[1] - marks[0]
                            stats[3] += time.perf_counter() - marks[1]
                            if site is not None:
                                by_site = sites.setdefault(site, [0, 0.0])
                                by_site[0] += 1
                                by_site[1] += marks[1] - marks[0]

                return timed

            setattr(db, name, wrap_run())

    def wrap_rpcs(self, engine) -> None:
        """Count JSON-RPC requests by chain and method (ChainRpc._once is every HTTP round trip)."""
        for chain in engine.chains.values():
            once = chain.rpc._once

            async def counted(method, params, timeout, once=once, cid=chain.chain_id):
                key = f"{cid} {method}"
                self.rpc[key] = self.rpc.get(key, 0) + 1
                return await once(method, params, timeout)

            chain.rpc._once = counted

    async def sample(self, engine) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lag.append(time.perf_counter() - t - 0.05)
            self.queue.append(engine.relayer.queue_length)

    def summary(self) -> dict:
        return {"advance": self.advance, "db": self.db, "rpc": self.rpc, "writers": self.writers,
                "readers": self.readers,
                "queue_max": max(self.queue, default=0),
                "queue_mean": sum(self.queue) / len(self.queue) if self.queue else 0,
                "loop_lag_p50_ms": (percentile(self.lag, .5) or 0) * 1000,
                "loop_lag_p99_ms": (percentile(self.lag, .99) or 0) * 1000}


# ==================================================================================================
# Observer: block arrival times on both chains (a thread of the parent)
# ==================================================================================================


class Observer:
    def __init__(self, ws_urls: dict[int, str]) -> None:
        self.ws_urls = ws_urls
        self.arrivals: dict[int, dict[int, float]] = {cid: {} for cid in ws_urls}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="observer", daemon=True)
        self.error: str | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError(f"observer did not subscribe to newHeads: {self.error}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        subscribed = 0

        async def watch(cid: int, url: str) -> None:
            nonlocal subscribed
            import websockets

            arrivals = self.arrivals[cid]
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                          "params": ["newHeads"]}))
                await ws.recv()
                subscribed += 1
                if subscribed == len(self.ws_urls):
                    self._ready.set()
                while True:
                    message = await ws.recv()
                    t = time.monotonic()
                    number = int(json.loads(message)["params"]["result"]["number"], 16)
                    arrivals.setdefault(number, t)

        tasks = [asyncio.create_task(watch(cid, url)) for cid, url in self.ws_urls.items()]
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and t.exception() is not None:
                self.error = repr(t.exception())
        for t in (*tasks, stopper):
            t.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)


# ==================================================================================================
# Phases (parent)
# ==================================================================================================


@dataclass
class PhaseResult:
    name: str
    kind: str  # baseline | engine
    mode: str  # rate | burst | rss
    orders: int
    placed: int = 0
    relayed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    throughput: float | None = None  # relays mined per second over [first t0, last t1]
    completed_throughput: float | None = None  # engine: RelayCompleted recorded, same window
    offered_rate: float | None = None
    wall_seconds: float = 0.0
    rss_idle: dict = field(default_factory=dict)
    rss_end: dict = field(default_factory=dict)
    rss_steps: list = field(default_factory=list)  # rss run: (orders so far, VmRSS MB)
    stages: dict = field(default_factory=dict)  # stage -> (p50, p99) ms since t0
    notes: list[str] = field(default_factory=list)
    rpc_requests: object = None
    cpu_seconds: float | None = None  # relayer process, from the first order (or burst block) to the end
    anvil_cpu_seconds: float | None = None  # both anvils, same window
    machine_busy: float | None = None  # share of all CPUs busy during the orders (0..1)
    other_cpu_seconds: float | None = None  # CPU used by processes outside this benchmark, same window
    instrument: dict | None = None
    child: dict = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.ctx = mp.get_context("spawn")
        self.net = None
        self.observer: Observer | None = None
        self.children: list = []
        self.seed = args.seed
        self.devnets = 0

    # ------------------------------------------------------------------ setup

    def start(self) -> None:
        from engine.devnet.devnet import DevnetSettings, start_devnet

        t = time.monotonic()
        self.devnets += 1
        self.net = start_devnet(DevnetSettings(self.workdir / f"devnet-{self.devnets}", chains=2, block_time=None))
        self.devnet_seconds = time.monotonic() - t
        self.origin, self.dest = self.net.nodes
        self.origin_dep, self.dest_dep = self.net.deployments
        from engine.devnet.accounts import dev_account

        self.relayer = dev_account(RELAYER_INDEX).address
        self.baseline = dev_account(BASELINE_INDEX).address
        users = [dev_account(i).address for i in USER_INDEXES]
        for node in self.net.nodes:
            for address in (self.relayer, self.baseline, *users):
                node.rpc("anvil_setBalance", [address, hex(FUNDING_WEI)])
        self.origin.rpc("evm_setBlockGasLimit", [hex(BURST_GAS_LIMIT)])
        self.observer = Observer({n.chain_id: n.ws_url for n in self.net.nodes})
        self.observer.start()

    def stop(self) -> None:
        for proc, stop_evt in self.children:
            if proc.is_alive():
                if stop_evt is not None:
                    stop_evt.set()
                proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        if self.observer is not None:
            self.observer.stop()
        if self.net is not None:
            self.net.stop()

    def restart(self) -> None:
        """A fresh devnet for the next phase. anvil's CPU per mined block grows with the chain's state (it
        recomputes the state root), so a phase on chains an earlier phase filled would be measured slower:
        the baseline's rate p50 went from 5 ms to 9 ms when it ran after the engine's phase."""
        self.stop()
        self.children, self.net, self.observer = [], None, None
        self.start()

    # ------------------------------------------------------------------ helpers

    def head(self, node) -> int:
        return int(node.rpc("eth_blockNumber", []), 16)

    def _engine_config(self, directory: Path) -> Path:
        import yaml

        data = yaml.safe_load(self.net.config_path.read_text())
        data["signer"]["path"] = str(self.net.settings.directory / data["signer"]["path"])
        data["database"] = {"type": "sqlite", "dsn": str(directory / "mmtui.db")}
        data["base_chain_config"]["confirmations"] = 0
        for chain_id, chain in data["chains"].items():
            chain["start_block"] = self.head(self.net.node(int(chain_id))) + 1
        path = directory / "config.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def _place(self, directory: Path, mode: str, orders: int, on_ready=None) -> dict:
        self.seed += 1
        spec = {"origin_url": self.origin.rpc_url, "bridge": self.origin_dep.bridge, "orders": orders,
                "dest_chain_id": self.dest.chain_id, "rate": self.args.rate, "mode": mode, "seed": self.seed,
                "deadline_seconds": 4 * 3600}
        out = directory / f"users-{time.monotonic_ns()}.json"
        ready_evt, go_evt = self.ctx.Event(), self.ctx.Event()
        proc = self.ctx.Process(target=_users_entry, args=(spec, str(out), ready_evt, go_evt), daemon=True)
        self.children.append((proc, None))
        proc.start()
        while not ready_evt.wait(0.2) and proc.is_alive():
            pass
        if on_ready is not None:
            on_ready()
        go_evt.set()
        proc.join(orders / self.args.rate + 600)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        result = json.loads(out.read_text()) if out.exists() else {"fatal": f"users exited {proc.exitcode}"}
        if result.get("fatal"):
            raise RuntimeError(f"placing orders failed:\n{result['fatal']}")
        if result["errors"]:
            raise RuntimeError(f"{len(result['errors'])} of {orders} orders failed; first: {result['errors'][0]}")
        return result

    def _burst(self, directory: Path, orders: int, before_mine=None) -> float:
        """All `orders` orders in ONE origin block: automine off, place them (pending), mine, automine on.
        Returns when the block was mined."""
        self.origin.rpc("evm_setAutomine", [False])
        try:
            self._place(directory, "burst", orders)
            pending = self.origin.rpc("txpool_status", [])
            queued = int(pending.get("queued", "0x0"), 16)
            if queued:
                raise RuntimeError(f"{queued} burst orders are queued (nonce gap) instead of pending")
            if before_mine is not None:
                before_mine()
            t = time.monotonic()
            self.origin.rpc("evm_mine", [], timeout=120)
        finally:
            self.origin.rpc("evm_setAutomine", [True])
        return t

    def _relayed_since(self, relayer: str, cursor: list[int], found: dict[str, int]) -> int:
        """Incrementally collect BridgeRelayed(relayer) logs on the dest chain: txid -> block."""
        head = self.head(self.dest)
        if head < cursor[0]:
            return len(found)
        logs = self.dest.rpc("eth_getLogs", [{
            "address": self.dest_dep.bridge, "fromBlock": hex(cursor[0]), "toBlock": hex(head),
            "topics": ["0x" + BRIDGE_RELAYED.topic0.hex(), None, _hex32(relayer)]}], timeout=60)
        for entry in logs:
            found[entry["topics"][1]] = int(entry["blockNumber"], 16)
        cursor[0] = head + 1
        return len(found)

    def _requested(self, start_block: int, end_block: int) -> dict[str, tuple[int, str]]:
        logs = self.origin.rpc("eth_getLogs", [{
            "address": self.origin_dep.bridge, "fromBlock": hex(start_block), "toBlock": hex(end_block),
            "topics": ["0x" + BRIDGE_REQUESTED.topic0.hex()]}], timeout=60)
        return {e["topics"][1]: (int(e["blockNumber"], 16), e["transactionHash"]) for e in logs}

    def _wait_relays(self, proc, expected: int, relayer: str, cursor: list[int], found: dict[str, int],
                     timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._relayed_since(relayer, cursor, found) < expected:
            if time.monotonic() > deadline:
                return
            if not proc.is_alive():
                return
            time.sleep(0.25)

    # ------------------------------------------------------------------ one phase

    def run_phase(self, kind: str, mode: str, orders: int) -> PhaseResult:
        name = f"{kind}-{mode}"
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        result = PhaseResult(name, kind, mode, orders)
        t_wall = time.monotonic()
        origin_start = self.head(self.origin) + 1
        dest_start = self.head(self.dest) + 1
        relayer = self.baseline if kind == "baseline" else self.relayer
        spec = {"log_path": str(directory / "relayer.log"), "poll_interval": self.args.poll_interval,
                "origin_url": self.origin.rpc_url, "origin_ws": self.origin.ws_url, "dest_url": self.dest.rpc_url,
                "origin_bridge": self.origin_dep.bridge, "dest_bridge": self.dest_dep.bridge,
                "dest_chain_id": self.dest.chain_id, "origin_start_block": origin_start,
                "workers": self.args.workers, "instrument": self.args.instrument,
                "trace": self.args.trace}
        if kind == "engine":
            spec["config"] = str(self._engine_config(directory))
            if self.args.profile:
                spec["profile"] = str(directory / "profile")
        stop_evt, ready_evt = self.ctx.Event(), self.ctx.Event()
        counter = self.ctx.Value("i", 0)
        out = directory / "relayer.json"
        proc = self.ctx.Process(target=_relayer_entry, args=(kind, spec, stop_evt, ready_evt, counter, str(out)),
                                daemon=True)
        self.children.append((proc, stop_evt))
        proc.start()
        deadline = time.monotonic() + 90
        while not ready_evt.wait(0.2):
            if not proc.is_alive() or time.monotonic() > deadline:
                proc.join(5)
                child = json.loads(out.read_text()) if out.exists() else {}
                raise RuntimeError(f"{name}: relayer did not start:\n{child.get('fatal', proc.exitcode)}")
        time.sleep(self.args.warmup)  # WebSocket subscriptions settle, first heads read
        result.rss_idle = read_rss(proc.pid)
        cpu0: list = []

        def cpu_snapshot() -> None:  # once: when the first order is about to be placed / mined
            if not cpu0:
                cpu0.extend([_process_cpu(proc.pid), sum(_process_cpu(n.pid) for n in self.net.nodes),
                             _machine_cpu(), _own_cpu()])

        cursor, found = [dest_start], {}
        burst_blocks: list[tuple[int, float]] = []  # (orders so far, mined at)
        try:
            if mode == "rate":
                self._place(directory, "rate", orders, on_ready=cpu_snapshot)
                self._wait_relays(proc, orders, relayer, cursor, found, self.args.phase_timeout)
            else:
                size = orders if mode == "burst" else self.args.burst_size
                done = 0
                while done < orders:
                    n = min(size, orders - done)
                    burst_blocks.append((done + n, self._burst(directory, n, before_mine=cpu_snapshot)))
                    done += n
                    self._wait_relays(proc, done, relayer, cursor, found, self.args.phase_timeout)
                    if mode == "rss":
                        result.rss_steps.append((done, read_rss(proc.pid).get("VmRSS")))
                        print(f"    rss run: {done} orders relayed={len(found)} "
                              f"VmRSS={result.rss_steps[-1][1]:.0f} MB", flush=True)
                    if len(found) < done:
                        break
            if kind == "engine":  # RelayCompleted lags the mined relay (the engine's queue)
                deadline = time.monotonic() + self.args.phase_timeout
                while counter.value < len(found) and time.monotonic() < deadline and proc.is_alive():
                    time.sleep(0.1)
            time.sleep(0.3)
            result.rss_end = read_rss(proc.pid)
            if cpu0:
                machine1 = _machine_cpu()
                result.machine_busy = (machine1[0] - cpu0[2][0]) / max(1, machine1[1] - cpu0[2][1])
                result.anvil_cpu_seconds = sum(_process_cpu(n.pid) for n in self.net.nodes) - cpu0[1]
                result.cpu_seconds = _process_cpu(proc.pid) - cpu0[0]
                machine_seconds = (machine1[0] - cpu0[2][0]) / os.sysconf("SC_CLK_TCK")
                result.other_cpu_seconds = max(0.0, machine_seconds - result.cpu_seconds - result.anvil_cpu_seconds
                                               - (_own_cpu() - cpu0[3]))
        finally:
            stop_evt.set()
            proc.join(60)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        child = json.loads(out.read_text()) if out.exists() else {"fatal": f"exit code {proc.exitcode}"}
        result.child = child
        result.instrument = child.get("instrument")
        if child.get("fatal"):
            result.notes.append("relayer process failed: " + child["fatal"].strip().splitlines()[-1])
            print(child["fatal"], file=sys.stderr)
        self._relayed_since(relayer, cursor, found)
        result.wall_seconds = time.monotonic() - t_wall
        self._analyse(result, origin_start, found, child, burst_blocks)
        return result

    # ------------------------------------------------------------------ analysis

    def _analyse(self, r: PhaseResult, origin_start: int, relayed: dict[str, int], child: dict,
                 burst_blocks: list[tuple[int, float]]) -> None:
        requested = self._requested(origin_start, self.head(self.origin))
        arr_o = self.observer.arrivals[self.origin.chain_id]
        arr_d = self.observer.arrivals[self.dest.chain_id]
        r.placed = len(requested)
        r.relayed = sum(1 for txid in requested if txid in relayed)
        t0s, t1s, missing = {}, {}, 0
        for txid, (block, _) in requested.items():
            if block in arr_o:
                t0s[txid] = arr_o[block]
            else:
                missing += 1
            if txid in relayed:
                if relayed[txid] in arr_d:
                    t1s[txid] = arr_d[relayed[txid]]
                else:
                    missing += 1
        if missing:
            r.notes.append(f"{missing} blocks without an observed newHeads arrival (left out)")
        r.latencies_ms = [(t1s[x] - t0s[x]) * 1000 for x in t1s if x in t0s]
        if t0s and t1s:
            window = max(t1s.values()) - min(t0s.values())
            r.throughput = len(t1s) / window if window > 0 else None
            if r.mode == "rate" and len(t0s) > 1:
                span = max(t0s.values()) - min(t0s.values())
                r.offered_rate = (len(t0s) - 1) / span if span > 0 else None
        if r.kind == "engine":
            statuses = child.get("statuses", {})
            done = [s["8"] for x, s in statuses.items() if "8" in s and x in t0s]
            if done and t0s:
                window = max(done) - min(t0s.values())
                r.completed_throughput = len(done) / window if window > 0 else None
            stage_names = [("watcher delivered BridgeRequested", None), ("CommittedPending recorded", "5"),
                           ("CommittedConfirmed recorded", "6"), ("relay mined (observer: t1)", "t1"),
                           ("RelayStarted recorded (its write committed)", "7"), ("RelayCompleted recorded", "8")]
            delivered = child.get("delivered", {})
            for label, key in stage_names:
                vals = []
                for txid, t0 in t0s.items():
                    if key is None:
                        t = delivered.get(txid)
                    elif key == "t1":
                        t = t1s.get(txid)
                    else:
                        t = statuses.get(txid, {}).get(key)
                    if t is not None:
                        vals.append((t - t0) * 1000)
                if vals:  # the commitment statuses are written with the relay when confirmations are met
                    r.stages[label] = (median(vals), percentile(vals, 0.99))
            for stage in _Trace.STAGES if child.get("trace") else ():
                vals = [(child["trace"][x][stage] - t0) * 1000 for x, t0 in t0s.items()
                        if stage in child["trace"].get(x, {})]
                if vals:
                    r.stages[f"trace: {stage}"] = (median(vals), percentile(vals, 0.99))
            if child.get("not_relayed"):
                r.notes.append("engine orders left before RelayStarted / not completed: "
                               + "; ".join(f"{n} x {k}" for k, n in sorted(child["not_relayed"].items(),
                                                                          key=lambda kv: -kv[1])[:4]))
            if child.get("step_errors"):
                r.notes.append(f"engine step errors: {child['step_errors']}")
            r.rpc_requests = child.get("rpc_requests")
            if len(done) < len(t1s):
                r.notes.append(f"only {len(done)} of {len(t1s)} relayed orders reached RelayCompleted before the "
                               "phase ended")
        else:
            detected, sent = child.get("detected", {}), child.get("sent", {})
            for label, source in (("baseline detected BridgeRequested", detected), ("relay send returned", sent),
                                  ("relay mined (observer: t1)", t1s)):
                vals = [(source[x] - t0) * 1000 for x, t0 in t0s.items() if x in source]
                r.stages[label] = (median(vals), percentile(vals, 0.99))
            if child.get("errors"):
                r.notes.append(f"baseline send errors: {len(child['errors'])}; first: {child['errors'][0]}")
            r.rpc_requests = child.get("rpc_requests")
        if r.relayed < r.placed:
            r.notes.append(f"only {r.relayed} of {r.placed} orders relayed")


# ==================================================================================================
# Report
# ==================================================================================================


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _ratio(base: float | None, eng: float | None) -> float | None:
    if base is None or eng is None or base == 0:
        return None
    return eng / base


def _phase_lines(p: PhaseResult) -> list[str]:
    """The per-phase details below the table: counts, CPU, instrumentation, stage timeline, notes."""
    lines = [f"{p.name}: placed {p.placed}, relayed {p.relayed}, phase wall {p.wall_seconds:.1f} s, "
             f"RSS idle {_fmt(p.rss_idle.get('VmRSS'), 0)} MB -> end {_fmt(p.rss_end.get('VmRSS'), 0)} MB "
             f"(peak {_fmt(p.rss_end.get('VmHWM'), 0)}), RPC requests {p.rpc_requests}"]
    per_order = p.cpu_seconds * 1000 / max(1, p.relayed) if p.cpu_seconds is not None else None
    busy = p.machine_busy * 100 if p.machine_busy is not None else None
    lines.append(f"    CPU: relayer {_fmt(p.cpu_seconds, 1)} s ({_fmt(per_order, 1)} ms/order), anvils "
                 f"{_fmt(p.anvil_cpu_seconds, 1)} s, machine busy {_fmt(busy, 0)}% of {os.cpu_count()} CPUs, "
                 f"processes outside the benchmark {_fmt(p.other_cpu_seconds, 1)} s")
    if p.instrument:
        i, n = p.instrument, max(1, p.placed)
        adv = i["advance"]
        lines.append(f"    instrument: advance() {adv['calls']} calls ({adv['calls'] / n:.1f}/order), mean "
                     f"{adv['seconds'] * 1000 / max(1, adv['calls']):.1f} ms; relayer queue mean "
                     f"{i['queue_mean']:.0f} max {i['queue_max']}; event-loop lag p50 "
                     f"{i['loop_lag_p50_ms']:.1f} ms p99 {i['loop_lag_p99_ms']:.1f} ms")
        for name, (count, wait, held, *back) in i["db"].items():
            if not count:
                continue
            lines.append(f"    instrument: db.{name}() {count} ({count / n:.1f}/order), mean wait "
                         f"{wait * 1000 / max(1, count):.2f} ms, mean held {held * 1000 / max(1, count):.2f} ms"
                         + (f", mean back to the caller {back[0] * 1000 / count:.2f} ms" if back else ""))
        for kind in ("writes", "readers"):
            sites = sorted(i.get("writers" if kind == "writes" else "readers", {}).items(), key=lambda kv: -kv[1][0])
            lines.append(f"    instrument: {'writes' if kind == 'writes' else 'reads'} by site (per order, mean held "
                         "ms): " + ", ".join(f"{site} {count / n:.1f} ({held * 1000 / max(1, count):.1f})"
                                             for site, (count, held) in sites))
        top = sorted(adv["results"].items(), key=lambda kv: -kv[1])[:8]
        lines.append("    instrument: advance() results: " + ", ".join(f"{k} {v}" for k, v in top))
        rpc = sorted(i.get("rpc", {}).items(), key=lambda kv: -kv[1])
        lines.append(f"    instrument: RPC by chain+method ({sum(v for _, v in rpc) / n:.1f}/order): "
                     + ", ".join(f"{k} {v}" for k, v in rpc[:12]))
    for label, (p50, p99) in p.stages.items():
        lines.append(f"    t0 -> {label:<42} p50 {_fmt(p50, 1):>9} ms   p99 {_fmt(p99, 1):>9} ms")
    for done, rss in p.rss_steps:
        lines.append(f"    after {done:>6} orders: VmRSS {_fmt(rss, 0)} MB")
    for note in p.notes:
        lines.append(f"    note: {note}")
    return lines


def report(args, bench: Bench, phases: dict[str, PhaseResult], started: float) -> tuple[str, dict]:
    lines: list[str] = []
    rows: list[tuple[str, str, str, str, str, str]] = []
    verdicts: dict[str, bool] = {}

    def row(metric, base, eng, ratio, target, verdict):
        rows.append((metric, base, eng, ratio, target, verdict))

    def compare(metric: str, b: float | None, e: float | None, digits: int, target: str | None,
                ok: Callable[[float], bool] | None) -> None:
        ratio = _ratio(b, e)
        verdict = "-"
        if ok is not None and ratio is not None:
            verdict = "PASS" if ok(ratio) else "FAIL"
            verdicts[metric] = verdict == "PASS"
        row(metric, _fmt(b, digits), _fmt(e, digits), "-" if ratio is None else f"{ratio:.2f}x", target or "-",
            verdict)

    for mode in ("rate", "burst"):
        b, e = phases.get(f"baseline-{mode}"), phases.get(f"engine-{mode}")
        if b is None or e is None:
            continue
        tag = f"[{mode}]"
        is_rate = mode == "rate"
        compare(f"{tag} p50 latency (ms)", percentile(b.latencies_ms, .5), percentile(e.latencies_ms, .5), 1,
                "<= 1.5x" if is_rate else None, (lambda x: x <= 1.5) if is_rate else None)
        compare(f"{tag} p99 latency (ms)", percentile(b.latencies_ms, .99), percentile(e.latencies_ms, .99), 1,
                None, None)
        if is_rate:
            compare(f"{tag} throughput, relay mined (orders/s)", b.throughput, e.throughput, 2, ">= 0.5x",
                    lambda x: x >= 0.5)
            compare(f"{tag} throughput to RelayCompleted (orders/s)", b.throughput, e.completed_throughput, 2,
                    ">= 0.5x", lambda x: x >= 0.5)
        else:
            compare(f"{tag} drain throughput, relay mined (orders/s)", b.throughput, e.throughput, 1, ">= 0.5x",
                    lambda x: x >= 0.5)
            compare(f"{tag} drain to RelayCompleted (orders/s)", b.throughput, e.completed_throughput, 1,
                    ">= 0.5x", lambda x: x >= 0.5)
        compare(f"{tag} RSS after {e.orders} orders (MB)", b.rss_end.get("VmRSS"), e.rss_end.get("VmRSS"), 0,
                "(info)", None)
    rss = phases.get("engine-rss")
    if rss is not None:
        value = rss.rss_end.get("VmRSS")
        ok = value is not None and value < 250 and rss.relayed == rss.orders
        verdicts["rss"] = ok
        row(f"[rss] engine RSS after {rss.relayed} orders (MB)", "-", _fmt(value, 0), "-",
            f"< 250 MB @ {rss.orders}", "PASS" if ok else "FAIL")
        row("[rss] engine RSS idle -> peak (MB)", "-",
            f"{_fmt(rss.rss_idle.get('VmRSS'), 0)} -> {_fmt(rss.rss_end.get('VmHWM'), 0)}", "-", "(info)", "-")

    lines.append("relay benchmark (bench/relay_bench.py)")
    lines.append(f"  devnet      : 2 anvil chains, AUTOMINE (each accepted tx is mined at once); "
                 f"{os.cpu_count()} CPUs shared by anvils, relayer, users and observer")
    lines.append(f"  orders      : native ETH only, ONE direction {bench.origin.chain_id} -> {bench.dest.chain_id}, "
                 f"{ORDER_ETH[0]}-{ORDER_ETH[1]} ETH, dest = origin*0.999 - ${FEE_MARGIN_USD}, deadline +4 h; "
                 "users = dev accounts 4-9 (eth_sendTransaction, own process)")
    if "baseline-rate" in phases:
        achieved = {k: _fmt(phases[f"{k}-rate"].offered_rate, 1) if f"{k}-rate" in phases else "-"
                    for k in ("baseline", "engine")}
        lines.append(f"  rate phases : {phases['baseline-rate'].orders} orders each at an offered {args.rate:g}/s "
                     f"(achieved: baseline {achieved['baseline']}/s, engine {achieved['engine']}/s)")
    if "baseline-burst" in phases:
        lines.append(f"  burst phases: {phases['baseline-burst'].orders} orders each, all in ONE origin block "
                     "(automine paused while placing); drain = relays / (last relay - burst block)")
    if rss is not None:
        lines.append(f"  rss phase   : engine alone, {rss.orders} orders in bursts of {args.burst_size}, "
                     "each burst drained before the next")
    lines.append("  engine      : real Engine in its own process, fresh SQLite DB per phase, confirmations: 0, "
                 f"workers={args.workers}, poll_interval={args.poll_interval:g}s, armed Arm(override=True), "
                 "relayer = dev account 1")
    lines.append("  baseline    : own process; ws newHeads + eth_getLogs on origin, sign+send relay "
                 f"(value=destAmount), in-memory nonce, gas {RELAY_GAS}, fees read once; no DB, no checks; "
                 f"relayer = derived account #{BASELINE_INDEX}")
    lines.append("  confirmations: 0 for the engine; the baseline waits for none either")
    lines.append("  latency     : t1 - t0, both = arrival time of a newHeads notification at one observer "
                 "(a thread of the bench process): t0 = origin block with the BridgeRequested, "
                 "t1 = dest block with the relay (automine: accepted == mined == announced)")
    lines.append("  throughput  : orders / (last t1 - first t0); 'to RelayCompleted' uses the engine's own "
                 "RelayCompleted record time (the baseline has no such status: its relay mined is its completion)")
    lines.append("  RSS         : VmRSS of the relayer process (/proc/<pid>/status) at the end of its phase; "
                 "each phase is a fresh process")
    lines.append("  CPU         : /proc/<pid>/stat of the relayer and the anvils, /proc/stat for the machine, from "
                 "the first order (rate: incl. the users process) or the burst block to the end of the phase")
    lines.append("")
    headers = ("metric", "baseline", "engine", "ratio", "target", "result")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines.append(fmt.format(*headers))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(fmt.format(*r))
    lines.append("")
    for p in phases.values():
        lines += _phase_lines(p)
    lines.append("")
    lines.append(f"devnet start {bench.devnet_seconds:.1f} s; total wall {time.monotonic() - started:.1f} s; "
                 f"work dir {bench.workdir}{' (kept)' if args.keep else ' (removed)'}")
    if args.profile:
        lines.append(f"cProfile of the engine: {bench.workdir}/engine-*/profile.*.txt (numbers above are "
                     "slowed by the profiler)")
    data = {"args": vars(args), "verdicts": verdicts,
            "phases": {n: {k: v for k, v in p.__dict__.items() if k != "child"} for n, p in phases.items()}}
    return "\n".join(lines), data


# ==================================================================================================
# main
# ==================================================================================================


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=1000, help="orders per phase (default 1000)")
    p.add_argument("--quick", action="store_true", help="100 orders per phase")
    p.add_argument("--rate", type=float, default=20.0, help="offered order rate of the rate phases (orders/s)")
    p.add_argument("--mode", choices=("rate", "burst", "both", "rss"), default="both",
                   help="rate: paced orders; burst: all orders in one block; both (default); rss: only the RSS run")
    p.add_argument("--rss-orders", type=int, default=None,
                   help="also run the engine alone through this many orders (bursts) and report its RSS "
                        "(default with --mode rss: 10000)")
    p.add_argument("--burst-size", type=int, default=1000, help="orders per burst block in the RSS run")
    p.add_argument("--workers", type=int, default=8, help="Engine(workers=...) (the Engine's default: 8)")
    p.add_argument("--poll-interval", type=float, default=1.0,
                   help="Engine poll_interval (WebSocket wake-ups make it a fallback) and the baseline's "
                        "poll fallback (the Engine's default: 1.0 s)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds between a relayer's start and the first order")
    p.add_argument("--phase-timeout", type=float, default=300.0,
                   help="seconds to wait for the relays after the last order of a phase/burst")
    p.add_argument("--instrument", action="store_true",
                   help="count/time the engine's advance() and database transactions, sample its queue and "
                        "event-loop lag (per-instance wrappers; small overhead)")
    p.add_argument("--trace", action="store_true",
                   help="stamp each new order's stages (origin logs read, decoded, the relay's reads, its write, "
                        "its broadcast) and print their p50/p99 from t0 (per-instance wrappers)")
    p.add_argument("--profile", action="store_true", help="cProfile the engine processes (slows them down)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the work directory (anvil logs, DBs, profiles)")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = p.parse_args(argv)
    if args.quick:
        args.orders = 100
    if args.mode == "rss" and args.rss_orders is None:
        args.rss_orders = 10_000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    bench = Bench(args, workdir)
    phases: dict[str, PhaseResult] = {}
    try:
        bench.start()
        print(f"devnet up in {bench.devnet_seconds:.1f} s ({workdir})", flush=True)
        plan: list[tuple[str, str, int]] = []
        modes = {"rate": ["rate"], "burst": ["burst"], "both": ["rate", "burst"], "rss": []}[args.mode]
        for mode in modes:
            plan += [("baseline", mode, args.orders), ("engine", mode, args.orders)]
        if args.rss_orders:
            plan.append(("engine", "rss", args.rss_orders))
        for index, (kind, mode, n) in enumerate(plan):
            if index:
                bench.restart()  # every phase on the same fresh chains
            t = time.monotonic()
            print(f"-- {kind}-{mode}: {n} orders ...", flush=True)
            result = bench.run_phase(kind, mode, n)
            phases[result.name] = result
            print(f"   relayed {result.relayed}/{result.placed} in {time.monotonic() - t:.1f} s; "
                  f"p50 {_fmt(percentile(result.latencies_ms, .5))} ms; "
                  f"throughput {_fmt(result.throughput, 2)}/s", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        bench.stop()
    if phases:
        text, data = report(args, bench, phases, started)
        print()
        print(text)
        if args.json:
            args.json.write_text(json.dumps(data, indent=1, default=str))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if phases else 1


if __name__ == "__main__":
    sys.exit(main())
