"""The submitter's own EIP-1559 signing gives exactly eth_account's bytes, and hides its key."""
from __future__ import annotations

import random

from eth_account import Account
from eth_utils import to_checksum_address

from engine.chain.signing import Eip1559Signer, Eip1559Tx

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil dev account #1


def test_signed_bytes_and_hash_equal_eth_accounts_for_every_shape_the_submitter_sends():
    account = Account.from_key(KEY)
    signer = Eip1559Signer(account)
    rng = random.Random(7)
    shapes = [(0, 0, b""), (2**256 - 1, 2**64 - 1, b"\x00"), (10**17, 0, bytes(rng.randrange(256) for _ in range(900)))]
    shapes += [(rng.randrange(2**96), rng.randrange(2**40), rng.randbytes(rng.randrange(0, 400))) for _ in range(40)]
    # RLP's boundaries: a single byte below / at 0x80, strings of 55 and 56 bytes, ints of one and two bytes
    shapes += [(127, 128, b"\x7f"), (128, 127, b"\x80"), (255, 256, bytes(55)), (256, 55, bytes(56)), (1, 1, bytes(256))]
    for i, (value, nonce, data) in enumerate(shapes):
        to = rng.randbytes(20)
        tx = Eip1559Tx(rng.choice([1, 10, 31337, 8453, 2**40]), nonce, rng.randrange(0, 2**40), rng.randrange(1, 2**70),
                       rng.randrange(21_000, 30_000_000), to, value, data)
        raw, tx_hash = signer.sign(tx)
        want = account.sign_transaction({
            "type": 2, "chainId": tx.chain_id, "nonce": tx.nonce, "to": to_checksum_address(to), "value": value, "data": data,
            "gas": tx.gas, "maxFeePerGas": tx.max_fee_per_gas, "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
            "accessList": []})
        assert (raw, tx_hash) == (bytes(want.raw_transaction), bytes(want.hash)), i
        assert Account.recover_transaction(raw) == account.address


def test_the_signer_never_shows_its_key():
    signer = Eip1559Signer(Account.from_key(KEY))
    assert KEY[2:] not in repr(signer) and KEY[2:] not in str(signer)
    assert not hasattr(signer, "__dict__")
