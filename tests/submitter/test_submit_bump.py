"""Fee bumps at the same nonce, with anvil's automine off (blocks mined by hand with evm_mine)."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from engine.chain.fees import FeeConfig, FeePolicy
from engine.chain.submitter import TxStatus
from engine.devnet.accounts import dev_account
from engine.store import OutboundTx
from submitkit import chain_nonce, settle

CHAIN_ID = 92_002
PEER = dev_account(4).address


@pytest.fixture
def manual_mining(anvil_node):
    anvil_node.rpc("evm_setAutomine", [False])
    try:
        yield anvil_node
    finally:
        anvil_node.rpc("evm_setAutomine", [True])
        anvil_node.rpc("evm_mine", [])


async def _rows(db, signer) -> list[OutboundTx]:
    async with db.read() as s:
        return list((await s.scalars(select(OutboundTx).where(OutboundTx.signer == signer.address.lower())
                                     .order_by(OutboundTx.nonce, OutboundTx.attempt))).all())


def _pool_hashes(node, address: str) -> list[str]:
    content = node.rpc("txpool_content", [])
    hashes = []
    for section in ("pending", "queued"):
        for sender, by_nonce in content.get(section, {}).items():
            if sender.lower() == address.lower():
                hashes += [tx["hash"] for tx in by_nonce.values()]
    return hashes


async def test_stuck_transaction_is_bumped_at_the_same_nonce(db, signer, make_submitter, manual_mining):
    node = manual_mining
    sub = make_submitter(signer, bump_after=0.3)
    start = chain_nonce(node, signer.address, "pending")
    ref = await sub.submit(PEER, b"", 1, purpose="relay")
    assert (await sub.tick()).bumped == []  # too young to bump
    await asyncio.sleep(0.35)
    report = await sub.tick()
    assert len(report.bumped) == 1
    bump = report.bumped[0]
    old, new = await _rows(db, signer)
    assert (new.nonce, new.attempt, new.id) == (ref.nonce, 1, bump.id) and old.nonce == ref.nonce
    assert Fraction(new.max_fee_per_gas, old.max_fee_per_gas) >= Fraction(9, 8)
    assert Fraction(new.max_priority_fee_per_gas, old.max_priority_fee_per_gas) >= Fraction(9, 8)
    assert (old.state, new.state) == ("broadcast", "broadcast")  # the old one stays until one mines
    assert (old.data, old.to_address, old.value, old.gas_limit) == (new.data, new.to_address, new.value,
                                                                    new.gas_limit)
    assert _pool_hashes(node, signer.address) == [new.tx_hash]  # the node replaced it

    node.rpc("evm_mine", [])
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED and outcome.tx_hash == new.tx_hash and outcome.attempts == 2
    old, new = await _rows(db, signer)
    assert (old.state, new.state) == ("replaced", "mined")
    assert chain_nonce(node, signer.address) == start + 1


async def test_no_bump_past_the_fee_ceiling_keeps_waiting(db, signer, make_submitter, manual_mining, rpc):
    node = manual_mining
    suggested = await FeePolicy(rpc).suggest()
    ceiling = Decimal(suggested.max_fee_per_gas) / 10**9  # exactly what the first attempt will pay
    sub = make_submitter(signer, bump_after=0.0, fee_config=FeeConfig(max_fee_ceiling_gwei=ceiling))
    ref = await sub.submit(PEER, b"", 1, purpose="relay")
    (row,) = await _rows(db, signer)
    assert row.max_fee_per_gas <= suggested.max_fee_per_gas
    report = await sub.tick()
    assert report.bumped == [] and [n for n, _ in report.stuck] == [ref.nonce]
    assert "ceiling" in report.stuck[0][1]
    assert len(await _rows(db, signer)) == 1  # no new attempt
    node.rpc("evm_mine", [])
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED


async def test_no_bump_past_the_gas_balance(db, signer, make_submitter, manual_mining):
    node = manual_mining
    sub = make_submitter(signer, bump_after=0.0)
    original = node.rpc("eth_getBalance", [signer.address, "latest"])
    ref = await sub.submit(PEER, b"", 0, purpose="relay")
    (row,) = await _rows(db, signer)
    node.rpc("anvil_setBalance", [signer.address, hex(row.gas_limit * row.max_fee_per_gas)])
    try:
        report = await sub.tick()
        assert report.bumped == [] and "gas balance" in report.stuck[0][1]
        assert len(await _rows(db, signer)) == 1
    finally:
        node.rpc("anvil_setBalance", [signer.address, original])
    node.rpc("evm_mine", [])
    (outcome,) = await settle(sub, [ref])
    assert outcome.status is TxStatus.MINED


async def test_a_tick_after_a_first_send_does_not_send_it_again(db, signer, make_submitter, manual_mining,
                                                                monkeypatch):
    sub = make_submitter(signer)
    ref = await sub.submit(PEER, b"", 1, purpose="relay")  # sent; its mark waits for the next tick's write
    sends: list[bytes] = []
    real_send = sub.rpc.send_raw_transaction

    async def counted(raw):
        sends.append(raw)
        return await real_send(raw)

    monkeypatch.setattr(sub.rpc, "send_raw_transaction", counted)
    report = await sub.tick()  # read the attempt as "signed", then wrote its mark: not a reason to send again
    assert report.rebroadcast == [] and sends == []
    (row,) = await _rows(db, signer)
    assert row.state == "broadcast" and row.tx_hash == ref.tx_hash and row.broadcast_at is not None
    assert (await sub.tick()).rebroadcast == [] and sends == []


async def test_a_tick_asks_only_for_the_receipts_the_chains_count_says_exist(db, signer, make_submitter,
                                                                            manual_mining, monkeypatch):
    node = manual_mining
    sub = make_submitter(signer)
    refs = [await sub.submit(PEER, b"", i + 1, purpose="relay") for i in range(3)]
    asked: list[str] = []
    real_receipt = sub.rpc.get_transaction_receipt

    async def counted(tx_hash):
        asked.append(tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex())
        return await real_receipt(tx_hash)

    monkeypatch.setattr(sub.rpc, "get_transaction_receipt", counted)
    await sub.tick()
    assert asked == [] and len(await sub.pending()) == 3  # nothing mined: no receipt can exist
    node.rpc("evm_mine", [])
    report = await sub.tick()
    assert sorted(asked) == sorted(r.tx_hash for r in refs)
    assert sorted(v.tx_hash for v in report.mined) == sorted(r.tx_hash for r in refs)
