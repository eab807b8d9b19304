"""Reverts are final; a nonce the node rejects for good is filled by a self-transfer."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.chain.rpc import ExecutionReverted
from engine.chain.submitter import TxStatus
from engine.devnet.accounts import dev_account
from engine.store import OutboundTx, SignerNonce
from submitkit import REVERTER_INITCODE, chain_nonce, deploy, settle

CHAIN_ID = 92_003
PEER = dev_account(4).address


@pytest.fixture(scope="module")
def reverter(anvil_node) -> str:
    return deploy(anvil_node, REVERTER_INITCODE, dev_account(0).address)


async def _rows(db, signer) -> list[OutboundTx]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboundTx).where(OutboundTx.signer == signer.address.lower())
                                     .order_by(OutboundTx.nonce, OutboundTx.attempt))).all())


async def test_reverting_transaction_is_failed_and_not_retried(db, signer, make_submitter, reverter, anvil_node):
    sub = make_submitter(signer, bump_after=0.0)
    ref = await sub.submit(reverter, b"\x01", purpose="relay", gas_limit=100_000)
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.REVERTED and not outcome.ok and outcome.block_number is not None
    rows = await _rows(db, signer)
    mined = [r for r in rows if r.receipt_status is not None]
    assert [(r.state, r.receipt_status) for r in mined] == [("failed", 0)]
    # With bump_after=0 a tick may bump the nonce while the node mines it: that attempt is replaced.
    assert all(r.state == "replaced" and r.nonce == ref.nonce for r in rows if r not in mined)
    for _ in range(3):
        assert (await sub.tick()).empty
    assert [(r.id, r.state) for r in await _rows(db, signer)] == [(r.id, r.state) for r in rows]
    nxt = await sub.submit(PEER, b"", 1, purpose="relay")
    assert nxt.nonce == ref.nonce + 1  # the reverted nonce is consumed, never reused
    (outcome,) = await settle(sub, [nxt])
    assert outcome.status is TxStatus.MINED


async def test_gas_estimate_revert_allocates_nothing(db, signer, make_submitter, reverter):
    sub = make_submitter(signer)
    with pytest.raises(ExecutionReverted):
        await sub.submit(reverter, b"\x01", purpose="relay")
    assert await _rows(db, signer) == []
    async with db.read() as s:
        assert await s.get(SignerNonce, (CHAIN_ID, signer.address.lower())) is None


async def test_permanently_rejected_nonce_is_filled_by_a_self_transfer(db, signer, make_submitter, anvil_node):
    sub = make_submitter(signer)
    start = chain_nonce(anvil_node, signer.address, "pending")
    # A gas limit below the 21000 intrinsic gas: the node refuses this transaction for good.
    ref = await sub.submit(PEER, b"\x01" * 4, purpose="relay", gas_limit=20_000)
    outcome = await sub.status(ref)
    assert outcome.status is TxStatus.DROPPED and "intrinsic" in outcome.error.lower()
    later = await sub.submit(PEER, b"", 1, purpose="relay")
    assert later.nonce == start + 1
    (later_outcome,) = await settle(sub, [later])  # not stuck behind the rejected nonce
    assert later_outcome.status is TxStatus.MINED
    rejected, filler, nxt = await _rows(db, signer)
    assert (rejected.nonce, rejected.state, rejected.receipt_status) == (start, "failed", None)
    assert (filler.nonce, filler.attempt, filler.purpose, filler.state) == (start, 1, "self_transfer", "mined")
    assert filler.to_address == signer.address.lower() and filler.value == 0
    assert nxt.state == "mined" and chain_nonce(anvil_node, signer.address) == start + 2
    assert (await sub.status(ref)).status is TxStatus.DROPPED
