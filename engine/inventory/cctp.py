"""Rebalance execution through a CCTP burn/mint: calldata, the MessageSent decoder, attestation sources,
and the Initiated -> Pending -> Completed (or Failed) life of one rebalance.

The same code fits Circle's CCTP V1 contracts and the devnet's (engine/devnet/contracts): both expose
`TokenMessenger.depositForBurn(uint256,uint32,bytes32,address)`, `MessageTransmitter.receiveMessage(bytes,
bytes)`, `usedNonces(bytes32)` and the `MessageSent(bytes)` event, with the same message layout. The
attestation comes from Circle's API (`GET {base}/attestations/{messageHash}`) or the devnet's local attester.

The flow never sends by itself: `CctpRebalanceDriver.step` asks the engine's callables to send (through the
durable TransactionSubmitter, purpose "approve" / "rebalance"), to look receipts up and to read the chain.
Each step is one decision plus at most one side effect on an immutable `CctpRebalance`, which the engine
persists between steps. Timeouts run on the origin chain's clock.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

import httpx
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from engine.chain.rpc import RawLog, TxReceipt
from engine.chain.submitter import encode_approve
from engine.config import MmtuiConfig
from engine.inventory.rebalance import RebalanceProposal
from engine.protocol.calls import decode_uint, selector
from engine.protocol.codec import keccak256
from engine.units import format_units

__all__ = [
    "DEPOSIT_FOR_BURN",
    "RECEIVE_MESSAGE",
    "USED_NONCES",
    "MESSAGE_SENT_TOPIC",
    "CctpMessage",
    "BurnMessage",
    "encode_deposit_for_burn",
    "encode_receive_message",
    "encode_used_nonces",
    "address_to_bytes32",
    "decode_message_sent",
    "find_message_sent",
    "parse_message",
    "parse_burn_message",
    "message_hash",
    "AttestationSource",
    "AttestationError",
    "LocalAttester",
    "CIRCLE_ATTESTATION_API",
    "CircleAttestationApi",
    "RebalanceStatus",
    "FINAL_STATUSES",
    "CctpRebalance",
    "SendTransaction",
    "ReceiptLookup",
    "ChainCall",
    "CctpRebalanceDriver",
]

DEPOSIT_FOR_BURN = selector("depositForBurn(uint256,uint32,bytes32,address)")
RECEIVE_MESSAGE = selector("receiveMessage(bytes,bytes)")
USED_NONCES = selector("usedNonces(bytes32)")
MESSAGE_SENT_TOPIC = keccak256(b"MessageSent(bytes)")

_MESSAGE_BODY_INDEX = 116  # CCTP V1 message header length
_BURN_MESSAGE_LENGTH = 132


def address_to_bytes32(address: str) -> bytes:
    """A left-padded address, as CCTP names recipients and senders."""
    return bytes(12) + bytes.fromhex(to_checksum_address(address)[2:])


def _bytes32_to_address(word: bytes) -> str:
    return to_checksum_address(word[12:])


def encode_deposit_for_burn(amount: int, destination_domain: int, mint_recipient: str, burn_token: str) -> bytes:
    return DEPOSIT_FOR_BURN + abi_encode(
        ["uint256", "uint32", "bytes32", "address"],
        [amount, destination_domain, address_to_bytes32(mint_recipient), to_checksum_address(burn_token)])


def encode_receive_message(message: bytes, attestation: bytes) -> bytes:
    return RECEIVE_MESSAGE + abi_encode(["bytes", "bytes"], [bytes(message), bytes(attestation)])


def encode_used_nonces(source_domain: int, nonce: int) -> bytes:
    """`usedNonces(keccak256(abi.encodePacked(uint32 sourceDomain, uint64 nonce)))`: 1 once received."""
    key = keccak256(source_domain.to_bytes(4, "big") + nonce.to_bytes(8, "big"))
    return USED_NONCES + abi_encode(["bytes32"], [key])


@dataclass(frozen=True, slots=True)
class CctpMessage:
    """A CCTP V1 message (MessageTransmitter layout)."""

    version: int
    source_domain: int
    destination_domain: int
    nonce: int
    sender: str  # the source TokenMessenger
    recipient: str  # the destination TokenMessenger
    destination_caller: bytes  # 32 bytes; zero = anyone may deliver
    body: bytes


@dataclass(frozen=True, slots=True)
class BurnMessage:
    """The TokenMessenger's message body (CCTP V1 BurnMessage)."""

    version: int
    burn_token: str
    mint_recipient: str
    amount: int
    message_sender: str


