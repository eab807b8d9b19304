"""EIP-1559 transactions signed directly: keccak, RLP and secp256k1 (coincurve).

eth_account's ``sign_transaction`` takes ~0.4 ms per transaction validating, normalising and re-encoding
a dictionary the submitter built itself; this takes ~0.04 ms (measured on the session machine) and gives
the same bytes (RFC 6979 signatures are deterministic; tests compare both byte for byte). Only what the
submitter sends: a type-2 transaction to an address, with an empty access list.
"""
from __future__ import annotations

from typing import NamedTuple

import coincurve
from eth_account.signers.local import LocalAccount

from engine.protocol.codec import keccak256


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
        fields = b"".join((_rlp_int(tx.chain_id), _rlp_int(tx.nonce), _rlp_int(tx.max_priority_fee_per_gas),
                           _rlp_int(tx.max_fee_per_gas), _rlp_int(tx.gas), _rlp_bytes(tx.to), _rlp_int(tx.value),
                           _rlp_bytes(tx.data), _EMPTY_LIST))
        signature = self._key.sign_recoverable(keccak256(b"\x02" + _rlp_list(fields)), hasher=None)
        r, s, y_parity = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
        raw = b"\x02" + _rlp_list(fields + _rlp_int(y_parity) + _rlp_int(r) + _rlp_int(s))
        return raw, keccak256(raw)


# RLP of the only shapes a transaction has (byte strings, unsigned ints, flat lists), by hand: pyrlp infers
# a serializer for every item and was half of the signing time
_EMPTY_LIST = b"\xc0"


def _rlp_length(offset: int, length: int) -> bytes:
    if length <= 55:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def _rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _rlp_length(0x80, len(value)) + value


def _rlp_int(value: int) -> bytes:
    return _rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))  # 0 is the empty string


def _rlp_list(payload: bytes) -> bytes:
    return _rlp_length(0xC0, len(payload)) + payload
