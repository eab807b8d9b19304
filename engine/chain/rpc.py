"""One chain's JSON-RPC access: keep-alive HTTP (our own small client), a WebSocket newHeads wake-up, retries for reads only.

Design
------
* Requests are JSON-RPC POSTs on our own keep-alive connections (`engine.chain.http`: web3's default
  session uses `force_close=True`: one TCP connection per request, REFERENCE §7; web3 guards its session
  cache with one process-wide threading.Lock that a cancelled request can leave held; and aiohttp costs
  2.5x the CPU of the round trip itself). Raw JSON is converted
  straight into the small frozen types below, much cheaper than web3's AttributeDict/HexBytes
  formatting (and `process_log` is never used).
* web3's own provider-level retry is switched off; this module owns the retry policy:
  - reads are retried with exponential backoff + jitter on *transient* failures only: connection
    refused/reset, timeouts, HTTP 408/425/429/5xx, and JSON-RPC errors that mean "node is behind or
    busy" (header not found, unknown block, rate limits...). Deterministic errors (execution reverted,
    invalid params, method not found...) are raised at once.
  - `send_raw_transaction` makes exactly ONE attempt and classifies the answer (`TxRejected`
    subclasses / `SendErrorKind`); a transport failure after the request may have been written is
    `SendOutcomeUnknown` (the transaction may be in the pool: re-broadcasting the same signed bytes is
    the caller's decision, and is idempotent by hash).
* The optional WebSocket endpoint is used ONLY as a wake-up: a background task subscribes to
  `newHeads` and sets an event; all data is still read over HTTP (`wait_for_new_head`).
* Secrets: RPC URLs often carry API keys in their path, query or userinfo. Every message and repr
  names the endpoint as scheme://host:port only, node error messages are scrubbed of the URL's secret
  parts, original transport exceptions are not chained (their text may contain the full URL), and a
  logging filter redacts URLs in web3's and websockets' own log records.
"""
from __future__ import annotations

import asyncio
import enum
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import connect as connect_websocket

from engine.chain.http import HttpConnectError, HttpStatusError, JsonPostClient
from engine.protocol.codec import bloom_may_contain, checksum_address

log = logging.getLogger(__name__)

BlockTag = Literal["latest", "pending", "safe", "finalized", "earliest"]
BlockId = int | BlockTag
_BLOCK_TAGS = frozenset(("latest", "pending", "safe", "finalized", "earliest"))


# --------------------------------------------------------------------------------------------------
# URL redaction
# --------------------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_URL_RE = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>)\]]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """scheme://host:port of an RPC URL: no userinfo, path, query or fragment (they may hold API keys)."""
    try:
        parts = urlsplit(url)
        scheme = (parts.scheme or "?").lower()
        host = parts.hostname or "?"
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return "<unparseable url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _secret_fragments(url: str) -> tuple[str, ...]:
    """Substrings of a URL that may be secret: userinfo, path segments, query values, fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    frags: set[str] = set()
    if parts.username:
        frags.add(parts.username)
    if parts.password:
        frags.add(parts.password)
    for seg in parts.path.split("/"):
        if len(seg) >= 6:
            frags.add(seg)
    for item in re.split(r"[&;]", parts.query):
        value = item.split("=", 1)[-1]
        if len(value) >= 6:
            frags.add(value)
    if len(parts.fragment) >= 6:
        frags.add(parts.fragment)
    # longest first so that a fragment containing another is replaced whole
    return tuple(sorted(frags, key=len, reverse=True))


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """Redact every URL in `text` to scheme://host:port and blank out known secret fragments."""
    text = _URL_RE.sub(lambda m: redact_url(m.group(0)), text)
    for frag in secrets:
        if frag:
            text = text.replace(frag, "***")
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites web3's and websockets' log records so that no endpoint URL (with its API key) is ever logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        if "://" in message:
            record.msg = scrub(message)
            record.args = ()
        return True


_URL_LOGGERS = (
    "web3.providers.AsyncHTTPProvider",
    "web3.providers.WebSocketProvider",
    "web3.providers.PersistentConnectionProvider",
    "web3.providers.base.JSONBaseProvider",
    "web3.providers.async_base.AsyncJSONBaseProvider",
    "web3.providers.async_base.AsyncBaseProvider",
    "web3.manager.RequestManager",
    "web3._utils.http_session_manager.HTTPSessionManager",
    "web3.providers.persistent.subscription_manager",
    "websockets.client",
    "websockets",
)
_REDACTOR = _RedactingFilter()


def _install_log_redaction() -> None:
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


