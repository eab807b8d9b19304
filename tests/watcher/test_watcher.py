"""ChainWatcher against a real devnet (2 anvil chains, automine) and real databases."""
from __future__ import annotations

import asyncio

from eth_abi import encode as abi_encode
from sqlalchemy import func, select

from engine.chain.rpc import ChainRpc
from engine.chain.watcher import ChainWatcher, WatchedLog
from engine.devnet.traffic import TrafficGenerator, load_manifest
from engine.protocol.events import BRIDGE_REQUESTED
from engine.store import ChainCursor, ChainLog, DeadLetter, Database

BR_TOPIC0 = "0x" + BRIDGE_REQUESTED.topic0.hex()
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil dev account #0


class Sink:
    """Records every callback; idempotency is checked by counting."""

    def __init__(self) -> None:
        self.logs: list[WatchedLog] = []
        self.reorgs: list[tuple[int, int, list[int]]] = []
        self.rolled_back: list[tuple[int, int, int]] = []  # (chain, ancestor, reorgs announced before it)

    async def on_logs(self, chain_id: int, logs: list[WatchedLog]) -> None:
        self.logs.extend(logs)

    def on_reorg(self, chain_id: int, ancestor: int, removed: list[int]) -> None:
        self.reorgs.append((chain_id, ancestor, removed))

    def on_rolled_back(self, chain_id: int, ancestor: int) -> None:
        self.rolled_back.append((chain_id, ancestor, len(self.reorgs)))

    def requested(self) -> list[str]:
        return ["0x" + w.event.args["transactionId"].hex() for w in self.logs if w.event.name == "BridgeRequested"]


def heads(devnet) -> dict[int, int]:
    return {d.chain_id: int(devnet.node(d.chain_id).rpc("eth_blockNumber"), 16) for d in devnet.deployments}


def watchers(devnet, db, make_rpc, sink: Sink, start: dict[int, int] | None = None, **kwargs) -> dict[int, ChainWatcher]:
    """One watcher per chain; by default from the current head + 1 (the devnet is shared by the module)."""
    start = start or {cid: h + 1 for cid, h in heads(devnet).items()}
    out = {}
    for d in devnet.deployments:
        rpc = make_rpc(d.chain_id, d.rpc_url)
        out[d.chain_id] = ChainWatcher(d.chain_id, rpc, db, d.bridge, start_block=start[d.chain_id],
                                       on_logs=sink.on_logs, on_reorg=sink.on_reorg, **kwargs)
    return out


async def requested_rows(db: Database, chain_id: int) -> list[ChainLog]:
    async with db.read() as s:
        return list((await s.execute(select(ChainLog).where(
            ChainLog.chain_id == chain_id, ChainLog.topic0 == BR_TOPIC0))).scalars().all())


async def place(gen: TrafficGenerator, n: int):
    return [await asyncio.to_thread(gen.place, "ordinary") for _ in range(n)]


