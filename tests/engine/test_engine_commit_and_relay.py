"""The commit-and-relay fast path (Seen -> CommittedPending -> CommittedConfirmed -> RelayStarted in one
database write, the commitment held in memory until then), on a real 2-chain devnet: its trace, that two
orders still never commit the same funds, and that a relay which would revert falls back to the
step-by-step path with its own checks."""
from __future__ import annotations

import asyncio

from eth_abi import encode as abi_encode
from sqlalchemy import select

from engine.api import Arm
from engine.devnet.accounts import RELAYER, dev_account
from engine.protocol import calls
from engine.relayer.statuses import OrderStatus
from engine.store import OrderTransition, OutboundTx
from enginekit import engine_config, make_engine, mine, running, status_of, wait_for
from test_engine_lifecycle import DEST, ORIGIN, path_of, place, reason_of, relayed_by, token_balance

RELAYER_ADDRESS = dev_account(RELAYER).address
USDC_FEE = 3 * 10**6  # the lifecycle tests' order sizing: dest = origin * 0.999 - 3 USDC


async def test_an_armed_order_with_its_confirmations_commits_and_relays_in_one_write(devnet, traffic, tmp_path):
    # no confirmation asked: the order has its confirmations when first decided
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):
        await engine.execute(Arm())
        order = await place(traffic, "USDC")
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 30, "the relay",
                       tick=lambda: mine(devnet))
        await wait_for(lambda: status_of(engine, order.transaction_id) is not None
                       and status_of(engine, order.transaction_id) >= OrderStatus.RelayStarted, 20, "RelayStarted")
        path = await path_of(engine, order.transaction_id)
        assert path[:4] == [OrderStatus.Seen, OrderStatus.CommittedPending, OrderStatus.CommittedConfirmed,
                            OrderStatus.RelayStarted]
        async with engine.db.read() as s:
            rows = (await s.scalars(select(OrderTransition).where(
                OrderTransition.transaction_id == order.transaction_id).order_by(OrderTransition.id))).all()
            relay = (await s.scalars(select(OutboundTx).where(
                OutboundTx.transaction_id == order.transaction_id, OutboundTx.purpose == "relay"))).all()
        committed = [r for r in rows if r.to_status in (int(OrderStatus.CommittedPending),
                                                        int(OrderStatus.CommittedConfirmed),
                                                        int(OrderStatus.RelayStarted))]
        assert len(committed) == 3 and [r.id for r in committed] == list(range(committed[0].id, committed[0].id + 3))
        assert len(relay) == 1 and committed[-1].tx_hash == relay[0].tx_hash
        gates = [{g["gate"]: g for g in r.reasons} for r in committed]
        assert gates[1]["origin_status"]["value"] == "REQUESTED" and gates[1]["confirmations"]["passed"]
        assert "runs without reverting in a simulation" in gates[2]["dest_relay"]["text"]
        assert gates[2]["submit"]["value"] == relay[0].tx_hash


async def test_a_new_order_is_created_with_its_relay_before_the_watcher_stores_its_request(devnet, traffic, tmp_path):
    """Armed, with no confirmation to wait for, the relayer decides a new request as soon as the watcher has
    decoded it: the order is created with its whole trace to RelayStarted in the write that stores the signed
    relay, and the relay is on its way before the watcher's own write stores the request."""
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    relays_when_stored: dict[str, list[str]] = {}
    on_stored = engine._on_stored

    def stored(session, logs):  # inside the watcher's storing transaction
        for w in logs:
            if w.request is not None:
                txid = "0x" + w.event.args["transactionId"].hex()
                relays_when_stored[txid] = list(session.scalars(select(OutboundTx.state).where(
                    OutboundTx.transaction_id == txid, OutboundTx.purpose == "relay")))
        on_stored(session, logs)

    engine._on_stored = stored  # read by Engine._build_chain in start()
    async with running(engine):
        await engine.execute(Arm())
        order = await place(traffic, "USDC")
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 30, "the relay",
                       tick=lambda: mine(devnet))
        await wait_for(lambda: order.transaction_id in relays_when_stored, 20, "the watcher's write")
        async with engine.db.read() as s:
            rows = (await s.scalars(select(OrderTransition).where(
                OrderTransition.transaction_id == order.transaction_id).order_by(OrderTransition.id))).all()
    assert len(relays_when_stored[order.transaction_id]) == 1  # stored (and sent) before the request was
    assert [(r.from_status, r.to_status) for r in rows[:4]] == [
        (None, int(OrderStatus.Seen)), (int(OrderStatus.Seen), int(OrderStatus.CommittedPending)),
        (int(OrderStatus.CommittedPending), int(OrderStatus.CommittedConfirmed)),
        (int(OrderStatus.CommittedConfirmed), int(OrderStatus.RelayStarted))]
    assert len({r.wall_time for r in rows[:4]}) == 1  # the order's creation and its moves: one write


