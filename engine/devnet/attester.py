"""The devnet's local CCTP attester: signs burn messages the way Circle's attestation service does."""
from __future__ import annotations

from eth_account import Account

from engine.devnet.accounts import ATTESTER, dev_account
from engine.protocol.codec import keccak256


def attest(message: bytes) -> bytes:
    """A 65-byte (r, s, v) signature of keccak256(message) by the devnet attester key."""
    signed = Account.unsafe_sign_hash(keccak256(message), dev_account(ATTESTER).private_key)
    return signed.signature