def parse_message(message: bytes) -> CctpMessage:
    if len(message) < _MESSAGE_BODY_INDEX:
        raise ValueError(f"a CCTP message has at least {_MESSAGE_BODY_INDEX} bytes, got {len(message)}")
    return CctpMessage(
        version=int.from_bytes(message[0:4], "big"),
        source_domain=int.from_bytes(message[4:8], "big"),
        destination_domain=int.from_bytes(message[8:12], "big"),
        nonce=int.from_bytes(message[12:20], "big"),
        sender=_bytes32_to_address(message[20:52]),
        recipient=_bytes32_to_address(message[52:84]),
        destination_caller=bytes(message[84:116]),
        body=bytes(message[116:]),
    )


def parse_burn_message(body: bytes) -> BurnMessage:
    if len(body) != _BURN_MESSAGE_LENGTH:
        raise ValueError(f"a burn message has {_BURN_MESSAGE_LENGTH} bytes, got {len(body)}")
    return BurnMessage(
        version=int.from_bytes(body[0:4], "big"),
        burn_token=_bytes32_to_address(body[4:36]),
        mint_recipient=_bytes32_to_address(body[36:68]),
        amount=int.from_bytes(body[68:100], "big"),
        message_sender=_bytes32_to_address(body[100:132]),
    )


def message_hash(message: bytes) -> str:
    """keccak256(message), 0x-hex: what the attester signs and Circle's API is keyed by."""
    return "0x" + keccak256(bytes(message)).hex()


def decode_message_sent(log: RawLog) -> bytes:
    """The message bytes of a `MessageSent(bytes)` log."""
    if not log.topics or log.topics[0] != MESSAGE_SENT_TOPIC:
        raise ValueError("not a MessageSent log")
    (message,) = abi_decode(["bytes"], log.data)
    return bytes(message)


def find_message_sent(logs: Iterable[RawLog], transmitter: str) -> bytes | None:
    """The message of the MessageSent log emitted by `transmitter` (None when there is none)."""
    wanted = to_checksum_address(transmitter)
    for log in logs:
        if log.address == wanted and log.topics and log.topics[0] == MESSAGE_SENT_TOPIC:
            return decode_message_sent(log)
    return None


# --- attestations --------------------------------------------------------------------------------------------------


class AttestationError(RuntimeError):
    """The attestation source answered something that is neither an attestation nor "not yet"."""


class AttestationSource(Protocol):
    async def attestation(self, message: bytes) -> bytes | None:
        """The attestation of `message`, or None while it is not available yet."""


class LocalAttester:
    """The devnet's attester (engine/devnet/attester.py): signs at once."""

    async def attestation(self, message: bytes) -> bytes | None:
        from engine.devnet.attester import attest  # devnet-only key material stays out of production imports

        return attest(bytes(message))


CIRCLE_ATTESTATION_API = "https://iris-api.circle.com/v1"  # Circle's attestation service (mainnet)


class CircleAttestationApi:
    """Circle's attestation service: `GET {base_url}/attestations/{messageHash}` answers
    `{"attestation": "0x...", "status": "complete"}`, `{"attestation": "PENDING", "status":
    "pending_confirmations"}`, or 404 until the burn is observed (both mean "not yet")."""

    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._timeout = timeout

    async def attestation(self, message: bytes) -> bytes | None:
        url = f"{self.base_url}/attestations/{message_hash(message)}"
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            raise AttestationError(f"attestation API unreachable ({type(exc).__name__})") from None
        finally:
            if self._client is None:
                await client.aclose()
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AttestationError(f"attestation API answered HTTP {response.status_code}")
        try:
            payload = response.json()
            status, attestation = payload.get("status"), payload.get("attestation")
        except (ValueError, AttributeError):
            raise AttestationError("attestation API answered something that is not a JSON object") from None
        if status != "complete":
            return None
        if not isinstance(attestation, str) or not attestation.startswith("0x"):
            raise AttestationError("attestation API marked the message complete without an attestation")
        try:
            return bytes.fromhex(attestation[2:])
        except ValueError:
            raise AttestationError("attestation API answered an attestation that is not hex") from None


# --- one rebalance ---------------------------------------------------------------------------------------------------