async def test_an_order_committed_before_its_confirmations_is_confirmed_and_relayed_in_one_write(
        devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=1))
    async with running(engine):
        await engine.execute(Arm())
        order = await place(traffic, "USDC")
        # no block mined yet: committed, waiting for its confirmation
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.CommittedPending
                       and "confirmations 0/1" in reason_of(engine, order.transaction_id), 20,
                       "CommittedPending, waiting for its confirmation")
        await wait_for(lambda: relayed_by(devnet, order.transaction_id) == RELAYER_ADDRESS, 30, "the relay",
                       tick=lambda: mine(devnet))
        await wait_for(lambda: status_of(engine, order.transaction_id) is not None
                       and status_of(engine, order.transaction_id) >= OrderStatus.RelayStarted, 20, "RelayStarted")
        async with engine.db.read() as s:
            rows = (await s.scalars(select(OrderTransition).where(
                OrderTransition.transaction_id == order.transaction_id).order_by(OrderTransition.id))).all()
            relay = (await s.scalars(select(OutboundTx).where(
                OutboundTx.transaction_id == order.transaction_id, OutboundTx.purpose == "relay"))).all()
        moves = [(r.from_status, r.to_status) for r in rows]
        confirmed = moves.index((int(OrderStatus.CommittedPending), int(OrderStatus.CommittedConfirmed)))
        # the confirmation and the relay: consecutive rows of one write, the relay stored with them
        assert moves[confirmed + 1] == (int(OrderStatus.CommittedConfirmed), int(OrderStatus.RelayStarted))
        assert rows[confirmed + 1].id == rows[confirmed].id + 1
        assert len(relay) == 1 and rows[confirmed + 1].tx_hash == relay[0].tx_hash
        gates = {g["gate"]: g for g in rows[confirmed].reasons}
        assert gates["origin_status"]["value"] == "REQUESTED" and gates["confirmations"]["passed"]
        # judged by the relay's own gas estimate in that write, not by a separate read of the dest bridge
        relay_gates = {g["gate"]: g for g in rows[confirmed + 1].reasons}
        assert "runs without reverting in a simulation" in relay_gates["dest_relay"]["text"]