_install_log_redaction()


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class RpcError(Exception):
    """Base of everything this module raises about a chain. The message names the chain id and the
    method and never contains a secret (endpoint shown as scheme://host:port)."""

    def __init__(self, chain_id: int, method: str, detail: str, endpoint: str = "") -> None:
        self.chain_id = chain_id
        self.method = method
        self.detail = detail
        self.endpoint = endpoint
        where = f" [{endpoint}]" if endpoint else ""
        super().__init__(f"chain {chain_id} {method}: {detail}{where}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RpcUnavailable(RpcError):
    """The node could not be reached or did not answer usefully (after retries, for reads)."""

    def __init__(self, chain_id: int, method: str, detail: str, endpoint: str = "", *,
                 attempts: int = 1, cause: str = "") -> None:
        super().__init__(chain_id, method, detail, endpoint)
        self.attempts = attempts
        self.cause = cause  # exception type name of the last transport failure


class SendOutcomeUnknown(RpcUnavailable):
    """send_raw_transaction failed AFTER the request may have reached the node (timeout, connection
    reset, HTTP 5xx): the transaction may or may not be in the pool. Re-broadcast the same raw bytes
    or look the hash up; never re-sign with a new nonce on this basis."""


class RpcHttpError(RpcError):
    """A deterministic HTTP failure (401/403/404...): usually a configuration problem (bad key/URL)."""

    def __init__(self, chain_id: int, method: str, detail: str, endpoint: str = "", *, status: int) -> None:
        super().__init__(chain_id, method, detail, endpoint)
        self.status = status


class RpcBadResponse(RpcError):
    """The node answered something that is not a well-formed result for the method."""


class RpcResponseError(RpcError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, chain_id: int, method: str, detail: str, endpoint: str = "", *,
                 code: int | None = None, rpc_message: str = "", data: Any = None,
                 transient: bool = False) -> None:
        super().__init__(chain_id, method, detail, endpoint)
        self.code = code
        self.rpc_message = rpc_message
        self.data = data
        self.transient = transient


class ExecutionReverted(RpcResponseError):
    """eth_call / eth_estimateGas reverted. `revert_data` holds the raw revert bytes (may be empty)."""

    @property
    def revert_data(self) -> bytes:
        data = self.data
        if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."}
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                return b""
        return b""


class ChainIdMismatch(RpcError):
    """The node serves another chain than the one configured."""


class MethodNotSupported(RpcResponseError):
    """-32601: the node does not implement the method."""


class LogQueryTooLarge(RpcResponseError):
    """eth_getLogs: the provider refused the range (too many results / range too large)."""


class SendErrorKind(enum.Enum):
    NONCE_TOO_LOW = "nonce_too_low"
    NONCE_TOO_HIGH = "nonce_too_high"
    ALREADY_KNOWN = "already_known"
    REPLACEMENT_UNDERPRICED = "replacement_underpriced"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    FEE_TOO_LOW = "fee_too_low"
    INTRINSIC_GAS_TOO_LOW = "intrinsic_gas_too_low"
    GAS_LIMIT_EXCEEDED = "gas_limit_exceeded"
    INVALID_CHAIN_ID = "invalid_chain_id"
    POOL_FULL = "pool_full"
    INVALID_TRANSACTION = "invalid_transaction"
    EXECUTION_REVERTED = "execution_reverted"
    OTHER = "other"


class TxRejected(RpcResponseError):
    """eth_sendRawTransaction was answered with an error; `kind` says which."""

    kind: SendErrorKind = SendErrorKind.OTHER


class NonceTooLow(TxRejected):
    kind = SendErrorKind.NONCE_TOO_LOW


class NonceTooHigh(TxRejected):
    kind = SendErrorKind.NONCE_TOO_HIGH


class AlreadyKnown(TxRejected):
    kind = SendErrorKind.ALREADY_KNOWN


class ReplacementUnderpriced(TxRejected):
    kind = SendErrorKind.REPLACEMENT_UNDERPRICED


class InsufficientFunds(TxRejected):
    kind = SendErrorKind.INSUFFICIENT_FUNDS


class FeeTooLow(TxRejected):
    kind = SendErrorKind.FEE_TOO_LOW


class IntrinsicGasTooLow(TxRejected):
    kind = SendErrorKind.INTRINSIC_GAS_TOO_LOW


class GasLimitExceeded(TxRejected):
    kind = SendErrorKind.GAS_LIMIT_EXCEEDED


class InvalidChainId(TxRejected):
    kind = SendErrorKind.INVALID_CHAIN_ID


class PoolFull(TxRejected):
    kind = SendErrorKind.POOL_FULL


class InvalidTransaction(TxRejected):
    kind = SendErrorKind.INVALID_TRANSACTION


class SendReverted(TxRejected):
    kind = SendErrorKind.EXECUTION_REVERTED


_SEND_ERROR_CLASSES: dict[SendErrorKind, type[TxRejected]] = {
    cls.kind: cls for cls in (
        NonceTooLow, NonceTooHigh, AlreadyKnown, ReplacementUnderpriced, InsufficientFunds, FeeTooLow,
        IntrinsicGasTooLow, GasLimitExceeded, InvalidChainId, PoolFull, InvalidTransaction,
        SendReverted, TxRejected,
    )
}

# Ordered: the first match wins. Messages as answered by geth, erigon, nethermind, besu, reth/anvil.
_SEND_PATTERNS: tuple[tuple[re.Pattern[str], SendErrorKind], ...] = tuple(
    (re.compile(p), k) for p, k in (
        (r"replacement (transaction|tx) underpriced|replacement fee too low|replacementnotallowed|"
         r"underpriced replacement|replacement transaction", SendErrorKind.REPLACEMENT_UNDERPRICED),
        (r"already known|already imported|alreadyknown|known transaction|already exists|"
         r"already in (the )?(mempool|pool)|tx already", SendErrorKind.ALREADY_KNOWN),
        (r"nonce too low|nonce is too low|oldnonce|nonce has already been used|invalid nonce.*low",
         SendErrorKind.NONCE_TOO_LOW),
        (r"nonce too high|nonce is too high|nonce gap", SendErrorKind.NONCE_TOO_HIGH),
        (r"insufficient funds|insufficient balance|insufficientfunds", SendErrorKind.INSUFFICIENT_FUNDS),
        (r"intrinsic gas too low|gas too low|intrinsicgas", SendErrorKind.INTRINSIC_GAS_TOO_LOW),
        (r"exceeds block gas limit|gas limit reached|gaslimitexceeded|exceeds the block gas limit",
         SendErrorKind.GAS_LIMIT_EXCEEDED),
        (r"less than block base fee|transaction underpriced|fee cap .*too low|feecaptoolow|"
         r"gas price too low|max fee per gas less than|underpriced|feetoolow",
         SendErrorKind.FEE_TOO_LOW),
        (r"chain ?id|replay-protected|replay protected", SendErrorKind.INVALID_CHAIN_ID),
        (r"txpool is full|transaction pool is full|pool is full|mempool is full", SendErrorKind.POOL_FULL),
        (r"execution reverted|\brevert", SendErrorKind.EXECUTION_REVERTED),
        (r"failed to decode|rlp|invalid transaction|invalid sender|invalid signature|"
         r"transaction type not supported|tx type not supported", SendErrorKind.INVALID_TRANSACTION),
    )
)


def classify_send_error(message: str) -> SendErrorKind:
    """Map a node's eth_sendRawTransaction error message to a SendErrorKind."""
    text = message.lower()
    for pattern, kind in _SEND_PATTERNS:
        if pattern.search(text):
            return kind
    return SendErrorKind.OTHER


# eth_getLogs range refusals (Infura, Alchemy, QuickNode, Ankr, BSC/geth forks, ...).
_LOG_RANGE_RE = re.compile(
    r"more than \d[\d,]* results|returned more than|too many (results|logs|blocks)|"
    r"response size (is larger|exceed|should not)|log response size|"
    r"range (is )?too (large|wide|big)|block range (limit|too|is too|exceeds|exceeded|greater)|"
    r"exceed(s|ed)? (the )?max(imum)? (block )?range|max(imum)? block range|"
    r"limited to (a )?[\d,]+ ?(-| )?(block|range)|query timeout exceeded|range limit exceeded|"
    r"query exceeds max|exceeds max results|requested too many blocks"
)

# JSON-RPC errors that mean "the node is behind / busy, ask again": safe to retry for reads.
_TRANSIENT_RE = re.compile(
    r"header not found|unknown block|block not found|blockoutofrange|block height is \d+ but requested|"
    r"beyond current head|missing block|not yet (available|synced)|"
    r"rate limit|too many requests|exceeded .*(capacity|compute units|quota)|request limit|"
    r"\btimeout\b|timed out|deadline exceeded|service unavailable|temporarily unavailable|"
    r"try again|server busy|overloaded|no healthy upstream|upstream (error|timeout|unavailable)"
)
_TRANSIENT_CODES = frozenset((-32005, 429))  # "limit exceeded" (Infura: rate limits)


def classify_response_error(code: int | None, message: str) -> tuple[type[RpcResponseError], bool]:
    """(exception class, transient?) for a JSON-RPC error of a read method. Pure; see tests."""
    text = message.lower()
    if code == 3 or "execution reverted" in text or text.startswith("revert"):
        return ExecutionReverted, False
    if code == -32601 or "method not found" in text or "does not exist/is not available" in text:
        return MethodNotSupported, False
    if _LOG_RANGE_RE.search(text):
        return LogQueryTooLarge, False
    if _TRANSIENT_RE.search(text) or code in _TRANSIENT_CODES:
        return RpcResponseError, True
    return RpcResponseError, False


# --------------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee_per_gas: int | None = None
    #: the block's logsBloom (256 bytes) when the node sent it: which logs the block cannot hold
    logs_bloom: bytes | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_rpc(cls, raw: Mapping[str, Any]) -> BlockHeader:
        base_fee = raw.get("baseFeePerGas")
        return cls(
            int(raw["number"], 16),
            bytes.fromhex(raw["hash"][2:]),
            bytes.fromhex(raw["parentHash"][2:]),
            int(raw["timestamp"], 16),
            int(base_fee, 16) if base_fee is not None else None,
            _bloom(raw.get("logsBloom")),
        )

    def may_have_logs_of(self, addresses: Sequence[str]) -> bool:
        """False when the block certainly holds no log of any of ``addresses`` (its logsBloom says so); True
        when it may, or when the header came without a bloom."""
        if self.logs_bloom is None:
            return True
        return any(bloom_may_contain(self.logs_bloom, bytes.fromhex(a[2:])) for a in addresses)

    def __repr__(self) -> str:
        return f"BlockHeader(#{self.number} 0x{self.hash.hex()[:10]}.. parent 0x{self.parent_hash.hex()[:10]}..)"


@dataclass(frozen=True, slots=True)
class RawLog:
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int
    address: str  # checksummed
    topics: tuple[bytes, ...]
    data: bytes
    removed: bool = False

    @classmethod
    def from_rpc(cls, raw: Mapping[str, Any]) -> RawLog:
        return cls(
            int(raw["blockNumber"], 16),
            bytes.fromhex(raw["blockHash"][2:]),
            bytes.fromhex(raw["transactionHash"][2:]),
            int(raw["logIndex"], 16),
            checksum_address(raw["address"]),
            tuple(bytes.fromhex(t[2:]) for t in raw["topics"]),
            bytes.fromhex(raw["data"][2:]),
            bool(raw.get("removed", False)),
        )

    @property
    def key(self) -> tuple[bytes, int]:
        """Identity of a log in a given block: (block_hash, log_index)."""
        return (self.block_hash, self.log_index)


@dataclass(frozen=True, slots=True)
class TxReceipt:
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    status: int  # 1 success, 0 reverted
    gas_used: int
    effective_gas_price: int | None
    from_address: str
    to_address: str | None
    contract_address: str | None
    logs: tuple[RawLog, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == 1

    @classmethod
    def from_rpc(cls, raw: Mapping[str, Any]) -> TxReceipt:
        egp = raw.get("effectiveGasPrice")
        to = raw.get("to")
        created = raw.get("contractAddress")
        return cls(
            bytes.fromhex(raw["transactionHash"][2:]),
            int(raw["blockNumber"], 16),
            bytes.fromhex(raw["blockHash"][2:]),
            int(raw.get("status", "0x1"), 16),
            int(raw["gasUsed"], 16),
            int(egp, 16) if egp is not None else None,
            checksum_address(raw["from"]),
            checksum_address(to) if to else None,
            checksum_address(created) if created else None,
            tuple(RawLog.from_rpc(entry) for entry in raw.get("logs") or ()),
        )


@dataclass(frozen=True, slots=True)
class FeeHistory:
    oldest_block: int
    base_fee_per_gas: tuple[int, ...]  # one more entry than blocks: the next block's base fee last
    gas_used_ratio: tuple[float, ...]
    reward: tuple[tuple[int, ...], ...]  # per block, one entry per requested percentile

    @property
    def next_base_fee(self) -> int:
        return self.base_fee_per_gas[-1] if self.base_fee_per_gas else 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient read failures."""

    attempts: int = 5  # total attempts, including the first
    base_delay: float = 0.1
    max_delay: float = 2.0
    jitter: float = 0.5  # fraction of each delay that is randomised

    def delay(self, retry_index: int) -> float:
        """Seconds to sleep before retry number `retry_index` (0-based)."""
        nominal = min(self.max_delay, self.base_delay * (2 ** retry_index))
        return nominal * (1 - self.jitter) + random.uniform(0, nominal * self.jitter)

    @property
    def worst_case_sleep(self) -> float:
        return sum(min(self.max_delay, self.base_delay * 2 ** i) for i in range(self.attempts - 1))


# --------------------------------------------------------------------------------------------------
# Param encoding
# --------------------------------------------------------------------------------------------------


def _hex_data(value: bytes | str) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    return value if value.startswith("0x") else "0x" + value


def _address(value: str | bytes) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


def _block_param(block: BlockId | bytes) -> Any:
    if isinstance(block, bool):
        raise TypeError("block must be an int, a tag or a 32-byte hash")
    if isinstance(block, int):
        if block < 0:
            raise ValueError(f"negative block number {block}")
        return hex(block)
    if isinstance(block, (bytes, bytearray)):
        if len(block) != 32:
            raise ValueError("a block hash is 32 bytes")
        return {"blockHash": "0x" + bytes(block).hex()}  # EIP-1898
    if block in _BLOCK_TAGS or (isinstance(block, str) and block.startswith("0x")):
        return block
    raise ValueError(f"invalid block identifier {block!r}")


def _topic(value: bytes | str | None | Sequence[bytes | str]) -> Any:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, str)):
        return _hex_data(value)
    return [_hex_data(v) for v in value]


def _int_result(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"expected a hex quantity, got {type(value).__name__}")
    return int(value, 16)


# --------------------------------------------------------------------------------------------------
# ChainRpc
# --------------------------------------------------------------------------------------------------

_RETRY_HTTP_STATUSES = frozenset((408, 425, 429, 500, 502, 503, 504))
_HEX_RE = re.compile(r"^0x[0-9a-fA-F]*$")
_WS_MAX_MESSAGE = 16 * 1024 * 1024  # a newHeads notification is ~1 KB; anything near this is not one


class ChainRpc:
    """Async JSON-RPC access to one chain. Create it anywhere; it binds to the event loop of first use.

    Reads retry transient failures (see module doc); `send_raw_transaction` never retries.
    Always `await close()` (or use `async with`).
    """

    def __init__(
        self,
        chain_id: int,
        http_url: str,
        *,
        ws_url: str | None = None,
        timeout: float = 10.0,
        logs_timeout: float = 30.0,
        send_timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        max_connections: int = 16,
        keepalive_timeout: float = 15.0,
    ) -> None:
        if not http_url.lower().startswith(("http://", "https://")):
            raise ValueError(f"chain {chain_id}: HTTP RPC URL must start with http:// or https:// "
                             f"(got {redact_url(http_url)})")
        if ws_url is not None and not ws_url.lower().startswith(("ws://", "wss://")):
            raise ValueError(f"chain {chain_id}: WebSocket URL must start with ws:// or wss:// "
                             f"(got {redact_url(ws_url)})")
        self.expected_chain_id = chain_id
        self.endpoint = redact_url(http_url)
        self.ws_endpoint = redact_url(ws_url) if ws_url else None
        self.timeout = timeout
        self.logs_timeout = logs_timeout
        self.send_timeout = send_timeout
        self.retry = retry
        self._http_url = http_url
        self._ws_url = ws_url
        self._secrets = _secret_fragments(http_url) + (_secret_fragments(ws_url) if ws_url else ())
        self._max_connections = max_connections
        self._keepalive_timeout = keepalive_timeout
        self._http: JsonPostClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._request_id = 0
        self._closed = False
        # WebSocket wake-ups
        self._head_event = asyncio.Event()
        self._announced: BlockHeader | None = None  # the newest header of the newHeads stream, not yet taken
        self._ws_task: asyncio.Task[None] | None = None
        self.ws_connected = False
        # counters (cheap observability)
        self.requests = 0
        self.retries = 0

    def __repr__(self) -> str:
        ws = f", ws={self.ws_endpoint}" if self.ws_endpoint else ""
        return f"ChainRpc(chain_id={self.expected_chain_id}, http={self.endpoint}{ws})"

    async def __aenter__(self) -> ChainRpc:
        self._client()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- session and transport

    @property
    def connections_opened(self) -> int:
        """TCP connections opened so far to the HTTP endpoint (keep-alive reuses them)."""
        return self._http.connections_opened if self._http is not None else 0

    def _client(self) -> JsonPostClient:
        if self._closed:
            raise RpcError(self.expected_chain_id, "session", "ChainRpc is closed", self.endpoint)
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError(f"{self!r} is bound to another event loop")
        if self._http is None:
            self._http = JsonPostClient(self._http_url, max_connections=self._max_connections,
                                        keepalive_timeout=self._keepalive_timeout)
            self._loop = loop
        return self._http

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return scrub(f"{type(exc).__name__}: {text}", self._secrets)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    async def _once(self, method: str, params: list[Any], timeout: float) -> Any:
        """One HTTP round trip: the decoded JSON-RPC response dict. Transport errors propagate raw."""
        # Posted on our own keep-alive connections, not through web3's provider: web3 guards its session cache
        # with ONE threading.Lock shared by every provider in the process, taken in a thread pool, and a
        # cancelled request can leave it held, hanging every later RPC of the process (seen in tests).
        client = self._client()
        self.requests += 1
        self._request_id += 1
        payload = {"jsonrpc": "2.0", "id": self._request_id, "method": method, "params": params}
        return json.loads(await client.post(json.dumps(payload, separators=(",", ":")).encode(), timeout))

    def _response_error(self, method: str, error: Any, *, send: bool = False) -> RpcResponseError:
        if not isinstance(error, dict):
            return RpcResponseError(self.expected_chain_id, method, self._scrub(f"malformed error {error!r}"[:300]),
                                    self.endpoint)
        code = error.get("code")
        message = self._scrub(str(error.get("message", "")))
        data = error.get("data")
        if isinstance(data, str) and not _HEX_RE.match(data):  # never alter revert bytes
            data = self._scrub(data)
        detail = f"node error {code}: {message}"
        if send:
            kind = classify_send_error(message)
            cls = _SEND_ERROR_CLASSES[kind]
            return cls(self.expected_chain_id, method, f"{detail} ({kind.value})", self.endpoint,
                       code=code, rpc_message=message, data=data)
        cls, transient = classify_response_error(code if isinstance(code, int) else None, message)
        if cls is ExecutionReverted and isinstance(data, str) and data not in ("", "0x"):
            detail = f"{detail} (revert data {data[:74]}{'...' if len(data) > 74 else ''})"
        return cls(self.expected_chain_id, method, detail, self.endpoint, code=code, rpc_message=message,
                   data=data, transient=transient)

    async def request(self, method: str, params: list[Any] | None = None, *,
                      timeout: float | None = None, retry: bool = True) -> Any:
        """A read: the JSON-RPC `result`, retrying transient failures per the RetryPolicy."""
        params = params or []
        timeout = timeout or self.timeout
        attempts = max(1, self.retry.attempts if retry else 1)
        last_detail = ""
        last_cause = ""
        last_node_error: RpcResponseError | None = None  # set when the last failure was a node answer
        for attempt in range(attempts):
            if attempt:
                self.retries += 1
                await asyncio.sleep(self.retry.delay(attempt - 1))
            last_node_error = None
            try:
                response = await self._once(method, params, timeout)
            except HttpStatusError as exc:
                detail = f"HTTP {exc.status} {self._scrub(exc.reason)}".rstrip()
                if exc.status not in _RETRY_HTTP_STATUSES:
                    raise RpcHttpError(self.expected_chain_id, method, detail, self.endpoint, status=exc.status) from None
                last_detail, last_cause = detail, type(exc).__name__
                continue
            except (TimeoutError, ConnectionError) as exc:
                if isinstance(exc, TimeoutError):
                    last_detail = f"no answer within {timeout:g}s"
                else:
                    last_detail = self._describe(exc)
                last_cause = type(exc).__name__
                continue
            except ValueError as exc:  # body is not JSON (an HTML error page from a gateway...)
                last_detail, last_cause = f"unreadable response ({type(exc).__name__})", type(exc).__name__
                continue
            if not isinstance(response, dict):
                raise RpcBadResponse(self.expected_chain_id, method, f"unexpected response type {type(response).__name__}",
                                     self.endpoint)
            if "error" in response:
                err = self._response_error(method, response["error"])
                if not err.transient:
                    raise err
                last_node_error = err
                continue
            if "result" not in response:
                raise RpcBadResponse(self.expected_chain_id, method, "response has neither result nor error", self.endpoint)
            return response["result"]
        if last_node_error is not None:
            # the node kept answering with a transient error ("header not found", rate limit...)
            err = last_node_error
            raise type(err)(self.expected_chain_id, method, f"{err.detail} (still after {attempts} attempts)", self.endpoint,
                            code=err.code, rpc_message=err.rpc_message, data=err.data, transient=True)
        raise RpcUnavailable(self.expected_chain_id, method, f"unavailable after {attempts} attempt(s): {last_detail}",
                             self.endpoint, attempts=attempts, cause=last_cause)

    # ---------------------------------------------------------------- reads

    async def chain_id(self) -> int:
        """The node's eth_chainId (the configured one is `expected_chain_id`)."""
        return _int_result(await self.request("eth_chainId"))

    async def verify_chain_id(self) -> int:
        """Raise ChainIdMismatch unless the node serves the configured chain."""
        actual = await self.chain_id()
        if actual != self.expected_chain_id:
            raise ChainIdMismatch(self.expected_chain_id, "eth_chainId",
                                  f"node serves chain {actual}, configured {self.expected_chain_id}", self.endpoint)
        return actual

    async def block_number(self) -> int:
        return _int_result(await self.request("eth_blockNumber"))

    async def get_block(self, block: BlockId = "latest") -> BlockHeader | None:
        """Header of a block by number or tag; None when the node does not have it (yet)."""
        raw = await self.request("eth_getBlockByNumber", [_block_param(block), False])
        return self._header(raw, "eth_getBlockByNumber")

    async def get_block_by_hash(self, block_hash: bytes) -> BlockHeader | None:
        raw = await self.request("eth_getBlockByHash", ["0x" + bytes(block_hash).hex(), False])
        return self._header(raw, "eth_getBlockByHash")

    def _header(self, raw: Any, method: str) -> BlockHeader | None:
        if raw is None:
            return None
        try:
            return BlockHeader.from_rpc(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RpcBadResponse(self.expected_chain_id, method, f"malformed block ({type(exc).__name__})",
                                 self.endpoint) from None

    async def get_logs(
        self,
        address: str | bytes | Sequence[str] | None,
        from_block: int,
        to_block: int,
        topics: Sequence[bytes | str | None | Sequence[bytes | str]] | None = None,
    ) -> list[RawLog]:
        """eth_getLogs over [from_block, to_block] (inclusive). Raises LogQueryTooLarge when the
        provider refuses the range (use iter_logs to split). Note: nodes answer [] for blocks above
        their head, so callers must bound to_block by a head they have seen."""
        if from_block < 0 or to_block < from_block:
            raise ValueError(f"invalid log range [{from_block}, {to_block}]")
        flt: dict[str, Any] = {"fromBlock": hex(from_block), "toBlock": hex(to_block)}
        if address is not None:
            flt["address"] = (_address(address) if isinstance(address, (str, bytes, bytearray))
                              else [_address(a) for a in address])
        if topics:
            flt["topics"] = [_topic(t) for t in topics]
        raw = await self.request("eth_getLogs", [flt], timeout=self.logs_timeout)
        return self._logs(raw)

    async def get_logs_by_block_hash(self, address: str | Sequence[str] | None, block_hash: bytes,
                                     topics: Sequence[Any] | None = None) -> list[RawLog]:
        """eth_getLogs for exactly one block, by hash (EIP-234): reorg-safe."""
        flt: dict[str, Any] = {"blockHash": "0x" + bytes(block_hash).hex()}
        if address is not None:
            flt["address"] = _address(address) if isinstance(address, (str, bytes)) else [_address(a) for a in address]
        if topics:
            flt["topics"] = [_topic(t) for t in topics]
        return self._logs(await self.request("eth_getLogs", [flt], timeout=self.logs_timeout))

    def _logs(self, raw: Any) -> list[RawLog]:
        if not isinstance(raw, list):
            raise RpcBadResponse(self.expected_chain_id, "eth_getLogs", f"expected a list, got {type(raw).__name__}",
                                 self.endpoint)
        try:
            return [RawLog.from_rpc(entry) for entry in raw]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RpcBadResponse(self.expected_chain_id, "eth_getLogs", f"malformed log ({type(exc).__name__}: "
                                 f"{self._scrub(str(exc))[:120]})", self.endpoint) from None

    async def get_transaction_receipt(self, tx_hash: bytes | str) -> TxReceipt | None:
        raw = await self.request("eth_getTransactionReceipt", [_hex_data(tx_hash)])
        if raw is None:
            return None
        try:
            return TxReceipt.from_rpc(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RpcBadResponse(self.expected_chain_id, "eth_getTransactionReceipt",
                                 f"malformed receipt ({type(exc).__name__})", self.endpoint) from None

    async def get_transaction_count(self, address: str, block: BlockId = "pending") -> int:
        return _int_result(await self.request("eth_getTransactionCount", [_address(address), _block_param(block)]))

    async def get_balance(self, address: str, block: BlockId = "latest") -> int:
        return _int_result(await self.request("eth_getBalance", [_address(address), _block_param(block)]))

    @staticmethod
    def _tx_object(to: str | None, data: bytes | str, from_address: str | None, value: int | None,
                   gas: int | None) -> dict[str, Any]:
        tx: dict[str, Any] = {"data": _hex_data(data)}
        if to is not None:
            tx["to"] = _address(to)
        if from_address is not None:
            tx["from"] = _address(from_address)
        if value:
            tx["value"] = hex(value)
        if gas is not None:
            tx["gas"] = hex(gas)
        return tx

    async def call(self, to: str, data: bytes | str, block: BlockId | bytes = "latest", *,
                   from_address: str | None = None, value: int | None = None, gas: int | None = None) -> bytes:
        """eth_call; raises ExecutionReverted (with .revert_data) when the call reverts."""
        result = await self.request("eth_call", [self._tx_object(to, data, from_address, value, gas),
                                                 _block_param(block)])
        if not isinstance(result, str) or not result.startswith("0x"):
            raise RpcBadResponse(self.expected_chain_id, "eth_call", "result is not hex data", self.endpoint)
        return bytes.fromhex(result[2:])

    async def estimate_gas(self, to: str | None, data: bytes | str = b"", *, from_address: str | None = None,
                           value: int | None = None, block: BlockId | None = None) -> int:
        params: list[Any] = [self._tx_object(to, data, from_address, value, None)]
        if block is not None:
            params.append(_block_param(block))
        return _int_result(await self.request("eth_estimateGas", params))

    async def fee_history(self, block_count: int, newest_block: BlockId = "latest",
                          reward_percentiles: Sequence[float] = ()) -> FeeHistory:
        raw = await self.request("eth_feeHistory", [hex(block_count), _block_param(newest_block),
                                                    list(reward_percentiles)])
        try:
            return FeeHistory(
                int(raw["oldestBlock"], 16),
                tuple(int(x, 16) for x in raw.get("baseFeePerGas") or ()),
                tuple(float(x) for x in raw.get("gasUsedRatio") or ()),
                tuple(tuple(int(x, 16) for x in row) for row in raw.get("reward") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RpcBadResponse(self.expected_chain_id, "eth_feeHistory", f"malformed result ({type(exc).__name__})",
                                 self.endpoint) from None

    async def gas_price(self) -> int:
        return _int_result(await self.request("eth_gasPrice"))

    async def max_priority_fee(self) -> int:
        """eth_maxPriorityFeePerGas (MethodNotSupported on nodes without it)."""
        return _int_result(await self.request("eth_maxPriorityFeePerGas"))

    # ---------------------------------------------------------------- writes

    async def send_raw_transaction(self, raw_tx: bytes | str) -> bytes:
        """Broadcast a signed transaction: ONE attempt, never retried here.

        Returns the transaction hash. Raises a TxRejected subclass when the node answers with an
        error (see SendErrorKind), RpcUnavailable when the request certainly did not reach the node
        (connection refused, HTTP 429), SendOutcomeUnknown when it may have (timeout, reset, 5xx).
        """
        method = "eth_sendRawTransaction"
        try:
            response = await self._once(method, [_hex_data(raw_tx)], self.send_timeout)
        except HttpConnectError as exc:
            raise RpcUnavailable(self.expected_chain_id, method, f"not sent: {self._describe(exc)}", self.endpoint,
                                 cause=type(exc).__name__) from None
        except HttpStatusError as exc:
            detail = f"HTTP {exc.status} {self._scrub(exc.reason)}"
            if exc.status == 429:
                raise RpcUnavailable(self.expected_chain_id, method, f"not sent (rate limited): {detail}", self.endpoint,
                                     cause=type(exc).__name__) from None
            if exc.status >= 500 or exc.status in (408, 425):
                raise SendOutcomeUnknown(self.expected_chain_id, method, f"outcome unknown: {detail}", self.endpoint,
                                         cause=type(exc).__name__) from None
            raise RpcHttpError(self.expected_chain_id, method, detail, self.endpoint, status=exc.status) from None
        except (TimeoutError, ConnectionError, ValueError) as exc:
            detail = (f"no answer within {self.send_timeout:g}s" if isinstance(exc, TimeoutError)
                      else self._describe(exc))
            raise SendOutcomeUnknown(self.expected_chain_id, method, f"outcome unknown: {detail}", self.endpoint,
                                     cause=type(exc).__name__) from None
        if not isinstance(response, dict):
            raise SendOutcomeUnknown(self.expected_chain_id, method, "outcome unknown: malformed response", self.endpoint)
        if "error" in response:
            raise self._response_error(method, response["error"], send=True)
        result = response.get("result")
        if not isinstance(result, str) or not result.startswith("0x") or len(result) != 66:
            raise SendOutcomeUnknown(self.expected_chain_id, method, "outcome unknown: result is not a tx hash", self.endpoint)
        return bytes.fromhex(result[2:])

    # ---------------------------------------------------------------- WebSocket wake-ups

    async def wait_for_new_head(self, timeout: float) -> bool:
        """Wait until the WebSocket reports a new head (True) or `timeout` passes (False).

        Without a ws_url this just sleeps. The WS listener starts on first use and reconnects with
        backoff; it also fires once per (re)connection so that nothing missed meanwhile is delayed.
        """
        if self._ws_url is None or self._closed:
            await asyncio.sleep(timeout)
            return False
        if self._ws_task is None or self._ws_task.done():
            self._ws_task = asyncio.create_task(self._ws_listener(), name=f"ws-heads-{self.expected_chain_id}")
        if not self._head_event.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._head_event.wait()
            except TimeoutError:
                return False
        self._head_event.clear()
        return True

    def take_announced_head(self) -> BlockHeader | None:
        """The newest header the newHeads stream announced since the last call (None: none, or no stream).
        It comes from the WebSocket node: a watcher reads it by hash, so an HTTP node that lags behind
        answers "unknown block" rather than an empty list."""
        header, self._announced = self._announced, None
        return header

    async def _ws_listener(self) -> None:
        """The newHeads subscription, on a WebSocket of our own (web3's provider formats every notification
        into AttributeDicts and HexBytes first: ~1 ms of CPU per head, on the way to the watcher)."""
        backoff = 0.5
        while not self._closed:
            try:
                async with connect_websocket(self._ws_url, open_timeout=self.timeout, close_timeout=2,
                                             max_size=_WS_MAX_MESSAGE) as socket:
                    async with asyncio.timeout(self.timeout):
                        await socket.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                                      "params": ["newHeads"]}))
                        answer = json.loads(await socket.recv())
                    subscription = answer.get("result") if isinstance(answer, dict) else None
                    if not isinstance(subscription, str):
                        raise RpcBadResponse(self.expected_chain_id, "eth_subscribe",
                                             self._scrub(f"no subscription id in {str(answer)[:200]}"), self.ws_endpoint or "")
                    self.ws_connected = True
                    backoff = 0.5
                    self._head_event.set()
                    async for frame in socket:
                        message = json.loads(frame)
                        params = message.get("params") if isinstance(message, dict) else None
                        if isinstance(params, dict) and params.get("subscription") == subscription:
                            self._announced = _announced_header(params) or self._announced
                            self._head_event.set()
                log.info("chain %s: newHeads stream ended [%s]", self.expected_chain_id, self.ws_endpoint)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: fall back to polling, reconnect later
                log.warning("chain %s: newHeads subscription failed [%s]: %s", self.expected_chain_id,
                            self.ws_endpoint, self._describe(exc))
            finally:
                self.ws_connected = False
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, 30.0)

    # ---------------------------------------------------------------- shutdown

    async def close(self) -> None:
        self._closed = True
        task, self._ws_task = self._ws_task, None
        if task is not None:
            task.cancel()
            # Bounded: web3's WebSocket disconnect can ignore cancellation, and a stop must not hang on it.
            done, _ = await asyncio.wait({task}, timeout=5)
            if not done:
                log.warning("chain %s: WebSocket listener did not stop within 5 s; abandoned", self.expected_chain_id)
        client, self._http = self._http, None
        if client is not None:
            await client.close()


def _announced_header(message: Any) -> BlockHeader | None:
    """The header of a newHeads notification as web3 formats it (ints and HexBytes), or None when it
    lacks what a header needs: the notification is a wake-up either way."""
    try:
        raw = message["result"]
        base_fee = raw.get("baseFeePerGas")
        header = BlockHeader(_int(raw["number"]), _hash32(raw["hash"]), _hash32(raw["parentHash"]),
                             _int(raw["timestamp"]), None if base_fee is None else _int(base_fee),
                             _bloom(raw.get("logsBloom")))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return header


def _bloom(value: Any) -> bytes | None:
    """A logsBloom as the node sends it (hex) or as web3 formats it (bytes); None when absent or not 256 bytes
    (a header without one is read as "may hold any log")."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            value = bytes.fromhex(value[2:])
        except ValueError:
            return None
    return bytes(value) if isinstance(value, (bytes, bytearray)) and len(value) == 256 else None


def _int(value: Any) -> int:
    """A quantity as web3 formats it (an int) or as the node sends it (hex)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _int_result(value)


def _hash32(value: Any) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        raw = bytes.fromhex(value[2:])
    elif isinstance(value, (bytes, bytearray)):  # HexBytes too
        raw = bytes(value)
    else:
        raise TypeError(f"not a hash: {type(value).__name__}")
    if len(raw) != 32:
        raise ValueError("not a 32-byte hash")
    return raw


# --------------------------------------------------------------------------------------------------
# Bounded-range log fetching
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogBatch:
    """The logs of [from_block, to_block] (inclusive); checkpoint to_block after processing it."""

    from_block: int
    to_block: int
    logs: tuple[RawLog, ...]


async def iter_logs(
    rpc: ChainRpc,
    address: str | Sequence[str] | None,
    from_block: int,
    to_block: int,
    topics: Sequence[Any] | None = None,
    max_range: int = 2000,
    *,
    regrow_after: int = 4,
) -> AsyncIterator[LogBatch]:
    """Yield the logs of [from_block, to_block] in consecutive, non-overlapping batches of at most
    `max_range` blocks. When the provider refuses a range (LogQueryTooLarge: "query returned more
    than N results", "range too large"...), the range is halved and retried; after `regrow_after`
    consecutive successes it doubles again (up to max_range). A single block that is still refused
    raises LogQueryTooLarge."""
    if max_range < 1:
        raise ValueError("max_range must be >= 1")
    if to_block < from_block:
        return
    span = max_range
    successes = 0
    start = from_block
    while start <= to_block:
        end = min(to_block, start + span - 1)
        try:
            logs = await rpc.get_logs(address, start, end, topics)
        except LogQueryTooLarge as exc:
            if end == start:
                raise LogQueryTooLarge(rpc.expected_chain_id, "eth_getLogs",
                                       f"provider refuses even the single block {start}: {exc.detail}",
                                       rpc.endpoint, code=exc.code, rpc_message=exc.rpc_message) from None
            span = max(1, (end - start + 1) // 2)
            successes = 0
            log.debug("chain %s: eth_getLogs [%d, %d] too large, halving to %d blocks",
                      rpc.expected_chain_id, start, end, span)
            continue
        yield LogBatch(start, end, tuple(logs))
        start = end + 1
        successes += 1
        if span < max_range and successes >= regrow_after:
            span = min(max_range, span * 2)
            successes = 0