async def test_orders_stored_and_delivered_once_across_restart_and_replay(devnet, db, make_rpc):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=11)
    start = {cid: h + 1 for cid, h in heads(devnet).items()}
    first = await place(gen, 3)
    sink = Sink()
    ws = watchers(devnet, db, make_rpc, sink, start, max_range=7)  # several bounded ranges per round
    for w in ws.values():
        assert await w.step() is True
        assert w.cursor == w.head and w.lag_blocks == 0 and w.healthy
    ids = [o.transaction_id for o in first]
    assert sorted(sink.requested()) == sorted(ids)
    for o in first:
        delivered = next(w for w in sink.logs if w.event.name == "BridgeRequested"
                         and "0x" + w.event.args["transactionId"].hex() == o.transaction_id)
        assert delivered.request is not None and delivered.request.origin_chain_id == o.origin_chain_id
        assert delivered.chain_id == o.origin_chain_id and delivered.block_timestamp > 0
        assert delivered.raw.data and delivered.event.args["request"] == o.request
    for cid in ws:
        rows = await requested_rows(db, cid)
        assert sorted(r.topics[1] for r in rows) == sorted(o.transaction_id for o in first if o.origin_chain_id == cid)
    # nothing new: a second round delivers nothing
    for w in ws.values():
        await w.step()
    assert len(sink.requested()) == 3

    # "down": orders placed while no watcher runs; a new watcher object on the same DB
    second = await place(gen, 2)
    sink2 = Sink()
    ws2 = watchers(devnet, db, make_rpc, sink2, start, max_range=7)
    for w in ws2.values():
        await w.step()
    assert sorted(sink2.requested()) == sorted(o.transaction_id for o in second)
    async with db.read() as s:
        total = (await s.execute(select(func.count()).select_from(ChainLog))).scalar_one()
        cursors = {c.chain_id: c for c in (await s.execute(select(ChainCursor))).scalars()}
    for cid, w in ws2.items():
        assert cursors[cid].block_number == w.cursor == w.head
        assert cursors[cid].block_hash == "0x" + w.cursor_hash.hex()

    # replay the whole range: cursor moved back to the start (still canonical): nothing inserted or delivered
    for cid, w in ws2.items():
        header = await w.rpc.get_block(start[cid] - 1)
        async with db.write() as s:
            row = await s.get(ChainCursor, cid)
            row.block_number, row.block_hash = header.number, "0x" + header.hash.hex()
    sink3 = Sink()
    ws3 = watchers(devnet, db, make_rpc, sink3, start)
    for w in ws3.values():
        await w.step()
        assert w.cursor == w.head
    assert sink3.logs == [] and sink3.reorgs == []
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(ChainLog))).scalar_one() == total
        assert (await s.execute(select(func.count()).select_from(DeadLetter))).scalar_one() == 0


async def test_reorg_removes_the_order_and_a_re_mined_order_is_delivered_again(devnet, sqlite_db, make_rpc):
    db = sqlite_db
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=23)
    (order,) = await place(gen, 1)
    cid = order.origin_chain_id
    node = devnet.node(cid)
    sink = Sink()
    w = watchers(devnet, db, make_rpc, sink, {c: h for c, h in heads(devnet).items()},
                 on_rolled_back=sink.on_rolled_back)[cid]
    await w.step()
    assert sink.requested() == [order.transaction_id]
    (row,) = [r for r in await requested_rows(db, cid) if r.topics[1] == order.transaction_id]
    block = row.block_number
    assert w.head == block  # automine: the order is the tip
    tx = node.rpc("eth_getTransactionByHash", [row.tx_hash])

    node.rpc("anvil_reorg", [1, []])  # replace the order's block with an empty one
    assert node.rpc("eth_getBlockByNumber", [hex(block), False])["hash"] != row.block_hash
    await w.step()
    assert sink.reorgs == [(cid, block - 1, [block])]
    assert sink.rolled_back == [(cid, block - 1, 1)]  # once the logs are deleted, after the reorg's announcement
    assert [r for r in await requested_rows(db, cid) if r.topics[1] == order.transaction_id] == []
    assert w.cursor == block and w.cursor_hash.hex() != row.block_hash[2:]
    assert w.reorgs == 1

    # the same order re-mined in a later block: delivered again with its new block
    node.rpc("eth_sendTransaction", [{"from": tx["from"], "to": tx["to"], "data": tx["input"],
                                      "value": tx["value"], "gas": tx["gas"]}])
    for _ in range(100):
        await w.step()
        if len(sink.requested()) == 2:
            break
        await asyncio.sleep(0.02)
    assert sink.requested() == [order.transaction_id] * 2
    again = sink.logs[-1]
    assert again.block_number > block and again.block_hash.hex() != row.block_hash[2:]
    (row2,) = [r for r in await requested_rows(db, cid) if r.topics[1] == order.transaction_id]
    assert row2.block_hash == "0x" + again.block_hash.hex()