async def _two_orders_in_one_block_that_only_one_can_be_funded(devnet, traffic) -> list[str]:
    """Two USDC orders of 2/3 of our USDC on the destination each, mined in one origin block: their txids."""
    node = devnet.node(ORIGIN)
    held = token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS)
    dest_amount = held * 2 // 3  # one fits, two do not
    origin_amount = -(-(dest_amount + USDC_FEE) * 1000 // 999)
    node.rpc("evm_setAutomine", [False])
    try:
        hashes = [await asyncio.to_thread(traffic.send_bridge, ORIGIN, DEST, "USDC", origin_amount, dest_amount,
                                          3700) for _ in range(2)]
        node.rpc("evm_mine", [])
    finally:
        node.rpc("evm_setAutomine", [True])
    receipts = [traffic.w3[ORIGIN].eth.get_transaction_receipt(h) for h in hashes]
    assert receipts[0]["blockNumber"] == receipts[1]["blockNumber"]
    return ["0x" + r["logs"][-1]["topics"][1].hex().removeprefix("0x") for r in receipts]


async def test_two_orders_in_one_block_that_only_one_can_be_funded_commit_once(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        await engine.execute(Arm())
        txids = await _two_orders_in_one_block_that_only_one_can_be_funded(devnet, traffic)
        await wait_for(lambda: {status_of(engine, t) for t in txids} >= {OrderStatus.NotEnoughInventory}
                       and any(relayed_by(devnet, t) == RELAYER_ADDRESS for t in txids), 40,
                       "one relayed, one NotEnoughInventory", tick=lambda: mine(devnet))
        funded = [t for t in txids if relayed_by(devnet, t) == RELAYER_ADDRESS]
        waiting = [t for t in txids if status_of(engine, t) == OrderStatus.NotEnoughInventory]
        assert len(funded) == 1 and len(waiting) == 1
        assert "< destAmount" in reason_of(engine, waiting[0])
        detail = await engine.order_detail(waiting[0])
        assert detail is not None and detail.transactions == ()  # never even tried: no reverted relay


async def test_a_relay_that_would_revert_commits_step_by_step_and_is_refused_after_its_failures(
        devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    async with running(engine):
        await engine.execute(Arm())
        await wait_for(lambda: all(c.head_number for c in engine.snapshot().chains), 20, "heads")
        # The relayer revokes the bridge's USDC allowance behind the engine's back: every relay of USDC
        # reverts in its gas estimate (the engine approves only at start).
        usdc = devnet.deployment(DEST).tokens["USDC"]
        data = calls.selector("approve(address,uint256)") + abi_encode(
            ["address", "uint256"], [devnet.deployment(DEST).bridge, 0])
        devnet.node(DEST).rpc("eth_sendTransaction", [{"from": RELAYER_ADDRESS, "to": usdc,
                                                       "data": "0x" + data.hex()}])
        before = token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS)
        order = await place(traffic, "USDC")
        await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.WillNotProcess, 90,
                       "refused after its failures", tick=lambda: mine(devnet))
        path = await path_of(engine, order.transaction_id)
        assert path[:3] == [OrderStatus.Seen, OrderStatus.CommittedPending, OrderStatus.CommittedConfirmed]
        assert OrderStatus.RelayStarted not in path
        assert "would revert" in reason_of(engine, order.transaction_id)
        assert relayed_by(devnet, order.transaction_id) is None
        assert token_balance(devnet, DEST, "USDC", RELAYER_ADDRESS) == before
        usdc_view = next(i for i in engine.snapshot().inventory if i.chain_id == DEST and i.symbol == "USDC")
        assert usdc_view.committed == 0


async def test_the_committed_amounts_kept_in_memory_equal_the_databases_at_every_decision(devnet, traffic, tmp_path):
    from engine.relayer.machine import _committed_orders

    engine = make_engine(engine_config(devnet, tmp_path))
    relayer = engine.relayer
    compared: list[tuple[int, int]] = []
    kept = relayer._committed_dest

    async def checked(chain_id: int, token: str) -> int:
        counted = await kept(chain_id, token)
        stored = await engine.db.run_read(_committed_orders)
        reserved = relayer.reserved_amounts().get((chain_id, token.lower()), 0)
        compared.append((counted, sum(stored.get((chain_id, token.lower()), {}).values()) + reserved))
        return counted

    relayer._committed_dest = checked
    async with running(engine):
        await engine.execute(Arm())
        # one large order fits, the other waits for the first to leave the committed set
        txids = await _two_orders_in_one_block_that_only_one_can_be_funded(devnet, traffic)
        small = [await place(traffic, "USDC") for _ in range(2)]
        await wait_for(lambda: all(relayed_by(devnet, o.transaction_id) == RELAYER_ADDRESS for o in small)
                       and any(status_of(engine, t) == OrderStatus.NotEnoughInventory for t in txids), 60,
                       "the small orders relayed, one large one waiting", tick=lambda: mine(devnet))
        await wait_for(lambda: all((status_of(engine, o.transaction_id) or 0) >= OrderStatus.RelayCompleted
                                   for o in small), 30, "RelayCompleted", tick=lambda: mine(devnet))
        assert relayer._committed is not None  # counted in memory, not read again at each decision
        in_memory = {key: dict(held) for key, held in relayer._committed.items()}
        assert in_memory == await engine.db.run_read(_committed_orders)
    assert len(compared) >= 4
    assert all(counted == stored for counted, stored in compared), compared


async def test_a_read_of_the_committed_orders_that_overlapped_a_noted_write_is_read_again(devnet, tmp_path):
    from engine.relayer.machine import _committed_orders
    from engine.store import BridgeOrder

    engine = make_engine(engine_config(devnet, tmp_path))
    await engine.start()
    try:
        relayer = engine.relayer
        relayer._forget_committed()
        real_read = engine.db.run_read
        reads = []
        written = BridgeOrder(transaction_id="0x" + "01" * 32, dest_chain_id=DEST, dest_token="0x" + "ab" * 20,
                              dest_amount=5, status=int(OrderStatus.CommittedPending))

        async def overlapped(fn):
            result = await real_read(fn)
            if fn is _committed_orders:
                reads.append(result)
                if len(reads) == 1:  # a write of ours committed and was noted while this read was out
                    relayer._note_written(written)
            return result

        engine.db.run_read = overlapped
        assert await relayer._committed_dest(DEST, "0x" + "ab" * 20) == 0
        assert len(reads) == 2  # the first read could have missed that write: it was not kept
    finally:
        await engine.close()
