"""TransactionSubmitter against real anvil (automine) and real SQLite / PostgreSQL: the core flow."""
from __future__ import annotations

import asyncio
import logging

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from sqlalchemy import select

from engine.chain.rpc import ExecutionReverted, SendOutcomeUnknown
from engine.chain.submitter import (
    InsufficientGasBalance,
    TxStatus,
    UINT256_MAX,
    list_outbound_txs,
)
from engine.devnet.accounts import dev_account
from engine.devnet.contracts_registry import load_artifact
from engine.store import BridgeOrder, OutboundTx, SignerNonce
from submitkit import chain_nonce, deploy, settle, wait_receipt

CHAIN_ID = 92_001
PEER = dev_account(4).address  # a plain recipient


async def _rows(db, signer) -> list[OutboundTx]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboundTx).where(OutboundTx.signer == signer.address.lower())
                                     .order_by(OutboundTx.nonce, OutboundTx.attempt))).all())


async def _next_nonce(db, signer) -> int | None:
    async with db.read() as s:
        row = await s.get(SignerNonce, (CHAIN_ID, signer.address.lower()))
    return None if row is None else row.next_nonce


def _order(n: int) -> BridgeOrder:
    h = lambda b, k: "0x" + f"{b:02x}" * k  # noqa: E731
    return BridgeOrder(
        transaction_id="0x" + f"{n:064x}", request=b"\x00\x02" + bytes(8), version=2, origin_chain_id=CHAIN_ID,
        dest_chain_id=10, origin_sender=h(0x11, 20), dest_recipient=h(0x22, 20), origin_token=h(0xEE, 20),
        dest_token=h(0xEE, 20), origin_amount=10**18, dest_amount=10**18, origin_fee_amount=0, deadline=2**40,
        nonce=n, origin_block_number=1, origin_block_hash=h(0xB0, 32), origin_tx_hash=h(0xC0, 32),
        origin_log_index=0, status=1)


async def test_submit_mines_and_is_listed_by_order(db, signer, make_submitter, anvil_node):
    async with db.write() as s:
        s.add(_order(7))
    order_id = "0x" + f"{7:064x}"
    sub = make_submitter(signer)
    start = chain_nonce(anvil_node, signer.address, "pending")
    before = int(anvil_node.rpc("eth_getBalance", [PEER, "latest"]), 16)
    ref = await sub.submit(PEER, b"", 12345, purpose="relay", transaction_id=order_id)
    assert ref.nonce == start and ref.attempt == 0
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED and outcome.ok
    assert outcome.tx_hash == ref.tx_hash and outcome.block_number is not None
    receipt = wait_receipt(anvil_node, ref.tx_hash)
    assert int(receipt["blockNumber"], 16) == outcome.block_number
    assert int(anvil_node.rpc("eth_getBalance", [PEER, "latest"]), 16) == before + 12345
    (row,) = await _rows(db, signer)
    assert row.state == "mined" and row.receipt_status == 1 and row.broadcast_at and row.mined_at
    assert row.gas_limit == 25_200  # 21000 estimated + 20 %
    assert await _next_nonce(db, signer) == start + 1
    listed = await list_outbound_txs(db, order_id)
    assert [(v.nonce, v.state, v.purpose) for v in listed] == [(start, "mined", "relay")]
    assert await sub.transactions(order_id) == listed
    assert await sub.pending() == []


async def test_concurrent_submits_get_consecutive_nonces(db, signer, make_submitter, anvil_node):
    sub = make_submitter(signer)
    start = chain_nonce(anvil_node, signer.address, "pending")
    refs = await asyncio.gather(*(sub.submit(PEER, b"", i + 1, purpose="rebalance") for i in range(20)))
    assert sorted(r.nonce for r in refs) == list(range(start, start + 20))
    outcomes = await settle(sub, list(refs), timeout=30)
    assert all(o.status is TxStatus.MINED for o in outcomes)
    assert chain_nonce(anvil_node, signer.address) == start + 20  # no gap, nothing extra
    rows = await _rows(db, signer)
    assert len(rows) == 20 and {r.state for r in rows} == {"mined"}
    assert await _next_nonce(db, signer) == start + 20


