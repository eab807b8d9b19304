"""kill -9 of the engine process at random points while many orders flow, restarted on the same
database each time, then checked on chain: nothing relayed twice, nothing lost, no nonce gap.

The engine runs in its own process (engine_proc.py) so that SIGKILL lands wherever it lands: during
start-up and reconcile, between signing and broadcasting a relay, between a receipt and its database
write... The kill points are random but reproducible: the seed is printed (MMTUI_CRASH_SEED to replay).
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from engine.devnet.accounts import RELAYER, dev_account
from engine.devnet.devnet import Devnet
from engine.devnet.traffic import PlacedOrder, TrafficGenerator, load_manifest
from engine.protocol import calls
from engine.protocol.events import BRIDGE_RELAYED
from engine.relayer.statuses import OrderStatus, OriginBridgeStatus

from enginekit import mine, write_engine_config

pytestmark = pytest.mark.anvil

ENGINE_PROC = Path(__file__).with_name("engine_proc.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("MMTUI_CRASH_SEED", "7031"))
INITIAL_ORDERS = 20
KILLS = int(os.environ.get("MMTUI_CRASH_KILLS", "10"))
RELAYER_ADDRESS = dev_account(RELAYER).address


class EngineProcess:
    """One engine_proc.py child: stdout watched for "ready", stderr to a log file."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, str(ENGINE_PROC), str(config)], cwd=REPO_ROOT,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.ready = threading.Event()
        self.started = time.monotonic()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "ready":
                self.ready.set()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited with {self.proc.returncode} before ready:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"engine not ready after {timeout} s:\n{self.tail()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Miner:
    """Mines a block on every chain, moving chain time forward, a few times a second (automine
    chains only move with transactions; the dispute period and confirmations need blocks)."""

    def __init__(self, devnet: Devnet, every: float = 0.3, seconds: int = 2) -> None:
        self.devnet, self.every, self.seconds = devnet, every, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                mine(self.devnet, self.seconds)
            except Exception:  # noqa: BLE001 - a missed block is harmless; the next one comes
                pass

    def __enter__(self) -> Miner:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


def _rpc(devnet: Devnet, chain_id: int, method: str, params: list):
    return devnet.node(chain_id).rpc(method, params, timeout=10)