class RebalanceStatus(StrEnum):
    Initiated = "Initiated"  # approve / burn being sent on the origin chain
    Pending = "Pending"  # burnt; waiting for the attestation and the mint on the destination
    Completed = "Completed"
    Failed = "Failed"


FINAL_STATUSES = frozenset({RebalanceStatus.Completed, RebalanceStatus.Failed})


@dataclass(frozen=True, slots=True)
class CctpRebalance:
    """One rebalance by burn/mint, as the engine persists it between steps."""

    token: str  # symbol
    amount: int  # base units
    decimals: int
    origin_chain_id: int
    dest_chain_id: int
    origin_domain: int
    dest_domain: int
    burn_token: str
    recipient: str  # our address on the destination
    token_messenger: str  # origin chain
    message_transmitter: str  # origin chain (emits MessageSent)
    dest_message_transmitter: str  # destination chain (receiveMessage)
    started_at: int  # origin chain time
    timeout_seconds: int
    status: RebalanceStatus = RebalanceStatus.Initiated
    approve_tx: str | None = None
    approved: bool = False
    burn_tx: str | None = None
    message: bytes | None = None
    attestation: bytes | None = None
    receive_tx: str | None = None
    failure: str | None = None

    @classmethod
    def initiate(cls, proposal: RebalanceProposal, config: MmtuiConfig, recipient: str, *, now: int,
                 timeout_seconds: int = 3600) -> CctpRebalance:
        """A new rebalance for an approved proposal, started at origin chain time `now`."""
        origin, dest = config.chain(proposal.origin_chain_id), config.chain(proposal.dest_chain_id)
        missing = [f"{name} on chain {chain.chain_id}" for chain in (origin, dest)
                   for name, value in (("token_messenger_address", chain.token_messenger_address),
                                       ("message_transmitter_address", chain.message_transmitter_address),
                                       ("cctp_domain", chain.cctp_domain)) if value is None]
        if missing:
            raise ValueError("CCTP rebalancing needs " + ", ".join(missing))
        return cls(
            token=proposal.token, amount=proposal.amount, decimals=proposal.decimals,
            origin_chain_id=origin.chain_id, dest_chain_id=dest.chain_id,
            origin_domain=origin.cctp_domain, dest_domain=dest.cctp_domain,
            burn_token=proposal.origin_token, recipient=to_checksum_address(recipient),
            token_messenger=origin.token_messenger_address, message_transmitter=origin.message_transmitter_address,
            dest_message_transmitter=dest.message_transmitter_address,
            started_at=now, timeout_seconds=timeout_seconds)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def label(self) -> str:
        return (f"{format_units(self.amount, self.decimals, self.token)} chain {self.origin_chain_id} -> "
                f"chain {self.dest_chain_id}")

    # -- calldata of each step --------------------------------------------------------------------------------

    def approve_call(self) -> tuple[str, bytes]:
        """(token, calldata): let the origin TokenMessenger burn exactly `amount`."""
        return self.burn_token, encode_approve(self.token_messenger, self.amount)

    def burn_call(self) -> tuple[str, bytes]:
        return self.token_messenger, encode_deposit_for_burn(self.amount, self.dest_domain, self.recipient,
                                                             self.burn_token)

    def receive_call(self) -> tuple[str, bytes]:
        if self.message is None or self.attestation is None:
            raise ValueError("receiveMessage needs the burn message and its attestation")
        return self.dest_message_transmitter, encode_receive_message(self.message, self.attestation)

    def used_nonce_call(self) -> tuple[str, bytes]:
        if self.message is None:
            raise ValueError("the nonce is known once the burn message is")
        parsed = parse_message(self.message)
        return self.dest_message_transmitter, encode_used_nonces(parsed.source_domain, parsed.nonce)

    # -- facts in, next state out (pure) ----------------------------------------------------------------------

    def failed(self, reason: str) -> CctpRebalance:
        return replace(self, status=RebalanceStatus.Failed, failure=reason)

    def on_approve_receipt(self, receipt: TxReceipt) -> CctpRebalance:
        if not receipt.succeeded:
            return self.failed(f"approve reverted on chain {self.origin_chain_id} (tx {self.approve_tx})")
        return replace(self, approved=True)

    def on_burn_receipt(self, receipt: TxReceipt) -> CctpRebalance:
        """Mined burn -> Pending with its message; a revert or a burn without a message -> Failed."""
        if not receipt.succeeded:
            return self.failed(f"depositForBurn reverted on chain {self.origin_chain_id} (tx {self.burn_tx})")
        message = find_message_sent(receipt.logs, self.message_transmitter)
        if message is None:
            return self.failed(f"depositForBurn mined without a MessageSent log from {self.message_transmitter}")
        burn = parse_burn_message(parse_message(message).body)
        if burn.amount != self.amount or burn.mint_recipient != self.recipient:
            return self.failed(f"burn message says {burn.amount} to {burn.mint_recipient}, expected "
                               f"{self.amount} to {self.recipient}")
        return replace(self, status=RebalanceStatus.Pending, message=message)

    def on_receive_receipt(self, receipt: TxReceipt, *, already_received: bool) -> CctpRebalance:
        """A mined receiveMessage completes the rebalance; a reverted one too when the nonce is used (someone
        else delivered the message: receiveMessage is permissionless), else Failed."""
        if receipt.succeeded or already_received:
            return replace(self, status=RebalanceStatus.Completed)
        return self.failed(f"receiveMessage reverted on chain {self.dest_chain_id} (tx {self.receive_tx})")

    def on_time(self, now: int) -> CctpRebalance:
        """Failed once `now` (origin chain time) is past started_at + timeout_seconds."""
        elapsed = now - self.started_at
        if self.final or elapsed <= self.timeout_seconds:
            return self
        return self.failed(f"timed out: still {self.status} after {elapsed} s (timeout {self.timeout_seconds} s)")