async def test_reorg_while_down_is_found_on_restart(devnet, sqlite_db, make_rpc):
    db = sqlite_db
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=5)
    (order,) = await place(gen, 1)
    cid = order.origin_chain_id
    sink = Sink()
    start = {c: h - 1 for c, h in heads(devnet).items()}  # cursor and recent blocks from h - 2
    await watchers(devnet, db, make_rpc, sink, start)[cid].step()
    head = next(x.block_number for x in sink.logs if x.event.name == "BridgeRequested"
                and "0x" + x.event.args["transactionId"].hex() == order.transaction_id)
    assert head == heads(devnet)[cid]
    devnet.node(cid).rpc("anvil_reorg", [2, []])
    sink2 = Sink()
    w2 = watchers(devnet, db, make_rpc, sink2, start)[cid]
    await w2.step()
    assert sink2.reorgs == [(cid, head - 2, [head - 1, head])]
    assert [r for r in await requested_rows(db, cid) if r.topics[1] == order.transaction_id] == []
    assert sink2.logs == [] and w2.cursor == w2.head


# Runtime: LOG3 whose three topics are calldata[0:96] and whose data is calldata[96:] (see tests/chain).
EMITTER_RUNTIME = "0x60603603806060600037604035602035600035836000a300"
FAKE_BRIDGE = "0x00000000000000000000000000000000000B0Bad"


async def test_malformed_logs_go_to_dead_letter_and_the_chain_continues(devnet, sqlite_db, make_rpc):
    db = sqlite_db
    cid = devnet.deployments[0].chain_id
    node = devnet.node(cid)
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=9)
    good = await place(gen, 1)
    node.rpc("anvil_setCode", [FAKE_BRIDGE, EMITTER_RUNTIME])
    start = int(node.rpc("eth_blockNumber"), 16) + 1
    sink = Sink()
    w = ChainWatcher(cid, make_rpc(cid, devnet.deployment(cid).rpc_url), db, FAKE_BRIDGE, start_block=start,
                     on_logs=sink.on_logs, on_reorg=sink.on_reorg)
    await w.step()

    def emit(tx_id: bytes, data: bytes) -> str:
        topics = BRIDGE_REQUESTED.topic0 + tx_id + bytes(12) + bytes.fromhex(DEV_ADDRESS[2:])
        return node.rpc("eth_sendTransaction", [{"from": DEV_ADDRESS, "to": FAKE_BRIDGE,
                                                 "data": "0x" + (topics + data).hex(), "gas": hex(300_000)}])

    def event_data(request: bytes) -> bytes:
        return abi_encode(["bytes", "uint32", "address", "address", "uint256", "uint256", "bool"],
                          [request, 31338, DEV_ADDRESS, DEV_ADDRESS, 10, 9, False])

    garbage = emit(b"\x11" * 32, b"\x01\x02\x03 not abi")
    bad_request = emit(b"\x22" * 32, event_data(b"\x00\x07 not a request"))
    request = good[0].request
    ok = emit(bytes.fromhex(good[0].transaction_id[2:]), event_data(request))
    for _ in range(100):
        await w.step()
        if w.dead_letters == 2 and sink.logs:
            break
        await asyncio.sleep(0.02)
    assert w.cursor == w.head
    assert [("0x" + x.raw.tx_hash.hex()) for x in sink.logs] == [ok]
    assert sink.logs[0].request is not None and sink.logs[0].event.args["request"] == request
    async with db.read() as s:
        dead = (await s.execute(select(DeadLetter).order_by(DeadLetter.id))).scalars().all()
        stored = (await s.execute(select(func.count()).select_from(ChainLog))).scalar_one()
    assert [d.tx_hash for d in dead] == [garbage, bad_request]
    assert "EventDecodeError" in dead[0].error and "BridgeRequested" in dead[0].error
    assert "RequestDecodeError" in dead[1].error and "not a FastBridge request" in dead[1].error
    assert all(d.chain_id == cid and d.topic0 == BR_TOPIC0 and d.log_index == 0 for d in dead)
    assert dead[0].payload["tx_hash"] == garbage and dead[0].payload["topics"][0] == BR_TOPIC0
    assert stored == 3  # all three are kept in chain_log
    # a replay dead-letters nothing twice
    w2 = ChainWatcher(cid, make_rpc(cid, devnet.deployment(cid).rpc_url), db, FAKE_BRIDGE, start_block=start)
    await w2.step()
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(DeadLetter))).scalar_one() == 2