def _eth_call(devnet: Devnet, chain_id: int, data: bytes) -> bytes:
    to = devnet.deployment(chain_id).bridge
    return bytes.fromhex(_rpc(devnet, chain_id, "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])[2:])


def _nonce(devnet: Devnet, chain_id: int, tag: str) -> int:
    return int(_rpc(devnet, chain_id, "eth_getTransactionCount", [RELAYER_ADDRESS, tag]), 16)


def _origin_status(devnet: Devnet, order: PlacedOrder) -> int:
    return calls.decode_uint(_eth_call(devnet, order.origin_chain_id,
                                       calls.encode_bridge_statuses(order.transaction_id)))


def _db_rows(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _in_flight(db_path: Path) -> str:
    """What a kill left behind: orders by status, our transactions by purpose and state (unfinished only)."""
    if not db_path.exists():
        return "no database yet"
    try:
        orders = _db_rows(db_path, "SELECT status, count(*) FROM bridge_order GROUP BY status")
        txs = _db_rows(db_path, "SELECT purpose, state, count(*) FROM outbound_tx WHERE state IN ('signed', "
                                "'broadcast') GROUP BY purpose, state")
    except sqlite3.OperationalError as exc:  # killed before the schema was migrated
        return f"database not ready ({exc})"
    shown = [f"{OrderStatus(s).name}={n}" for s, n in orders if not OrderStatus(s).is_terminal]
    shown += [f"{p}:{st}={n}" for p, st, n in txs]
    return ", ".join(shown) or "nothing in flight"


def _relay_transactions(devnet: Devnet, chain_id: int, first_block: int) -> Counter[str]:
    """Every relay transaction our relayer got mined on `chain_id` since `first_block`, whatever its
    status, counted per order (transactionId = keccak of the relayed request)."""
    relayer = RELAYER_ADDRESS.lower()
    bridge = devnet.deployment(chain_id).bridge.lower()
    latest = int(_rpc(devnet, chain_id, "eth_blockNumber", []), 16)
    counts: Counter[str] = Counter()
    for number in range(first_block, latest + 1):
        block = _rpc(devnet, chain_id, "eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            data = bytes.fromhex(tx["input"][2:])
            if tx["from"].lower() == relayer and (tx["to"] or "").lower() == bridge and data[:4] == calls.RELAY:
                (request,) = abi_decode(["bytes"], data[4:])
                counts["0x" + keccak(request).hex()] += 1
    return counts


def test_kill_9_at_random_points_nothing_twice_nothing_lost_no_nonce_gap(devnet: Devnet, tmp_path: Path) -> None:
    print(f"\ncrash test seed {SEED} (MMTUI_CRASH_SEED={SEED} to replay)")
    rng = random.Random(SEED)
    traffic = TrafficGenerator(load_manifest(devnet.settings.directory), seed=SEED)
    chain_ids = [n.chain_id for n in devnet.nodes]
    config = write_engine_config(devnet, tmp_path)
    db_path = tmp_path / "mmtui.db"
    first_block = {cid: int(_rpc(devnet, cid, "eth_blockNumber", []), 16) + 1 for cid in chain_ids}
    first_nonce = {cid: _nonce(devnet, cid, "pending") for cid in chain_ids}
    orders: list[PlacedOrder] = []
    procs: list[EngineProcess] = []
    t0 = time.monotonic()

    def place(n: int) -> None:
        for _ in range(n):
            orders.append(traffic.place("ordinary"))

    def spawn() -> EngineProcess:
        proc = EngineProcess(config, tmp_path / f"engine-{len(procs)}.log")
        procs.append(proc)
        return proc

    try:
        with Miner(devnet):
            place(INITIAL_ORDERS)
            for i in range(KILLS):
                proc = spawn()
                if rng.random() < 0.25:  # during start-up: migrate, reconcile, re-broadcast, approvals
                    delay = rng.uniform(0.3, 1.5)
                    time.sleep(delay)
                    where = f"{delay:.2f} s after spawn ({'ready' if proc.ready.is_set() else 'starting'})"
                else:
                    proc.wait_ready()
                    delay = rng.uniform(0.2, 2.0)
                    time.sleep(delay)
                    where = f"{delay:.2f} s after ready"
                assert proc.alive(), f"engine died on its own:\n{proc.tail()}"
                proc.kill()
                print(f"kill -9 #{i + 1} {where}; {len(orders)} orders placed; left: {_in_flight(db_path)}")
                place(rng.randint(1, 2))

            final = spawn()
            final.wait_ready()
            terminal = [int(s) for s in OrderStatus if s.is_terminal]

            def done() -> bool:
                assert final.alive(), f"engine died on its own:\n{final.tail()}"
                if any(_origin_status(devnet, o) != OriginBridgeStatus.RELAYER_CLAIMED for o in orders):
                    return False
                statuses = dict(_db_rows(db_path, "SELECT transaction_id, status FROM bridge_order"))
                if any(statuses.get(o.transaction_id) not in terminal for o in orders):
                    return False
                live = _db_rows(db_path, "SELECT count(*) FROM outbound_tx WHERE state IN ('signed', 'broadcast')")
                return live[0][0] == 0

            deadline = time.monotonic() + 60
            while not done():
                if time.monotonic() > deadline:
                    statuses = Counter(OrderStatus(s).name for (s,) in _db_rows(db_path,
                                                                                 "SELECT status FROM bridge_order"))
                    raise AssertionError(f"orders not all claimed after 60 s: {dict(statuses)}\n{final.tail()}")
                time.sleep(0.3)
            final.kill()
        print(f"{len(orders)} orders, {KILLS} kills, all claimed after {time.monotonic() - t0:.1f} s")
    finally:
        for p in procs:
            p.kill()

    relayer = to_checksum_address(RELAYER_ADDRESS)
    txids = {o.transaction_id for o in orders}
    assert len(txids) == len(orders)

    # Nothing lost: every order relayed by us and claimed by us; the engine says ClaimCompleted.
    statuses = dict(_db_rows(db_path, "SELECT transaction_id, status FROM bridge_order"))
    for o in orders:
        details = calls.decode_relay_details(_eth_call(devnet, o.dest_chain_id,
                                                       calls.encode_bridge_relay_details(o.transaction_id)))
        assert details.relayer == relayer, f"{o.line()}: relayed by {details.relayer}"
        assert _origin_status(devnet, o) == OriginBridgeStatus.RELAYER_CLAIMED, o.line()
        assert statuses[o.transaction_id] == OrderStatus.ClaimCompleted, \
            f"{o.line()}: {OrderStatus(statuses[o.transaction_id]).name}"

    # Nothing relayed twice: one BridgeRelayed per order, and one relay transaction of ours mined
    # per order (a second one would have reverted: still a relay sent twice).
    for cid in chain_ids:
        latest = _rpc(devnet, cid, "eth_blockNumber", [])
        logs = _rpc(devnet, cid, "eth_getLogs", [{
            "address": devnet.deployment(cid).bridge, "fromBlock": hex(first_block[cid]), "toBlock": latest,
            "topics": ["0x" + BRIDGE_RELAYED.topic0.hex()]}])
        relayed = Counter(entry["topics"][1] for entry in logs)
        expected = {o.transaction_id for o in orders if o.dest_chain_id == cid}
        assert set(relayed) == expected, f"chain {cid}: BridgeRelayed logs for unexpected orders"
        twice = {t: n for t, n in relayed.items() if n != 1}
        assert not twice, f"chain {cid}: orders relayed more than once: {twice}"
        sent = _relay_transactions(devnet, cid, first_block[cid])
        assert set(sent) == expected
        twice = {t: n for t, n in sent.items() if n != 1}
        assert not twice, f"chain {cid}: more than one relay transaction mined for {twice}"

    # The database agrees: no order has two mined relays.
    mined_relays = _db_rows(db_path, "SELECT transaction_id, count(*) FROM outbound_tx WHERE purpose = 'relay' "
                                     "AND state = 'mined' GROUP BY transaction_id HAVING count(*) > 1")
    assert mined_relays == []

    # No nonce gap: nothing pending on chain, and the mined nonces we stored are exactly the nonces
    # the chain consumed since the test began, each once.
    signer = RELAYER_ADDRESS.lower()
    for cid in chain_ids:
        latest, pending = _nonce(devnet, cid, "latest"), _nonce(devnet, cid, "pending")
        assert latest == pending, f"chain {cid}: pending nonce {pending} != latest {latest}"
        mined = [n for (n,) in _db_rows(db_path, "SELECT nonce FROM outbound_tx WHERE chain_id = ? AND signer = ? "
                                                 "AND state = 'mined' ORDER BY nonce", (cid, signer))]
        assert mined == list(range(first_nonce[cid], latest)), \
            f"chain {cid}: mined nonces {mined} != {first_nonce[cid]}..{latest - 1}"
        live = _db_rows(db_path, "SELECT nonce, state FROM outbound_tx WHERE chain_id = ? AND signer = ? "
                                 "AND state IN ('signed', 'broadcast')", (cid, signer))
        assert live == [], f"chain {cid}: transactions still live: {live}"
    summary = Counter(_db_rows(db_path, "SELECT purpose, state FROM outbound_tx"))
    print("outbound transactions:", dict(summary))

    # No engine life hit an unexpected exception (a kill is not one: it leaves no trace in the log).
    for p in procs:
        text = p.log_path.read_text(errors="replace")
        assert "Traceback" not in text, f"{p.log_path.name}:\n{text[text.index('Traceback') - 2000:][:6000]}"