class SendTransaction(Protocol):
    """Sends a transaction and returns its hash; the engine binds it to its TransactionSubmitter:
    `(await submitters[chain_id].submit(to, data, purpose=purpose)).tx_hash`."""

    async def __call__(self, chain_id: int, to: str, data: bytes, *, purpose: str) -> str: ...


#: (chain id, hash returned by SendTransaction) -> the receipt of whichever attempt was mined, None while pending.
ReceiptLookup = Callable[[int, str], Awaitable[TxReceipt | None]]
#: (chain id, to, calldata) -> the eth_call result at the latest block.
ChainCall = Callable[[int, str, bytes], Awaitable[bytes]]


class CctpRebalanceDriver:
    """Moves one `CctpRebalance` by one step per call: approve -> burn -> attestation -> receiveMessage.

    A step sends at most one transaction and never waits for it: call `step` again on the next head.
    """

    def __init__(self, send: SendTransaction, receipt: ReceiptLookup, call: ChainCall,
                 attestations: AttestationSource) -> None:
        self._send = send
        self._receipt = receipt
        self._call = call
        self._attestations = attestations

    async def step(self, rebalance: CctpRebalance, now: int) -> CctpRebalance:
        r = rebalance.on_time(now)
        if r.final:
            return r
        if r.status is RebalanceStatus.Initiated:
            return await self._initiated(r)
        return await self._pending(r)

    async def _initiated(self, r: CctpRebalance) -> CctpRebalance:
        if r.approve_tx is None:
            to, data = r.approve_call()
            return replace(r, approve_tx=await self._send(r.origin_chain_id, to, data, purpose="approve"))
        if not r.approved:
            receipt = await self._receipt(r.origin_chain_id, r.approve_tx)
            return r if receipt is None else r.on_approve_receipt(receipt)
        if r.burn_tx is None:
            to, data = r.burn_call()
            return replace(r, burn_tx=await self._send(r.origin_chain_id, to, data, purpose="rebalance"))
        receipt = await self._receipt(r.origin_chain_id, r.burn_tx)
        return r if receipt is None else r.on_burn_receipt(receipt)

    async def _pending(self, r: CctpRebalance) -> CctpRebalance:
        if r.attestation is None:
            attestation = await self._attestations.attestation(r.message)
            if attestation is None:
                return r
            r = replace(r, attestation=attestation)
        if r.receive_tx is None:
            if await self._received(r):
                return replace(r, status=RebalanceStatus.Completed)
            to, data = r.receive_call()
            return replace(r, receive_tx=await self._send(r.dest_chain_id, to, data, purpose="rebalance"))
        receipt = await self._receipt(r.dest_chain_id, r.receive_tx)
        if receipt is None:
            return r
        return r.on_receive_receipt(receipt, already_received=not receipt.succeeded and await self._received(r))

    async def _received(self, r: CctpRebalance) -> bool:
        to, data = r.used_nonce_call()
        return decode_uint(await self._call(r.dest_chain_id, to, data)) != 0