async def test_crash_between_persist_and_broadcast_is_recovered_once(db, signer, make_submitter, anvil_node):
    crashed = make_submitter(signer)
    start = chain_nonce(anvil_node, signer.address, "pending")
    ref = await crashed._prepare(PEER, b"", 777, purpose="relay")  # persisted and committed, never broadcast
    (row,) = await _rows(db, signer)
    assert row.state == "signed" and row.raw_tx and row.tx_hash == ref.tx_hash
    assert anvil_node.rpc("eth_getTransactionByHash", [ref.tx_hash]) is None

    restarted = make_submitter(signer)
    report = await restarted.reconcile()
    assert ref.tx_hash in report.rebroadcast
    await restarted.reconcile()  # twice: the same bytes again, idempotent by hash
    (outcome,) = await settle(restarted, [ref])
    assert outcome.status is TxStatus.MINED and outcome.tx_hash == ref.tx_hash
    assert chain_nonce(anvil_node, signer.address) == start + 1  # mined exactly once
    (row,) = await _rows(db, signer)
    assert row.state == "mined"
    nxt = await restarted.submit(PEER, b"", 1, purpose="relay")
    assert nxt.nonce == start + 1


async def test_broadcast_outcome_unknown_stays_signed_then_rebroadcast(db, signer, make_submitter, rpc,
                                                                      monkeypatch):
    sub = make_submitter(signer)

    async def lost(raw):  # the request may or may not have reached the node
        raise SendOutcomeUnknown(CHAIN_ID, "eth_sendRawTransaction", "outcome unknown: timeout")

    monkeypatch.setattr(rpc, "send_raw_transaction", lost)
    ref = await sub.submit(PEER, b"", 5, purpose="claim")
    (row,) = await _rows(db, signer)
    assert row.state == "signed" and "outcome unknown" in row.error
    assert (await sub.status(ref)).status is TxStatus.PENDING
    report = await sub.tick()  # sent again, lost again: still live, as the operator's count shows
    assert report.rebroadcast == [ref.tx_hash] and report.still_live == 1 == len(await sub.pending())
    monkeypatch.undo()
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED
    assert (await sub.tick()).still_live == 0 == len(await sub.pending())


async def test_reconcile_moves_next_nonce_forward_when_chain_is_ahead(db, signer, make_submitter, anvil_node):
    sub = make_submitter(signer)
    first = await sub.submit(PEER, b"", 1, purpose="relay")
    await settle(sub, [first])
    # Someone sends three transactions with the same key, outside the engine.
    for i in range(3):
        tx = dict(type=2, chainId=CHAIN_ID, nonce=first.nonce + 1 + i, to=PEER, value=1, gas=21_000,
                  maxFeePerGas=10**11, maxPriorityFeePerGas=10**9)
        raw = bytes(signer.sign_transaction(tx).raw_transaction)
        wait_receipt(anvil_node, anvil_node.rpc("eth_sendRawTransaction", ["0x" + raw.hex()]))
    assert await _next_nonce(db, signer) == first.nonce + 1

    restarted = make_submitter(signer)
    await restarted.reconcile()
    assert await _next_nonce(db, signer) == first.nonce + 4
    ref = await restarted.submit(PEER, b"", 1, purpose="relay")
    assert ref.nonce == first.nonce + 4
    (outcome,) = await settle(restarted, [ref])
    assert outcome.status is TxStatus.MINED


async def test_nonce_used_outside_without_reconcile_is_dropped_then_recovers(db, signer, make_submitter,
                                                                             anvil_node):
    sub = make_submitter(signer)
    first = await sub.submit(PEER, b"", 1, purpose="relay")
    await settle(sub, [first])
    for i in range(2):
        tx = dict(type=2, chainId=CHAIN_ID, nonce=first.nonce + 1 + i, to=PEER, value=1, gas=21_000,
                  maxFeePerGas=10**11, maxPriorityFeePerGas=10**9)
        raw = bytes(signer.sign_transaction(tx).raw_transaction)
        wait_receipt(anvil_node, anvil_node.rpc("eth_sendRawTransaction", ["0x" + raw.hex()]))
    clash = await sub.submit(PEER, b"", 2, purpose="relay")  # this process still believes first.nonce + 1
    assert clash.nonce == first.nonce + 1
    outcome = await sub.status(clash)
    assert outcome.status is TxStatus.DROPPED and "not ours" in outcome.error
    ref = await sub.submit(PEER, b"", 3, purpose="relay")
    assert ref.nonce == first.nonce + 3
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED


async def test_insufficient_gas_balance_is_refused_without_using_a_nonce(db, signer, make_submitter, anvil_node):
    sub = make_submitter(signer)
    start = chain_nonce(anvil_node, signer.address, "pending")
    original = anvil_node.rpc("eth_getBalance", [signer.address, "latest"])
    anvil_node.rpc("anvil_setBalance", [signer.address, hex(10**15)])
    try:
        with pytest.raises(InsufficientGasBalance, match="insufficient gas balance") as info:
            await sub.submit(PEER, b"", 10**15, purpose="relay")
        assert info.value.needed > info.value.balance == 10**15
        assert "no nonce was used" in str(info.value)
        assert await _rows(db, signer) == []
        assert await _next_nonce(db, signer) in (None, start)
    finally:
        anvil_node.rpc("anvil_setBalance", [signer.address, original])
    ref = await sub.submit(PEER, b"", 10**15, purpose="relay")
    assert ref.nonce == start
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED


async def test_private_key_is_never_stored_nor_logged(db, signer, make_submitter, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    sub = make_submitter(signer)
    refs = [await sub.submit(PEER, b"\x01\x02", 3, purpose="relay", gas_limit=30_000) for _ in range(2)]
    await settle(sub, refs)
    await sub.reconcile()
    key = bytes(signer.key)
    needles = {key.hex(), key.hex().upper(), "0x" + key.hex()}
    rows = await _rows(db, signer)
    assert rows
    for row in rows:
        for column in OutboundTx.__table__.columns:
            value = getattr(row, column.key)
            if isinstance(value, bytes):
                assert key not in value and not any(n.encode() in value for n in needles), column.key
            else:
                assert not any(n in str(value) for n in needles), column.key
    assert not any(n in caplog.text for n in needles)
    assert not any(n in repr(sub) for n in needles)
    if db.backend == "sqlite":  # the whole database file, WAL included
        for path in tmp_path.glob("submitter.db*"):
            blob = path.read_bytes()
            assert key not in blob and not any(n.encode() in blob for n in needles)


async def test_ensure_approval_approves_max_once(db, signer, make_submitter, anvil_node, rpc):
    art = load_artifact("DevToken")
    deployer = dev_account(0).address
    token = deploy(anvil_node, art.bytecode + abi_encode(["string", "string", "uint8", "address"],
                                                         ["Dev USD", "DUSD", 6, deployer]), deployer)
    spender = Account.create().address
    sub = make_submitter(signer)
    assert await sub.allowance(token, spender) == 0
    ref = await sub.ensure_approval(token, spender, 10**6)
    assert ref is not None and ref.purpose == "approve"
    assert await sub.ensure_approval(token, spender, 10**6) in (None, ref)  # pending one reused, never a 2nd
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED
    assert await sub.allowance(token, spender) == UINT256_MAX
    assert await sub.ensure_approval(token, spender, 10**30) is None
    assert len(await _rows(db, signer)) == 1


async def test_a_tick_during_the_first_send_does_not_send_the_same_bytes_again(db, signer, make_submitter):
    sub = make_submitter(signer)
    send = sub.rpc.send_raw_transaction
    sends: list[bytes] = []
    release = asyncio.Event()

    async def slow_send(raw):  # the first send is held on the way to the node while a tick runs
        sends.append(bytes(raw))
        if len(sends) == 1:
            await release.wait()
        return await send(raw)

    sub.rpc.send_raw_transaction = slow_send
    submitting = asyncio.create_task(sub.submit(PEER, b"", 1, purpose="relay"))
    while not sends:
        await asyncio.sleep(0.01)
    report = await sub.tick()
    assert report.rebroadcast == [] and len(sends) == 1
    release.set()
    ref = await submitting
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED and len(sends) == 1



def _count_reads(monkeypatch, rpc) -> list[str]:
    """Every gas estimate, eth_call and balance read the submitter asks the node for, in order."""
    reads: list[str] = []
    for name in ("estimate_gas", "call", "get_balance"):
        real = getattr(rpc, name)

        async def counted(*args, _real=real, _name=name, **kwargs):
            reads.append(_name)
            return await _real(*args, **kwargs)

        monkeypatch.setattr(rpc, name, counted)
    return reads


async def test_a_send_takes_the_reads_prefetched_for_exactly_its_call(db, signer, make_submitter, rpc, monkeypatch):
    sub = make_submitter(signer)
    reads = _count_reads(monkeypatch, rpc)
    sub.prefetch(PEER.lower(), b"", 5)  # any spelling of the address: the same call
    sub.prefetch(PEER, b"", 5)  # asked twice: read once
    await asyncio.sleep(0)  # the reads start
    assert sorted(reads) == ["estimate_gas", "get_balance"]
    ref = await sub.submit(PEER, b"", 5, purpose="relay")
    assert sorted(reads) == ["estimate_gas", "get_balance"], "the send read again"
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED

    # another call (other value) is not served by a prefetch of this one, and a taken prefetch is gone; calls of
    # the shape estimated above have their gas limit checked by one eth_call each
    del reads[:]
    sub.prefetch(PEER, b"", 6)
    await sub.submit(PEER, b"", 7, purpose="relay")
    await sub.submit(PEER, b"", 6, purpose="relay")
    await sub.submit(PEER, b"", 6, purpose="relay")
    assert sorted(reads) == sorted(["call", "get_balance"] * 3)


async def test_a_known_gas_limit_is_checked_by_one_call_and_learned_again_when_short(
        db, signer, make_submitter, rpc, monkeypatch):
    sub = make_submitter(signer)
    reads = _count_reads(monkeypatch, rpc)
    limit = lambda gas: -(-gas * 6 // 5)  # the estimate plus 20 %, rounded up
    short = bytes.fromhex("01020304")  # calldata to a plain account: its gas grows with its nonzero bytes
    refs = [await sub.submit(PEER, short, 1, purpose="relay")]
    assert sorted(reads) == ["estimate_gas", "get_balance"]
    del reads[:]
    refs.append(await sub.submit(PEER, short + bytes(2), 1, purpose="relay"))  # the same shape, 8 more gas
    assert sorted(reads) == ["call", "get_balance"], "checked at the known limit, not estimated"
    del reads[:]
    refs.append(await sub.submit(PEER, short + b"\xff" * 1000, 1, purpose="relay"))  # more than the known limit
    assert sorted(reads) == ["call", "estimate_gas", "get_balance"], "the check failed: the estimate decides"
    del reads[:]
    refs.append(await sub.submit(PEER, short, 1, purpose="relay"))
    assert sorted(reads) == ["call", "get_balance"], "the larger limit is the shape's limit now"
    outcomes = await settle(sub, refs)
    assert [o.status for o in outcomes] == [TxStatus.MINED] * 4 and all(o.ok for o in outcomes)
    estimate = [limit(await rpc.estimate_gas(PEER, data, from_address=signer.address, value=1))
                for data in (short, short + b"\xff" * 1000)]
    assert estimate[1] > estimate[0]
    assert [row.gas_limit for row in await _rows(db, signer)] == [estimate[0], estimate[0], estimate[1], estimate[1]]


async def test_a_noted_gas_balance_stands_in_for_a_read_until_one_of_ours_settles(
        db, signer, make_submitter, rpc, monkeypatch):
    sub = make_submitter(signer)
    await sub.submit(PEER, b"", 1, purpose="relay")  # the call's gas limit is known from here on
    reads = _count_reads(monkeypatch, rpc)
    sub.note_gas_balance(await rpc.get_balance(signer.address), sub.settlements)
    del reads[:]
    first = await sub.submit(PEER, b"", 2, purpose="relay")
    assert reads == ["call"], "the noted balance was taken"
    (outcome,) = await settle(sub, [first])  # our transaction settles: the noted balance may predate its spend
    assert outcome.status is TxStatus.MINED
    del reads[:]
    await sub.submit(PEER, b"", 3, purpose="relay")
    assert sorted(reads) == ["call", "get_balance"]
    # a balance noted too low is judged as a read one would be: the send is refused and nothing is allocated
    sub.note_gas_balance(1, sub.settlements)
    nonce = await _next_nonce(db, signer)
    with pytest.raises(InsufficientGasBalance):
        await sub.submit(PEER, b"", 4, purpose="relay")
    assert await _next_nonce(db, signer) == nonce


async def test_a_stale_or_reverting_prefetch(db, signer, make_submitter, rpc, anvil_node, monkeypatch):
    sub = make_submitter(signer)
    reads = _count_reads(monkeypatch, rpc)
    sub._prefetched.max_age = 0.05
    sub.prefetch(PEER, b"", 5)
    await asyncio.sleep(0.1)
    await sub.submit(PEER, b"", 5, purpose="relay")
    assert len(reads) == 4, "a prefetch older than its age limit is not used"

    # the prefetched estimate reverts: the send raises as a live read would, and allocates nothing
    reverting = bytes.fromhex("60006000fd")  # init code that reverts: a create estimate fails
    start = chain_nonce(anvil_node, signer.address, "pending")
    real_estimate = rpc.estimate_gas

    async def revert_for_this_call(to, data=b"", **kwargs):
        if data == reverting:
            return await real_estimate(None, reverting)
        return await real_estimate(to, data, **kwargs)

    monkeypatch.setattr(rpc, "estimate_gas", revert_for_this_call)
    sub.prefetch(PEER, reverting, 0)
    with pytest.raises(ExecutionReverted):
        await sub.submit(PEER, reverting, 0, purpose="relay")
    assert await _next_nonce(db, signer) == start


async def test_prefetches_are_bounded(db, signer, make_submitter, rpc, monkeypatch):
    sub = make_submitter(signer)
    sub._prefetched.limit = 3
    reads = _count_reads(monkeypatch, rpc)
    for value in range(1, 10):
        sub.prefetch(PEER, b"", value)
    await asyncio.sleep(0)
    assert len(sub._prefetched) == 3 and len(reads) == 6
