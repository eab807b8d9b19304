"""Calldata the relayer sends to FastBridgeV2 and ERC20s, and the views it reads back (REFERENCE §1).

Selectors are computed from the signatures, so a typo cannot silently call another function; the
tests check them against the selectors REFERENCE §1 lists.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from engine.protocol.codec import ZERO_ADDRESS, checksum_address, keccak256


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


RELAY = selector("relay(bytes)")
PROVE = selector("prove(bytes,bytes32)")
CLAIM = selector("claim(bytes,address)")
MULTICALL_NO_RESULTS = selector("multicallNoResults(bytes[],bool)")
BRIDGE_STATUSES = selector("bridgeStatuses(bytes32)")
BRIDGE_RELAY_DETAILS = selector("bridgeRelayDetails(bytes32)")
BRIDGE_PROOFS = selector("bridgeProofs(bytes32)")
CAN_CLAIM = selector("canClaim(bytes32,address)")
DISPUTE_PERIOD = selector("DISPUTE_PERIOD()")
BALANCE_OF = selector("balanceOf(address)")


def _tx_id(transaction_id: str | bytes) -> bytes:
    if isinstance(transaction_id, str):
        transaction_id = bytes.fromhex(transaction_id.removeprefix("0x"))
    if len(transaction_id) != 32:
        raise ValueError("a transactionId is 32 bytes")
    return bytes(transaction_id)


def encode_relay(request: bytes) -> bytes:
    return RELAY + abi_encode(["bytes"], [bytes(request)])


def encode_prove(request: bytes, dest_tx_hash: str | bytes) -> bytes:
    return PROVE + abi_encode(["bytes", "bytes32"], [bytes(request), _tx_id(dest_tx_hash)])


def encode_claim(request: bytes, to: str) -> bytes:
    return CLAIM + abi_encode(["bytes", "address"], [bytes(request), checksum_address(to)])


def encode_multicall_no_results(calls: list[bytes], *, ignore_reverts: bool = False) -> bytes:
    """The bridge's own batch: each call delegate-called by the bridge, so msg.sender stays the relayer.
    Not payable. Without `ignore_reverts`, one failing call reverts them all."""
    return MULTICALL_NO_RESULTS + abi_encode(["bytes[]", "bool"], [[bytes(c) for c in calls], ignore_reverts])


def encode_bridge_statuses(transaction_id: str | bytes) -> bytes:
    return BRIDGE_STATUSES + abi_encode(["bytes32"], [_tx_id(transaction_id)])


def encode_bridge_relay_details(transaction_id: str | bytes) -> bytes:
    return BRIDGE_RELAY_DETAILS + abi_encode(["bytes32"], [_tx_id(transaction_id)])


def encode_bridge_proofs(transaction_id: str | bytes) -> bytes:
    return BRIDGE_PROOFS + abi_encode(["bytes32"], [_tx_id(transaction_id)])


def encode_can_claim(transaction_id: str | bytes, relayer: str) -> bytes:
    return CAN_CLAIM + abi_encode(["bytes32", "address"], [_tx_id(transaction_id), checksum_address(relayer)])


@functools.lru_cache(maxsize=256)
def encode_balance_of(owner: str) -> bytes:
    """Asked at every head for the same few owners: encoded once each."""
    return BALANCE_OF + abi_encode(["address"], [checksum_address(owner)])


@dataclass(frozen=True, slots=True)
class RelayDetails:
    block_number: int
    block_timestamp: int
    relayer: str | None  # checksum address; None when not relayed


@dataclass(frozen=True, slots=True)
class ProofDetails:
    timestamp: int  # the proof's block timestamp (origin chain time)
    relayer: str | None  # None when no proof is recorded


def _address_or_none(value: str) -> str | None:
    address = checksum_address(value)
    return None if address == ZERO_ADDRESS else address


def decode_uint(raw: bytes) -> int:
    (value,) = abi_decode(["uint256"], raw)
    return value


def decode_bool(raw: bytes) -> bool:
    (value,) = abi_decode(["bool"], raw)
    return value


def decode_relay_details(raw: bytes) -> RelayDetails:
    block_number, block_timestamp, relayer = abi_decode(["uint48", "uint48", "address"], raw)
    return RelayDetails(block_number, block_timestamp, _address_or_none(relayer))


def decode_proof_details(raw: bytes) -> ProofDetails:
    timestamp, relayer = abi_decode(["uint96", "address"], raw)
    return ProofDetails(timestamp, _address_or_none(relayer))