async def _delivered(sink: Sink, order) -> None:
    for _ in range(200):
        if order.transaction_id in sink.requested():
            return
        await asyncio.sleep(0.025)
    assert order.transaction_id in sink.requested()


async def test_run_loop_delivers_and_stops(devnet, sqlite_db, make_rpc):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=31)
    sink = Sink()
    ws = watchers(devnet, sqlite_db, make_rpc, sink, poll_interval=0.05)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in ws.values()]
    try:
        (order,) = await place(gen, 1)
        await _delivered(sink, order)
        for _ in range(80):  # every loop healthy once its round is over (a round may be mid-delivery now)
            if all(w.healthy and w.last_error is None for w in ws.values()):
                break
            await asyncio.sleep(0.025)
        assert all(w.healthy and w.last_error is None for w in ws.values()), {
            cid: (w.healthy, w.last_error, w.cursor, w.head) for cid, w in ws.items()}
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_failing_callback_is_retried_and_errors_never_kill_the_loop(devnet, sqlite_db, make_rpc):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=41)
    (order,) = await place(gen, 1)
    cid = order.origin_chain_id
    calls: list[list[WatchedLog]] = []

    def flaky(chain_id, logs):
        calls.append(logs)
        if len(calls) == 1:
            raise RuntimeError("relayer hiccup")

    d = devnet.deployment(cid)
    w = ChainWatcher(cid, make_rpc(cid, d.rpc_url), sqlite_db, d.bridge, start_block=heads(devnet)[cid],
                     on_logs=flaky,
                     poll_interval=0.05, max_backoff=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    try:
        for _ in range(200):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.025)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(calls) == 2 and calls[0] == calls[1]  # same logs again, in order
    assert w.last_error is None and w.healthy


