"""EIP-1559 transactions signed directly: keccak, RLP and secp256k1 (coincurve).

eth_account's ``sign_transaction`` takes ~0.4 ms per transaction validating, normalising and re-encoding
a dictionary the submitter built itself; this takes ~0.09 ms (measured on the session machine) and gives
the same bytes (RFC 6979 signatures are deterministic; tests compare both byte for byte). Only what the
submitter sends: a type-2 transaction to an address, with an empty access list.
"""
from __future__ import annotations

from typing import NamedTuple

import coincurve
import rlp
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak


class Eip1559Tx(NamedTuple):
    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas: int
    to: bytes  # 20 bytes
    value: int
    data: bytes


class Eip1559Signer:
    """Signs for one account. The key lives only in this object (and the account it came from): it has
    no attribute that prints it, and nothing here logs."""

    __slots__ = ("_key",)

    def __init__(self, account: LocalAccount) -> None:
        self._key = coincurve.PrivateKey(bytes(account.key))

    def __repr__(self) -> str:
        return "Eip1559Signer(<key hidden>)"

    def sign(self, tx: Eip1559Tx) -> tuple[bytes, bytes]:
        """The raw signed transaction and its hash."""
        if len(tx.to) != 20:
            raise ValueError("a transaction's `to` is 20 bytes")
        fields = [tx.chain_id, tx.nonce, tx.max_priority_fee_per_gas, tx.max_fee_per_gas, tx.gas, tx.to, tx.value,
                  tx.data, []]
        signature = self._key.sign_recoverable(keccak(b"\x02" + rlp.encode(fields)), hasher=None)
        r, s, y_parity = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
        raw = b"\x02" + rlp.encode([*fields, y_parity, r, s])
        return raw, keccak(raw)