class RecordingRpc(ChainRpc):
    """A real ChainRpc that records the reads it makes (method and first parameter)."""

    def __init__(self, *args, fake_announcement=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[tuple[str, object]] = []
        self.fake_announcement = fake_announcement  # a header the node never had: a WebSocket node ahead of it

    async def request(self, method, params=None, **kwargs):
        self.reads.append((method, (params or [None])[0]))
        return await super().request(method, params, **kwargs)

    def take_announced_head(self):
        fake, self.fake_announcement = self.fake_announcement, None
        return fake or super().take_announced_head()


async def _run_until_requested(ws: dict[int, ChainWatcher], sink: Sink, gen: TrafficGenerator,
                               rpcs: list[RecordingRpc]):
    """Run the watchers, place one order once their first rounds are done (the reads recorded from then
    on), and return it once delivered."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in ws.values()]
    try:
        for _ in range(200):  # first rounds done: every cursor at its head
            if all(w.cursor is not None and w.cursor == w.head for w in ws.values()):
                break
            await asyncio.sleep(0.025)
        for rpc in rpcs:
            rpc.reads.clear()
        (order,) = await place(gen, 1)
        await _delivered(sink, order)
        return order
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


def _recording_watchers(devnet, db, sink: Sink, *, stream: bool = False,
                        **kwargs) -> tuple[dict[int, ChainWatcher], dict[int, RecordingRpc]]:
    rpcs, ws = {}, {}
    for d, start in zip(devnet.deployments, heads(devnet).values()):
        rpc = rpcs[d.chain_id] = RecordingRpc(d.chain_id, d.rpc_url, ws_url=d.ws_url if stream else None)
        ws[d.chain_id] = ChainWatcher(d.chain_id, rpc, db, d.bridge, start_block=start + 1, on_logs=sink.on_logs,
                                      **kwargs)
    return ws, rpcs


async def test_an_announced_block_after_the_cursor_is_read_by_hash_without_a_latest_read(devnet, sqlite_db):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=33)
    sink = Sink()
    ws, rpcs = _recording_watchers(devnet, sqlite_db, sink, stream=True, poll_interval=30)  # only the stream wakes
    try:
        for _ in range(100):  # the streams are up before the order is placed
            if all(rpc.ws_connected for rpc in rpcs.values()):
                break
            await asyncio.gather(*(rpc.wait_for_new_head(0.05) for rpc in rpcs.values()))
        order = await _run_until_requested(ws, sink, gen, list(rpcs.values()))
    finally:
        for rpc in rpcs.values():
            await rpc.close()
    (delivered,) = [w for w in sink.logs if "0x" + w.event.args["transactionId"].hex() == order.transaction_id]
    reads = rpcs[order.origin_chain_id].reads
    by_hash = [p["blockHash"] for m, p in reads if m == "eth_getLogs" and "blockHash" in p]
    assert "0x" + bytes(delivered.raw.block_hash).hex() in by_hash, reads
    assert ("eth_getBlockByNumber", "latest") not in reads, reads
    assert sink.requested().count(order.transaction_id) == 1


async def test_an_announced_block_the_node_does_not_know_falls_back_to_the_head(devnet, sqlite_db):
    from engine.chain.rpc import BlockHeader

    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=34)
    sink = Sink()
    ws, rpcs = _recording_watchers(devnet, sqlite_db, sink, poll_interval=0.05)
    chain_id, watcher = next(iter(ws.items()))
    rpc = rpcs[chain_id]
    try:
        await watcher.step()
        cursor = (watcher.cursor, watcher.cursor_hash)
        rpc.reads.clear()
        rpc.fake_announcement = BlockHeader(watcher.cursor + 1, b"\x5a" * 32, watcher.cursor_hash, 1)
        assert await watcher.step()
        # asked by hash, answered "unknown block", then the head was read; the fake block was not stored
        assert [m for m, _ in rpc.reads[:2]] == ["eth_getLogs", "eth_getBlockByNumber"], rpc.reads
        assert rpc.reads[0][1]["blockHash"] == "0x" + "5a" * 32 and rpc.reads[1][1] == "latest"
        assert (watcher.cursor, watcher.cursor_hash) == cursor and watcher.last_error is None
        order = await _run_until_requested(ws, sink, gen, list(rpcs.values()))
    finally:
        for r in rpcs.values():
            await r.close()
    assert sink.requested().count(order.transaction_id) == 1


async def test_stored_headers_stay_bounded_and_the_newest_window_is_the_chains(devnet, sqlite_db, make_rpc):
    from engine.chain.watcher import PRUNE_EVERY_BLOCKS
    from engine.store import RecentBlock

    db = sqlite_db
    cid = devnet.deployments[0].chain_id
    node = devnet.node(cid)
    window = 4
    watcher = watchers(devnet, db, make_rpc, Sink(), window=window)[cid]

    async def stored() -> list[RecentBlock]:
        async with db.read() as s:
            return list((await s.scalars(select(RecentBlock).where(RecentBlock.chain_id == cid)
                                         .order_by(RecentBlock.number))).all())

    counts = []
    for _ in range(2 * PRUNE_EVERY_BLOCKS + 5):  # one block per round: deletions are spread over rounds
        node.rpc("evm_mine", [])
        await watcher.step()
        counts.append(len(await stored()))
    assert max(counts) <= window + PRUNE_EVERY_BLOCKS
    assert min(counts[PRUNE_EVERY_BLOCKS:]) >= window
    rows = await stored()
    newest = rows[-window:]
    assert [r.number for r in newest] == list(range(watcher.cursor - window + 1, watcher.cursor + 1))
    for r in newest:
        assert r.hash == node.rpc("eth_getBlockByNumber", [hex(r.number), False])["hash"]
    # a restarted watcher resumes from them
    again = watchers(devnet, db, make_rpc, Sink(), window=window)[cid]
    node.rpc("evm_mine", [])
    await again.step()
    assert again.cursor == watcher.cursor + 1


async def _placed_request(devnet, make_rpc, *, seed: int):
    """One order placed on the devnet: it, the block holding its request, and that BridgeRequested decoded."""
    from engine.chain.watcher import _decode

    (order,) = await place(TrafficGenerator(load_manifest(devnet.settings.directory), seed=seed), 1)
    cid = order.origin_chain_id
    deployment = next(d for d in devnet.deployments if d.chain_id == cid)
    rpc = make_rpc(cid, deployment.rpc_url)
    head = heads(devnet)[cid]
    raws = await rpc.get_logs(deployment.bridge, head, head, [[BRIDGE_REQUESTED.topic0]])
    return order, head, _decode(cid, raws[-1], (await rpc.get_block(head)).timestamp)


async def test_a_request_stored_again_from_another_block_moves_its_order_and_creates_nothing(devnet, db, make_rpc):
    """A re-included request (a reorg put it in another block) keeps its one order, moved to the new block."""
    from dataclasses import replace

    from engine.relayer.orders import store_requests
    from engine.store import BridgeOrder, OrderTransition

    order, head, first = await _placed_request(devnet, make_rpc, seed=11)
    moved = replace(first, raw=replace(first.raw, block_number=head + 5, block_hash=b"\x42" * 32,
                                       tx_hash=b"\x43" * 32, log_index=7))

    created = await db.run_write(lambda s: store_requests(s, [first]))
    again = await db.run_write(lambda s: store_requests(s, [moved]))
    assert [o.transaction_id for o in created] == [order.transaction_id] and again == []
    async with db.read() as s:
        rows = (await s.scalars(select(BridgeOrder).where(BridgeOrder.transaction_id == order.transaction_id))).all()
        traces = await s.scalar(select(func.count()).select_from(OrderTransition).where(
            OrderTransition.transaction_id == order.transaction_id))
    assert len(rows) == 1 and traces == 1
    assert (rows[0].origin_block_number, rows[0].origin_block_hash, rows[0].origin_tx_hash,
            rows[0].origin_log_index) == (head + 5, "0x" + "42" * 32, "0x" + "43" * 32, 7)


async def test_an_order_created_at_relay_started_is_one_write_and_the_watcher_then_finds_it(devnet, db, make_rpc):
    """The relayer's intake creates a new order straight at RelayStarted (its creation entry and each step in
    one write); created again it writes nothing, and the watcher's own storing of the request creates nothing."""
    from functools import partial

    from engine.relayer.decisions import Gate
    from engine.relayer.orders import Step, create_order, read_order, store_requests
    from engine.relayer.statuses import OrderStatus
    from engine.store import OrderTransition

    order, head, request_log = await _placed_request(devnet, make_rpc, seed=12)
    cid = order.origin_chain_id
    relay = "0x" + "ab" * 32
    go = Gate("inventory", True, "1", "1", "committable")
    steps = [Step(OrderStatus.CommittedPending, [go]), Step(OrderStatus.CommittedConfirmed, [go]),
             Step(OrderStatus.RelayStarted, [go], relay)]
    create = partial(create_order, w=request_log, steps=steps, chain_id=cid, chain_time=1_700_000_000,
                     fields={"relay_tx_hash": relay})

    created = await db.run_write(create)
    assert created is not None and (created.status, created.relay_tx_hash) == (int(OrderStatus.RelayStarted), relay)
    assert await db.run_write(create) is None
    assert await db.run_write(lambda s: store_requests(s, [request_log])) == []
    stored = await db.run_read(partial(read_order, transaction_id=order.transaction_id))
    assert (stored.status, stored.dest_amount, stored.origin_block_number) == (
        int(OrderStatus.RelayStarted), order.dest_amount, head)
    async with db.read() as s:
        trace = (await s.scalars(select(OrderTransition).where(
            OrderTransition.transaction_id == order.transaction_id).order_by(OrderTransition.id))).all()
    assert [(t.from_status, t.to_status) for t in trace] == [
        (None, int(OrderStatus.Seen)), (int(OrderStatus.Seen), int(OrderStatus.CommittedPending)),
        (int(OrderStatus.CommittedPending), int(OrderStatus.CommittedConfirmed)),
        (int(OrderStatus.CommittedConfirmed), int(OrderStatus.RelayStarted))]
    assert trace[0].chain_time == request_log.block_timestamp and trace[-1].tx_hash == relay
    assert len({t.wall_time for t in trace}) == 1  # one write
