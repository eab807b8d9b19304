"""mmtui configuration: one YAML file -> a validated, resolved, immutable view.

The file keeps the canonical RFQ-relayer shape operators know (``database``, ``signer``, ``rebalance_interval``,
``base_chain_config`` + ``chains``, ``quotable_tokens``) plus mmtui's own sections (``rfq_api``, ``quote_api``,
``limits``, ``breakers``, ``alerts``).  See ``examples/config.example.yml`` for a commented sample.

Loading never raises anything but :class:`ConfigError`, whose ``str`` is one line per problem
(``path.to.field: what is wrong``); every problem is reported at once.  Messages never echo a free-form value
from the file (only chain ids, addresses, symbols and percentages that already passed validation), so a secret
pasted in the wrong place is never printed.

Numbers are never floats: the YAML loader used here turns ``0.1`` into ``Decimal("0.1")``; token amounts are
written in human units and converted to exact integer base units with the token's decimals.

This module must not import textual.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, NamedTuple, Optional, Union
from urllib.parse import parse_qs, urlsplit

import yaml
from eth_utils import to_checksum_address
from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

__all__ = [
    "NATIVE_TOKEN_ADDRESS",
    "SECRET_MESSAGE",
    "BREAKER_KINDS",
    "BREAKER_LEVELS",
    "ConfigError",
    "Route",
    "ResolvedToken",
    "ResolvedChain",
    "DatabaseSettings",
    "EnvSigner",
    "KeystoreSigner",
    "DevnetUnlockedSigner",
    "SignerConfig",
    "RfqApiConfig",
    "QuoteApiConfig",
    "Limits",
    "BreakerRule",
    "AlertTarget",
    "MmtuiConfig",
    "load_config",
    "load_config_text",
    "parse_duration",
    "to_base_units",
    "resolve_signer_key",
    "dump_config_yaml",
    "render_config",
]

NATIVE_TOKEN_ADDRESS = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
SECRET_MESSAGE = "secrets come from the environment or a keystore, never the YAML"
UINT256_MAX = 2**256 - 1
MAX_CHAIN_ID = 2**63 - 1  # fits a signed 64-bit database column
MAX_CONFIG_BYTES = 5_000_000

REBALANCE_METHODS = ("cctp", "circlecctp")
REBALANCE_MODES = ("manual", "auto")
BREAKER_KINDS = (
    "supply_jump",
    "price_drop",
    "price_deviation",
    "gas_price_cap",
    "gas_balance_low",
    "head_stale",
    "rpc_failing",
    "inventory_drain",
    "failure_rate",
)
#: which scope levels make sense for each breaker kind (chain-wide signals cannot be scoped to a token or a route).
BREAKER_LEVELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "supply_jump": ("global", "chain", "token"),
        "price_drop": ("global", "chain", "token"),
        "price_deviation": ("global", "chain", "token"),
        "gas_price_cap": ("global", "chain"),
        "gas_balance_low": ("global", "chain"),
        "head_stale": ("global", "chain"),
        "rpc_failing": ("global", "chain"),
        "inventory_drain": ("global", "chain", "token"),
        "failure_rate": ("global", "chain", "route"),
    }
)
ALERT_KINDS = ("webhook", "slack", "sms")
DEFAULT_REBALANCE_INTERVAL_SECONDS = 60

# Key names that hold secrets.  A key ending in ``_env`` names an environment variable and is fine.
_SECRET_KEY_PARTS = (
    "private_key",
    "privatekey",
    "priv_key",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "mnemonic",
    "seed_phrase",
    "api_key",
    "apikey",
)
_HEX_KEY_RE = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
_ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
_SYMBOL_RE = re.compile(r"[^\s>\x00-\x1f\x7f]{1,32}")
_PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")
_DURATION_PART_RE = re.compile(r"(\d+)([smh])")
_DURATION_RE = re.compile(r"(?:\d+[smh])+")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


# --------------------------------------------------------------------------------------------------------------------
# Errors and paths


class ConfigError(Exception):
    """Every problem found in a configuration, one ``path: what is wrong`` line each."""

    def __init__(self, problems: list[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        self.problems: list[str] = list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)

    def __reduce__(self):
        return (type(self), (self.problems,))


class _Idx(int):
    """A list index inside a path (rendered ``[i]``)."""


_Path = tuple  # tuple[str | _Idx, ...]


def _fmt_path(parts: _Path) -> str:
    out = ""
    for part in parts:
        if isinstance(part, _Idx):
            out += f"[{int(part)}]"
            continue
        s = str(part)
        if _HEX_KEY_RE.fullmatch(s):
            s = "<redacted>"
        elif len(s) > 80:
            s = s[:77] + "..."
        if s == "" or re.search(r'[.\s\[\]:"#]', s):
            s = json.dumps(s)
        out += ("." if out else "") + s
    return out or "(top level)"


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[_Path, str]] = []

    def add(self, path: _Path, message: str) -> None:
        self.items.append((tuple(path), message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def lines(self, suppressed: list[_Path]) -> list[str]:
        out: list[str] = []
        for path, message in self.items:
            if SECRET_MESSAGE not in message and any(path[: len(s)] == s for s in suppressed):
                continue  # a secret was flagged here; say nothing else about it
            line = f"{_fmt_path(path)}: {message}"
            if line not in out:
                out.append(line)
        return out


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("mmtui", message)


_PYDANTIC_MESSAGES = {
    "extra_forbidden": "unknown key (typo?)",
    "missing": "required",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
}


def _validate(model: type[BaseModel], data: Any, path: _Path, problems: _Problems) -> Any:
    """Validate ``data`` with ``model``; on failure record every error under ``path`` and return None."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = tuple(_Idx(p) if isinstance(p, int) else p for p in err["loc"])
            message = err["msg"] if err["type"] == "mmtui" else _PYDANTIC_MESSAGES.get(err["type"], err["msg"])
            problems.add(path + loc, message)
        return None


# --------------------------------------------------------------------------------------------------------------------
# Scalar types (every one of them a PlainValidator: our own messages, never the input value)


def _to_decimal(v: Any) -> Decimal:
    """int / Decimal / numeric string / float (via its shortest repr) -> finite Decimal, else raise."""
    if isinstance(v, bool):
        raise _fail("must be a number")
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        v = repr(v)
    if isinstance(v, str):
        text = v.strip().replace("_", "")
        if not text or len(text) > 200:
            raise _fail("must be a number")
        try:
            v = Decimal(text)
        except InvalidOperation:
            raise _fail("must be a number") from None
    if not isinstance(v, Decimal) or not v.is_finite():
        raise _fail("must be a number")
    if abs(v.adjusted()) > 200:
        raise _fail("is out of range")
    return v


def _to_int(v: Any) -> int:
    """int, an integral Decimal, or a string of digits -> int, else raise."""
    if isinstance(v, bool):
        raise _fail("must be a whole number")
    if isinstance(v, int):
        return v
    try:
        d = _to_decimal(v)
    except PydanticCustomError:
        raise _fail("must be a whole number") from None
    if d != d.to_integral_value():
        raise _fail("must be a whole number")
    return int(d)


def _range_text(lo: Any, hi: Any) -> str:
    if hi is None:
        return f"must be >= {lo}"
    return f"must be between {lo} and {hi}"


def _int_type(lo: int, hi: int | None = None) -> Any:
    def check(v: Any) -> int:
        n = _to_int(v)
        if n < lo or (hi is not None and n > hi):
            raise _fail(_range_text(lo, hi))
        return n

    return Annotated[int, PlainValidator(check)]


def _dec_type(lo: Any, hi: Any = None, *, positive: bool = False, max_places: int | None = None) -> Any:
    lo_d, hi_d = Decimal(lo), (None if hi is None else Decimal(hi))

    def check(v: Any) -> Decimal:
        d = _to_decimal(v)
        if positive and d <= 0:
            raise _fail("must be greater than 0")
        if d < lo_d or (hi_d is not None and d > hi_d):
            raise _fail(_range_text(lo, hi))
        if max_places is not None:
            try:
                to_base_units(d, max_places)
            except ValueError as exc:
                raise _fail(str(exc)) from None
        return d

    return Annotated[Decimal, PlainValidator(check)]


def _choice_type(*options: str) -> Any:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise _fail("must be one of: " + ", ".join(options))
        return v

    return Annotated[str, PlainValidator(check)]


def _check_address(v: Any) -> str:
    if not isinstance(v, str) or not _ADDRESS_RE.fullmatch(v.strip()):
        raise _fail("not a 20-byte hex address")
    v = v.strip()
    checksummed = to_checksum_address(v)
    body = v[2:]
    if body != body.lower() and body != body.upper() and v != checksummed:
        raise _fail("has a wrong EIP-55 checksum (typo?); write it all-lowercase or with the right checksum")
    return checksummed


def _check_env_name(v: Any) -> str:
    if not isinstance(v, str) or not _ENV_NAME_RE.fullmatch(v):
        raise _fail("must be the NAME of an environment variable (uppercase letters, digits and _)")
    return v


def _check_text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _fail("must be a non-empty string")
    if len(v) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise _fail("must be a short single line of text")
    return v.strip()


def _check_symbol(v: Any) -> str:
    if not isinstance(v, str) or not _SYMBOL_RE.fullmatch(v):
        raise _fail("must be a token symbol (1-32 characters, no spaces or '>')")
    return v


def _url_type(schemes: tuple[str, ...]) -> Any:
    wanted = " or ".join(f"{s}://" for s in schemes)
    article = "an" if schemes[0][0] in "aeiouh" else "a"

    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise _fail(f"must be {article} {wanted} URL")
        v = v.strip()
        try:
            parts = urlsplit(v)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise _fail(f"must be {article} {wanted} URL") from None
        if parts.scheme.lower() not in schemes or not parts.hostname or any(c.isspace() for c in v):
            raise _fail(f"must be {article} {wanted} URL")
        return v

    return Annotated[str, PlainValidator(check)]


def _check_wei(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str, Decimal)):
        raise _fail("must be a whole number of wei (an integer or a string of digits)")
    try:
        n = _to_int(v)
    except PydanticCustomError:
        raise _fail("must be a whole number of wei (an integer or a string of digits)") from None
    if n < 0:
        raise _fail("must be >= 0")
    if n > UINT256_MAX:
        raise _fail("must fit in 256 bits")
    return n


def _check_amount(v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, str, Decimal, float)):
        raise _fail('must be a number of token units (e.g. 1000 or "0.5")')
    try:
        d = _to_decimal(v)
    except PydanticCustomError:
        raise _fail('must be a number of token units (e.g. 1000 or "0.5")') from None
    if d < 0:
        raise _fail("must be >= 0")
    return d


def _check_chain_id(v: Any) -> int:
    try:
        n = _to_int(v)
    except PydanticCustomError:
        n = -1
    if isinstance(v, str) and not v.strip().isdigit():
        n = -1
    if not 1 <= n <= MAX_CHAIN_ID:
        raise _fail("not a valid chain id (a positive integer)")
    return n


def _check_phone(v: Any) -> str:
    if not isinstance(v, str) or not _PHONE_RE.fullmatch(v.replace(" ", "")):
        raise _fail("must be a phone number in international format (+15551234567)")
    return v.replace(" ", "")


def _check_path(v: Any) -> Path:
    if isinstance(v, Path):
        return v
    if not isinstance(v, str) or not v.strip():
        raise _fail("must be a file path")
    return Path(v.strip())


def parse_duration(value: Any) -> int:
    """``90s`` / ``2m`` / ``1h`` / ``1h30m`` / ``30`` / ``"30"`` -> whole seconds (> 0). Raises ValueError."""
    message = "must be a duration like 90s, 2m or 1h (or a whole number of seconds)"
    if isinstance(value, bool):
        raise ValueError(message)
    if isinstance(value, (int, Decimal)):
        if value != int(value):
            raise ValueError(message)
        seconds = int(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            seconds = int(text)
        elif _DURATION_RE.fullmatch(text):
            seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text))
        else:
            raise ValueError(message)
    else:
        raise ValueError(message)
    if seconds <= 0:
        raise ValueError("must be greater than 0")
    return seconds


def _check_duration(v: Any) -> int:
    try:
        return parse_duration(v)
    except ValueError as exc:
        raise _fail(str(exc)) from None


class _RouteSpec(NamedTuple):
    origin_chain: int
    origin_token: str  # an address or a symbol, resolved later
    dest_chain: int
    dest_token: str


_ROUTE_HINT = 'must be a route "<chain>-<token>><chain>-<token>" or a pair ["<chain>-<token>", "<chain>-<token>"]'


def _split_endpoint(text: Any) -> tuple[int, str] | None:
    if not isinstance(text, str):
        return None
    chain, sep, token = text.strip().partition("-")
    if not sep or not chain.isdigit() or not token or not 1 <= int(chain) <= MAX_CHAIN_ID:
        return None
    return int(chain), token.strip()


def _check_route(v: Any) -> _RouteSpec:
    if isinstance(v, str):
        ends = v.split(">")
    elif isinstance(v, list):
        ends = v
    else:
        raise _fail(_ROUTE_HINT)
    if len(ends) != 2:
        raise _fail(_ROUTE_HINT)
    a, b = _split_endpoint(ends[0]), _split_endpoint(ends[1])
    if a is None or b is None:
        raise _fail(_ROUTE_HINT)
    return _RouteSpec(a[0], a[1], b[0], b[1])


Address = Annotated[str, PlainValidator(_check_address)]
EnvName = Annotated[str, PlainValidator(_check_env_name)]
Text = Annotated[str, PlainValidator(_check_text)]
Symbol = Annotated[str, PlainValidator(_check_symbol)]
HttpUrl = _url_type(("http", "https"))
WsUrl = _url_type(("ws", "wss"))
Wei = Annotated[int, PlainValidator(_check_wei)]
Amount = Annotated[Decimal, PlainValidator(_check_amount)]
ChainId = Annotated[int, PlainValidator(_check_chain_id)]
Phone = Annotated[str, PlainValidator(_check_phone)]
FilePath = Annotated[Path, PlainValidator(_check_path)]
Duration = Annotated[int, PlainValidator(_check_duration)]
RouteSpec = Annotated[_RouteSpec, PlainValidator(_check_route)]
NonNegInt = _int_type(0)
PosInt = _int_type(1)
Decimals = _int_type(0, 77)
UInt32 = _int_type(0, 2**32 - 1)
Pct = _dec_type(0, 100)
Bps = _dec_type(-10000, 10000)
WidthBps = _dec_type(0, 10000)
NonNegDecimal = _dec_type(0)
PosDecimal = _dec_type(0, positive=True)
Gwei = _dec_type(0, positive=True, max_places=9)


# --------------------------------------------------------------------------------------------------------------------
# The file models (raw, as written)

_FILE = ConfigDict(extra="forbid", frozen=True)


class DatabaseFile(BaseModel):
    model_config = _FILE
    type: _choice_type("sqlite", "postgres")
    dsn: Text
    sqlite_synchronous: _choice_type("normal", "full") | None = None


class EnvSigner(BaseModel):
    """The private key (hex) is in the environment variable ``env``."""

    model_config = _FILE
    type: _choice_type("env") = "env"
    env: EnvName


class KeystoreSigner(BaseModel):
    """An eth-account encrypted keystore; ``path`` is made absolute (relative to the config file) on load."""

    model_config = _FILE
    type: _choice_type("keystore") = "keystore"
    path: FilePath
    password_env: EnvName


class DevnetUnlockedSigner(BaseModel):
    """An account the node itself signs for (anvil's unlocked dev accounts)."""

    model_config = _FILE
    type: _choice_type("devnet_unlocked") = "devnet_unlocked"
    address: Address


SignerConfig = Union[EnvSigner, KeystoreSigner, DevnetUnlockedSigner]
_SIGNER_MODELS: dict[str, type[BaseModel]] = {
    "env": EnvSigner,
    "keystore": KeystoreSigner,
    "devnet_unlocked": DevnetUnlockedSigner,
}


class RfqApiConfig(BaseModel):
    model_config = _FILE
    url: HttpUrl
    api_key_env: Optional[EnvName] = None


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def _check_listen(v: Any) -> str:
    """``HOST:PORT`` on loopback (port 0: the system picks a free one)."""
    message = 'must be "HOST:PORT" on loopback, e.g. "127.0.0.1:8791" (port 0 picks a free port)'
    if not isinstance(v, str):
        raise _fail(message)
    host, sep, port = v.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _fail(message)
    if host not in _LOOPBACK_HOSTS and not re.fullmatch(r"127(\.\d{1,3}){3}", host):
        raise _fail(message + "; the quotes endpoint is served on loopback only")
    return f"{host}:{int(port)}"


class QuoteApiConfig(BaseModel):
    """The engine's read-only quotes endpoint (``GET /quotes``), served on loopback.

    ``address_file`` (relative to the config file): where the bound ``http://HOST:PORT`` is written once
    listening (the devnet traffic generator reads it); removed again when the engine stops."""

    model_config = _FILE
    listen: Annotated[str, PlainValidator(_check_listen)]
    address_file: Optional[FilePath] = None

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ChainSettingsFile(BaseModel):
    """Fields allowed in ``base_chain_config`` and overridable under ``chains.<id>`` (None = not set here)."""

    model_config = _FILE
    confirmations: Optional[NonNegInt] = None
    origin_gas_estimate: Optional[NonNegInt] = None
    dest_gas_estimate: Optional[NonNegInt] = None
    quote_offset_bps: Optional[Bps] = None
    quote_width_bps: Optional[WidthBps] = None
    quote_pct: Optional[Pct] = None
    min_gas_token: Optional[Wei] = None
    fixed_fee_multiplier: Optional[NonNegDecimal] = None
    native_token: Optional[Symbol] = None
    deadline_buffer_seconds: Optional[NonNegInt] = None
    batch_window_seconds: Optional[NonNegDecimal] = None
    batch_max_orders: Optional[PosInt] = None
    max_gas_price_gwei: Optional[Gwei] = None
    min_gas_price_gwei: Optional[Gwei] = None
    rfq_address: Optional[Address] = None
    multicall_address: Optional[Address] = None
    token_messenger_address: Optional[Address] = None
    message_transmitter_address: Optional[Address] = None


class ChainFile(ChainSettingsFile):
    """``chains.<id>`` without its ``tokens`` (validated one by one)."""

    rpc_url: HttpUrl
    ws_url: Optional[WsUrl] = None
    cctp_domain: Optional[UInt32] = None
    start_block: Optional[NonNegInt] = None


class TokenFile(BaseModel):
    model_config = _FILE
    address: Address
    decimals: Decimals
    price_usd: PosDecimal
    min_quote_amount: Amount = Decimal(0)
    max_relay_amount: Optional[Amount] = None
    max_balance: Optional[Amount] = None
    quote_offset_bps: Bps = Decimal(0)
    rebalance_method: Optional[_choice_type(*REBALANCE_METHODS)] = None
    rebalance_mode: _choice_type(*REBALANCE_MODES) = "manual"
    maintenance_balance_pct: Optional[Pct] = None
    initial_balance_pct: Optional[Pct] = None
    min_rebalance_amount: Amount = Decimal(0)
    max_rebalance_amount: Optional[Amount] = None
    reference_pool: Optional[Address] = None  # a constant-product pool pricing this token (token0) for the breakers


class LimitsFile(BaseModel):
    model_config = _FILE
    max_order_notional_usd: Optional[PosDecimal] = None
    max_window_notional_usd: Optional[PosDecimal] = None
    window_seconds: PosInt = 3600
    disabled_routes: list[RouteSpec] = []


class BreakerScopeFile(BaseModel):
    model_config = _FILE
    level: _choice_type("global", "chain", "token", "route")
    chain_id: Optional[ChainId] = None
    token: Optional[Text] = None  # a symbol or an address on chain_id
    route: Optional[RouteSpec] = None


def _check_flag(v: Any) -> bool:
    if not isinstance(v, bool):  # YAML true/false only: "yes" in quotes or 1 is a typo, not a silent True
        raise _fail("must be true or false")
    return v


class BreakerFile(BaseModel):
    model_config = _FILE
    name: Text
    kind: _choice_type(*BREAKER_KINDS)
    scope: BreakerScopeFile = BreakerScopeFile(level="global")
    threshold: NonNegDecimal
    window_blocks: Optional[PosInt] = None
    window_seconds: Optional[PosInt] = None
    # a trip also holds what is in flight in the scope (relays of committed orders, proves, claims)
    stop_in_flight: Annotated[bool, PlainValidator(_check_flag)] = False
    min_attempts: Optional[PosInt] = None  # failure_rate: fewer attempts in the window are not judged


class AlertFile(BaseModel):
    model_config = _FILE
    name: Text
    kind: _choice_type(*ALERT_KINDS)
    url: Optional[HttpUrl] = None
    url_env: Optional[EnvName] = None  # the URL is in this environment variable (a Slack webhook URL is a secret)
    secret_env: Optional[EnvName] = None
    to: Optional[Phone] = None


_TOP_KEYS = (
    "name",
    "database",
    "signer",
    "rebalance_interval",
    "screener_api_url",
    "rfq_api",
    "quote_api",
    "base_chain_config",
    "chains",
    "quotable_tokens",
    "limits",
    "breakers",
    "alerts",
)


class _Scalars(BaseModel):
    model_config = _FILE
    name: Optional[Text] = None
    rebalance_interval: Duration = DEFAULT_REBALANCE_INTERVAL_SECONDS
    screener_api_url: Optional[HttpUrl] = None


# --------------------------------------------------------------------------------------------------------------------
# The resolved view (what the engine uses)


def to_base_units(amount: Decimal, decimals: int) -> int:
    """Exact ``amount * 10**decimals``; ValueError if it has more fractional digits than ``decimals`` or > uint256."""
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError("must be a finite number")
    n = int("".join(map(str, digits))) if digits else 0
    shift = exponent + decimals
    if n == 0:
        return 0
    if shift >= 0:
        if len(str(n)) + shift > 78:
            raise ValueError("is too large (must fit in 256 bits in base units)")
        value = n * 10**shift
    else:
        if -shift > 400:
            raise ValueError(f"has more than {decimals} decimal places")
        value, rest = divmod(n, 10 ** (-shift))
        if rest:
            raise ValueError(f"has more than {decimals} decimal places")
    if value > UINT256_MAX:
        raise ValueError("is too large (must fit in 256 bits in base units)")
    return -value if sign else value


class Route(NamedTuple):
    origin_chain_id: int
    origin_token: str  # checksum address
    dest_chain_id: int
    dest_token: str  # checksum address

    @property
    def key(self) -> str:
        return f"{self.origin_chain_id}-{self.origin_token}>{self.dest_chain_id}-{self.dest_token}"


@dataclass(frozen=True, slots=True)
class ResolvedToken:
    chain_id: int
    symbol: str
    address: str
    decimals: int
    price_usd: Decimal
    min_quote_amount: int  # base units
    max_relay_amount: int | None  # base units
    max_balance: int | None  # base units
    quote_offset_bps: Decimal
    rebalance_method: str | None
    rebalance_mode: str  # "manual" | "auto"
    maintenance_balance_pct: Decimal | None
    initial_balance_pct: Decimal | None
    min_rebalance_amount: int  # base units
    max_rebalance_amount: int | None  # base units
    reference_pool: str | None = None  # checksum address; watched by the price breakers

    @property
    def is_native(self) -> bool:
        return self.address == NATIVE_TOKEN_ADDRESS


@dataclass(frozen=True, slots=True)
class ResolvedChain:
    """``base_chain_config`` merged with ``chains.<id>``; ``tokens`` is a read-only symbol -> token mapping."""

    chain_id: int
    rpc_url: str
    ws_url: str | None
    rfq_address: str
    multicall_address: str | None
    token_messenger_address: str | None
    message_transmitter_address: str | None
    cctp_domain: int | None
    start_block: int | None
    confirmations: int
    origin_gas_estimate: int
    dest_gas_estimate: int
    quote_offset_bps: Decimal
    quote_width_bps: Decimal
    quote_pct: Decimal
    min_gas_token: int  # wei
    fixed_fee_multiplier: Decimal
    native_token: str
    deadline_buffer_seconds: int
    # proves (and claims) ready within this window go out as one multicallNoResults of at most batch_max_orders
    # orders; 0: each in its own transaction
    batch_window_seconds: Decimal
    batch_max_orders: int
    max_gas_price_gwei: Decimal | None
    min_gas_price_gwei: Decimal | None
    tokens: Mapping[str, ResolvedToken]

    @property
    def max_gas_price_wei(self) -> int | None:
        return None if self.max_gas_price_gwei is None else to_base_units(self.max_gas_price_gwei, 9)

    @property
    def min_gas_price_wei(self) -> int | None:
        return None if self.min_gas_price_gwei is None else to_base_units(self.min_gas_price_gwei, 9)

    def native_price_usd(self) -> Decimal | None:
        """The USD price of this chain's gas token: its native-sentinel token entry, else the `native_token` symbol."""
        token = self.token_by_address(NATIVE_TOKEN_ADDRESS) or self.tokens.get(self.native_token)
        return None if token is None else token.price_usd

    def token_by_address(self, address: str) -> ResolvedToken | None:
        if not isinstance(address, str):
            return None
        wanted = address.lower()
        for token in self.tokens.values():
            if token.address.lower() == wanted:
                return token
        return None


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    type: str  # "sqlite" | "postgres"
    dsn: str  # sqlite: an absolute file path (or ":memory:"); postgres: the URL as written (no password in it)
    # SQLite's PRAGMA synchronous in WAL mode. "normal": a commit survives the process being killed (kill -9),
    # not a power cut, and costs no fsync; "full": an fsync per commit, on the engine's thread
    sqlite_synchronous: str = "normal"

    @property
    def path(self) -> Path | None:
        return Path(self.dsn) if self.type == "sqlite" and self.dsn != ":memory:" else None


@dataclass(frozen=True, slots=True)
class Limits:
    max_order_notional_usd: Decimal | None = None
    max_window_notional_usd: Decimal | None = None
    window_seconds: int = 3600
    disabled_routes: frozenset[Route] = frozenset()


@dataclass(frozen=True, slots=True)
class BreakerRule:
    name: str
    kind: str
    level: str  # global | chain | token | route
    threshold: Decimal
    chain_id: int | None = None
    token: str | None = None  # symbol (level token)
    token_address: str | None = None  # checksum address (level token)
    route: Route | None = None
    window_blocks: int | None = None
    window_seconds: int | None = None
    stop_in_flight: bool = False  # a trip also holds relays, proves and claims in the scope
    min_attempts: int | None = None  # failure_rate only


@dataclass(frozen=True, slots=True)
class AlertTarget:
    name: str
    kind: str  # webhook | slack | sms
    url: str  # "" when url_env names the variable holding it (resolved by the alert dispatcher)
    secret_env: str | None = None
    to: str | None = None
    url_env: str | None = None


@dataclass(frozen=True, slots=True)
class MmtuiConfig:
    name: str
    source: str  # the file it came from (or a description)
    base_dir: Path  # relative paths in the file are relative to this
    database: DatabaseSettings
    signer: SignerConfig
    rebalance_interval_seconds: int
    screener_api_url: str | None
    rfq_api: RfqApiConfig | None
    chains: Mapping[int, ResolvedChain]
    quotable_tokens: Mapping[tuple[int, str], tuple[tuple[int, str], ...]]
    routes: tuple[Route, ...]
    limits: Limits
    breakers: tuple[BreakerRule, ...]
    alerts: tuple[AlertTarget, ...]
    quote_api: QuoteApiConfig | None = None  # the read-only quotes endpoint; address_file made absolute

    @property
    def chain_ids(self) -> tuple[int, ...]:
        return tuple(self.chains)

    def chain(self, chain_id: int) -> ResolvedChain:
        try:
            return self.chains[chain_id]
        except KeyError:
            raise KeyError(f"chain {chain_id} is not configured") from None

    def token(self, chain_id: int, symbol: str) -> ResolvedToken | None:
        chain = self.chains.get(chain_id)
        return None if chain is None else chain.tokens.get(symbol)

    def token_by_address(self, chain_id: int, address: str) -> ResolvedToken | None:
        chain = self.chains.get(chain_id)
        return None if chain is None else chain.token_by_address(address)

    def route_disabled(self, route: Route) -> bool:
        return route in self.limits.disabled_routes


# --------------------------------------------------------------------------------------------------------------------
# YAML: exact numbers, YAML 1.2-ish booleans, hex stays text, duplicate keys reported


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = loader.construct_scalar(node)
    plain = text.replace("_", "")
    if re.fullmatch(r"[-+]?[0-9]+", plain):
        return int(plain, 10)  # leading zeros are decimal, not octal
    return text  # 0x..., 0b..., 1:30 stay text (addresses must not become ints)


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = loader.construct_scalar(node)
    plain = text.replace("_", "")
    if ":" in plain or "inf" in plain.lower() or "nan" in plain.lower():
        return text
    try:
        return Decimal(plain)
    except InvalidOperation:
        return text


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _find_duplicate_keys(node: yaml.Node, path: _Path, problems: _Problems, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = key_node.value
                line = key_node.start_mark.line + 1
                ident = (key_node.tag, key)  # 31337 and "31337" differ here (the chains check reports those)
                if ident in first_line:
                    problems.add(path + (key,), f"duplicate key (lines {first_line[ident]} and {line})")
                else:
                    first_line[ident] = line
                _find_duplicate_keys(value_node, path + (key,), problems, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicate_keys(item, path + (_Idx(i),), problems, seen)


def _parse_yaml(text: str, source: str, problems: _Problems) -> Any:
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([f"{source}: the file is empty"])
        _find_duplicate_keys(node, (), problems, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{where}: YAML syntax error: {what}"]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ConfigError(
            [f"{source}:{line}:{column}: YAML syntax error: unacceptable character"
             + (f" #x{exc.character:04x}" if isinstance(exc.character, int) else "")]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: YAML error ({type(exc).__name__})"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: the YAML nests too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()


# --------------------------------------------------------------------------------------------------------------------
# Secrets in the YAML


def _is_secret_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    k = key.strip().lower().replace("-", "_").replace(" ", "_")
    if k.endswith("_env"):
        return False
    return any(part in k for part in _SECRET_KEY_PARTS)


def _scan_secrets(value: Any, path: _Path, problems: _Problems, flagged: list[_Path], seen: set[int]) -> None:
    if isinstance(value, (dict, list)):
        if id(value) in seen:
            return
        seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            here = path + (key,)
            if isinstance(key, str) and _HEX_KEY_RE.fullmatch(key.strip()):
                problems.add(here, f"looks like a private key; {SECRET_MESSAGE}")
                flagged.append(here)
                continue
            if _is_secret_key(key) and item not in (None, "", [], {}):
                problems.add(here, SECRET_MESSAGE)
                flagged.append(here)
                continue
            _scan_secrets(item, here, problems, flagged, seen)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _scan_secrets(item, path + (_Idx(i),), problems, flagged, seen)
    elif isinstance(value, str) and _HEX_KEY_RE.fullmatch(value.strip()):
        problems.add(path, f"looks like a private key; {SECRET_MESSAGE}")
        flagged.append(path)


# --------------------------------------------------------------------------------------------------------------------
# Building the resolved config


_SETTING_DEFAULTS: dict[str, Any] = {
    "confirmations": 0,
    "origin_gas_estimate": 160_000,
    "dest_gas_estimate": 100_000,
    "quote_offset_bps": Decimal(0),
    "quote_width_bps": Decimal(0),
    "quote_pct": Decimal(100),
    "min_gas_token": 10**18,
    "fixed_fee_multiplier": Decimal(1),
    "native_token": "ETH",
    "deadline_buffer_seconds": 600,
    "batch_window_seconds": Decimal(0),
    "batch_max_orders": 20,
    "max_gas_price_gwei": None,
    "min_gas_price_gwei": None,
    "rfq_address": None,
    "multicall_address": None,
    "token_messenger_address": None,
    "message_transmitter_address": None,
}
assert set(_SETTING_DEFAULTS) == set(ChainSettingsFile.model_fields)


def _dec_str(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, Decimal)):
        return "a number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return "something else"


def _section(data: dict, key: str, problems: _Problems, *, kind: type, default: Any) -> Any:
    """The raw value of a top-level section, or ``default`` when absent/null; None (and a problem) when wrong-typed."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        problems.add((key,), f"must be {'a mapping' if kind is dict else 'a list'} (got {_kind(value)})")
        return None
    return value


@dataclass
class _ChainDraft:
    key: str  # the key as written
    settings: dict[str, Any] | None  # merged (None when the chain or base failed)
    chain_file: ChainFile | None
    tokens: dict[str, ResolvedToken]
    token_files: dict[str, TokenFile]
    raw_addresses: set[str]  # lowercase addresses of every token written (valid or not)
    broken_symbols: set[str]
    opaque_broken: bool = False  # a broken token whose address could not even be read


def _build(data: dict, *, base_dir: Path, source: str, problems: _Problems) -> MmtuiConfig | None:
    for key in data:
        if key not in _TOP_KEYS:
            problems.add((key,), "unknown key (typo?)")

    scalars = _validate(
        _Scalars, {k: data[k] for k in ("name", "rebalance_interval", "screener_api_url") if data.get(k) is not None}, (), problems
    )

    # database
    database: DatabaseSettings | None = None
    if data.get("database") is None:
        problems.add(("database",), "required (type: sqlite|postgres, dsn: ...)")
    else:
        db = _validate(DatabaseFile, data["database"], ("database",), problems)
        if db is not None:
            database = _resolve_database(db, base_dir, problems)

    # signer
    signer: SignerConfig | None = None
    raw_signer = data.get("signer")
    if raw_signer is None:
        problems.add(("signer",), "required (type: env|keystore|devnet_unlocked)")
    elif not isinstance(raw_signer, dict):
        problems.add(("signer",), f"must be a mapping (got {_kind(raw_signer)})")
    elif raw_signer.get("type") is None:
        problems.add(("signer", "type"), "required (one of: " + ", ".join(_SIGNER_MODELS) + ")")
    elif not isinstance(raw_signer.get("type"), str) or raw_signer["type"] not in _SIGNER_MODELS:
        problems.add(("signer", "type"), "must be one of: " + ", ".join(_SIGNER_MODELS))
    else:
        signer = _validate(_SIGNER_MODELS[raw_signer["type"]], raw_signer, ("signer",), problems)
        if isinstance(signer, KeystoreSigner):
            path = signer.path.expanduser()
            signer = signer.model_copy(update={"path": path if path.is_absolute() else (base_dir / path)})

    rfq_api = None
    if data.get("rfq_api") is not None:
        rfq_api = _validate(RfqApiConfig, data["rfq_api"], ("rfq_api",), problems)
    quote_api = None
    if data.get("quote_api") is not None:
        quote_api = _validate(QuoteApiConfig, data["quote_api"], ("quote_api",), problems)
        if quote_api is not None and quote_api.address_file is not None:
            path = quote_api.address_file.expanduser()
            quote_api = quote_api.model_copy(
                update={"address_file": path if path.is_absolute() else (base_dir / path)})

    # chains
    base_raw = _section(data, "base_chain_config", problems, kind=dict, default={})
    base = None if base_raw is None else _validate(ChainSettingsFile, base_raw, ("base_chain_config",), problems)
    drafts = _build_chains(data, base, problems)

    # rebalance percentages per (symbol, method), REFERENCE §4
    _check_rebalance_groups(drafts or {}, problems)

    chains: dict[int, ResolvedChain] = {}
    for chain_id, draft in (drafts or {}).items():
        if draft.settings is None or draft.chain_file is None:
            continue
        cf = draft.chain_file
        chains[chain_id] = ResolvedChain(
            chain_id=chain_id,
            rpc_url=cf.rpc_url,
            ws_url=cf.ws_url,
            cctp_domain=cf.cctp_domain,
            start_block=cf.start_block,
            tokens=MappingProxyType(dict(draft.tokens)),
            **draft.settings,
        )

    quotable, route_table = _build_routes(data, drafts, problems)
    routes = route_table.routes
    limits = _build_limits(data, drafts, route_table, problems)
    breakers = _build_breakers(data, drafts, route_table, problems)
    alerts = _build_alerts(data, problems)

    if problems or scalars is None or database is None or signer is None:
        return None
    return MmtuiConfig(
        name=scalars.name or (Path(source).stem if source and not source.startswith("<") else "mmtui"),
        source=source,
        base_dir=base_dir,
        database=database,
        signer=signer,
        rebalance_interval_seconds=scalars.rebalance_interval,
        screener_api_url=scalars.screener_api_url,
        rfq_api=rfq_api,
        chains=MappingProxyType(chains),
        quotable_tokens=MappingProxyType(quotable),
        routes=tuple(routes),
        limits=limits,
        breakers=tuple(breakers),
        alerts=tuple(alerts),
        quote_api=quote_api,
    )


def _resolve_database(db: DatabaseFile, base_dir: Path, problems: _Problems) -> DatabaseSettings | None:
    dsn = db.dsn
    if db.type == "sqlite":
        synchronous = db.sqlite_synchronous or "normal"
        if "://" in dsn:
            problems.add(("database", "dsn"), "for sqlite, must be a file path (not a URL)")
            return None
        if dsn == ":memory:":
            return DatabaseSettings("sqlite", dsn, synchronous)
        path = Path(dsn).expanduser()
        return DatabaseSettings("sqlite", str(path if path.is_absolute() else base_dir / path), synchronous)
    if db.sqlite_synchronous is not None:
        problems.add(("database", "sqlite_synchronous"), "only for type: sqlite (PostgreSQL has synchronous_commit)")
        return None
    try:
        parts = urlsplit(dsn)
        password = parts.password
        query = parse_qs(parts.query)
    except ValueError:
        problems.add(("database", "dsn"), "must be a postgresql:// URL")
        return None
    if parts.scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
        problems.add(("database", "dsn"), "must be a postgresql:// URL")
        return None
    if password is not None or "password" in query:
        problems.add(("database", "dsn"), f"contains a password; {SECRET_MESSAGE} (use PGPASSWORD or ~/.pgpass)")
        return None
    return DatabaseSettings("postgres", dsn)


def _build_chains(data: dict, base: ChainSettingsFile | None, problems: _Problems) -> dict[int, _ChainDraft] | None:
    """Chain drafts by id, or None when the ``chains`` section itself is unusable (then references are not checked)."""
    drafts: dict[int, _ChainDraft] = {}
    raw_chains = data.get("chains")
    if raw_chains is None:
        problems.add(("chains",), "required (at least one chain)")
        return None
    if not isinstance(raw_chains, dict):
        problems.add(("chains",), f"must be a mapping of chain id -> chain settings (got {_kind(raw_chains)})")
        return None
    if not raw_chains:
        problems.add(("chains",), "at least one chain is required")
        return None
    base_ok = base is not None
    for key, raw_chain in raw_chains.items():
        path: _Path = ("chains", str(key))
        try:
            chain_id = _check_chain_id(key)
        except PydanticCustomError as exc:
            problems.add(path, exc.message())
            continue
        if chain_id in drafts:
            problems.add(path, f"chain {chain_id} is configured twice")
            continue
        draft = _ChainDraft(str(key), None, None, {}, {}, set(), set())
        drafts[chain_id] = draft
        if not isinstance(raw_chain, dict):
            problems.add(path, f"must be a mapping (got {_kind(raw_chain)})")
            continue
        draft.chain_file = _validate(ChainFile, {k: v for k, v in raw_chain.items() if k != "tokens"}, path, problems)
        settings: dict[str, Any] | None = None
        if draft.chain_file is not None and base_ok:
            settings = dict(_SETTING_DEFAULTS)
            settings.update({k: getattr(base, k) for k in base.model_fields_set})
            settings.update({k: getattr(draft.chain_file, k) for k in draft.chain_file.model_fields_set if k in settings})
            if settings["rfq_address"] is None:
                problems.add(path + ("rfq_address",), "required (here or in base_chain_config)")
            lo, hi = settings["min_gas_price_gwei"], settings["max_gas_price_gwei"]
            if lo is not None and hi is not None and lo > hi:
                problems.add(path + ("min_gas_price_gwei",), "must not exceed max_gas_price_gwei")
            draft.settings = settings
        _build_tokens(chain_id, path, raw_chain.get("tokens"), draft, problems)
    return drafts


def _build_tokens(chain_id: int, path: _Path, raw_tokens: Any, draft: _ChainDraft, problems: _Problems) -> None:
    path = path + ("tokens",)
    if raw_tokens is None:
        return
    if not isinstance(raw_tokens, dict):
        problems.add(path, f"must be a mapping of symbol -> token settings (got {_kind(raw_tokens)})")
        return
    by_address: dict[str, str] = {}
    for symbol, raw in raw_tokens.items():
        tpath = path + (symbol,)
        if isinstance(raw, dict) and isinstance(raw.get("address"), str) and _ADDRESS_RE.fullmatch(raw["address"].strip()):
            draft.raw_addresses.add(raw["address"].strip().lower())
        else:
            draft.opaque_broken = True  # (if it is also valid, it is found by symbol/address first)
        try:
            _check_symbol(symbol)
        except PydanticCustomError as exc:
            problems.add(tpath, exc.message())
            continue
        tf = _validate(TokenFile, raw, tpath, problems)
        if tf is None:
            draft.broken_symbols.add(symbol)
            continue
        draft.token_files[symbol] = tf
        ok = True
        if tf.address in by_address:
            problems.add(tpath + ("address",), f"same address as token {by_address[tf.address]} on chain {chain_id}")
            ok = False
        by_address.setdefault(tf.address, symbol)
        if tf.address == NATIVE_TOKEN_ADDRESS and tf.decimals != 18:
            problems.add(tpath + ("decimals",), "must be 18 for the native token (0xEeee...EEeE)")
            ok = False
        if tf.reference_pool is not None and tf.address == NATIVE_TOKEN_ADDRESS:
            problems.add(tpath + ("reference_pool",), "a pool prices an ERC20: not the native token")
            ok = False
        amounts: dict[str, int | None] = {}
        for name in ("min_quote_amount", "max_relay_amount", "max_balance", "min_rebalance_amount", "max_rebalance_amount"):
            value = getattr(tf, name)
            if value is None:
                amounts[name] = None
                continue
            try:
                amounts[name] = to_base_units(value, tf.decimals)
            except ValueError as exc:
                msg = str(exc)
                if "decimal places" in msg:
                    msg += f" ({symbol} has {tf.decimals} decimals)"
                problems.add(tpath + (name,), msg)
                ok = False
        if ok and amounts["max_rebalance_amount"] is not None and amounts["min_rebalance_amount"] > amounts["max_rebalance_amount"]:
            problems.add(tpath + ("min_rebalance_amount",), "must not exceed max_rebalance_amount")
            ok = False
        if tf.rebalance_method is None:
            if tf.rebalance_mode == "auto":
                problems.add(tpath + ("rebalance_mode",), "auto needs a rebalance_method")
                ok = False
        else:
            for name in ("maintenance_balance_pct", "initial_balance_pct"):
                if getattr(tf, name) is None:
                    problems.add(tpath + (name,), "required when rebalance_method is set")
                    ok = False
            cf = draft.chain_file
            settings = draft.settings
            if cf is not None and settings is not None:
                missing = [
                    n
                    for n, v in (
                        ("token_messenger_address", settings["token_messenger_address"]),
                        ("message_transmitter_address", settings["message_transmitter_address"]),
                        ("cctp_domain", cf.cctp_domain),
                    )
                    if v is None
                ]
                if missing:
                    problems.add(
                        tpath + ("rebalance_method",),
                        f"{tf.rebalance_method} rebalancing needs token_messenger_address, message_transmitter_address "
                        f"and cctp_domain on chain {chain_id} (missing: {', '.join(missing)})",
                    )
                    ok = False
        if not ok:
            draft.broken_symbols.add(symbol)
            continue
        draft.tokens[symbol] = ResolvedToken(
            chain_id=chain_id,
            symbol=symbol,
            address=tf.address,
            decimals=tf.decimals,
            price_usd=tf.price_usd,
            min_quote_amount=amounts["min_quote_amount"] or 0,
            max_relay_amount=amounts["max_relay_amount"],
            max_balance=amounts["max_balance"],
            quote_offset_bps=tf.quote_offset_bps,
            rebalance_method=tf.rebalance_method,
            rebalance_mode=tf.rebalance_mode,
            maintenance_balance_pct=tf.maintenance_balance_pct,
            initial_balance_pct=tf.initial_balance_pct,
            min_rebalance_amount=amounts["min_rebalance_amount"] or 0,
            max_rebalance_amount=amounts["max_rebalance_amount"],
            reference_pool=tf.reference_pool,
        )


def _check_rebalance_groups(drafts: dict[int, _ChainDraft], problems: _Problems) -> None:
    groups: dict[tuple[str, str], list[tuple[int, TokenFile]]] = {}
    broken: set[str] = set()
    for chain_id, draft in drafts.items():
        broken |= draft.broken_symbols
        for symbol, tf in draft.token_files.items():
            if tf.rebalance_method is not None:
                groups.setdefault((symbol, tf.rebalance_method), []).append((chain_id, tf))
    for (symbol, method), members in groups.items():
        if symbol in broken:
            continue  # reported already; a sum over a partial set would only add noise
        for field, test, wanted in (
            ("maintenance_balance_pct", lambda total: total <= 100, "at most 100"),
            ("initial_balance_pct", lambda total: total == 100, "100"),
        ):
            values = [(cid, getattr(tf, field)) for cid, tf in members]
            if any(v is None for _, v in values):
                continue
            total = sum((v for _, v in values), Decimal(0))
            if not test(total):
                detail = ", ".join(f"{cid}: {_dec_str(v)}" for cid, v in values)
                problems.add(
                    ("chains", "*", "tokens", symbol, field),
                    f"must sum to {wanted} across the chains rebalancing {symbol} by {method} "
                    f"({detail}; total {_dec_str(total)})",
                )


def _lookup_token(drafts: dict[int, _ChainDraft] | None, chain_id: int, token: str) -> tuple[str, str | None]:
    """-> ("ok", checksum address) | ("broken", None) (exists but invalid: stay quiet) | ("chain"/"token", None)."""
    if drafts is None:
        return "broken", None  # the chains section itself is missing or malformed (reported already)
    draft = drafts.get(chain_id)
    if draft is None:
        return "chain", None
    if draft.chain_file is None:
        return "broken", None
    if token in draft.tokens:
        return "ok", draft.tokens[token].address
    if token in draft.broken_symbols:
        return "broken", None
    for t in draft.tokens.values():
        if t.address.lower() == token.lower():
            return "ok", t.address
    if token.lower() in draft.raw_addresses or draft.opaque_broken:
        return "broken", None
    return "token", None


def _endpoint_problem(status: str, chain_id: int, token: str, *, address_only: bool) -> str:
    if status == "chain":
        return f"chain {chain_id} is not configured under chains"
    readable = _ADDRESS_RE.fullmatch(token) or (not address_only and _SYMBOL_RE.fullmatch(token))
    shown = token if readable else "the token"
    return f"{shown} is not a token configured on chain {chain_id}"


@dataclass
class _RouteTable:
    routes: list[Route]
    uncertain: set[tuple[int, str]]  # (chain, lowercase origin address) of quotable entries that had problems
    all_uncertain: bool = False  # the section (or an origin key) was unreadable

    def known(self, route: Route) -> bool | None:
        """True / False, or None when a broken quotable_tokens entry makes the answer unknowable."""
        if route in self.routes:
            return True
        if self.all_uncertain or (route.origin_chain_id, route.origin_token.lower()) in self.uncertain:
            return None
        return False


def _build_routes(data: dict, drafts: dict[int, _ChainDraft] | None, problems: _Problems):
    quotable: dict[tuple[int, str], tuple[tuple[int, str], ...]] = {}
    table = _RouteTable([], set())
    raw = _section(data, "quotable_tokens", problems, kind=dict, default={})
    if raw is None:
        table.all_uncertain = True
    if not raw:
        return quotable, table
    hint = 'must be "<chain id>-<token address>"'
    for key, dests in raw.items():
        before = len(problems.items)
        kpath: _Path = ("quotable_tokens", str(key))
        origin = _split_endpoint(key)
        origin_addr = None
        if origin is None or not _ADDRESS_RE.fullmatch(origin[1]):
            problems.add(kpath, hint)
            table.all_uncertain = True
        else:
            status, origin_addr = _lookup_token(drafts, *origin)
            if status in ("chain", "token"):
                problems.add(kpath, _endpoint_problem(status, *origin, address_only=True))
            elif status == "broken":
                table.uncertain.add((origin[0], origin[1].lower()))
        if not isinstance(dests, list):
            problems.add(kpath, f"must be a list of \"<chain id>-<token address>\" (got {_kind(dests)})")
            dests = []
        targets: list[tuple[int, str]] = []
        for i, dest_text in enumerate(dests):
            dpath = kpath + (_Idx(i),)
            dest = _split_endpoint(dest_text)
            if dest is None or not _ADDRESS_RE.fullmatch(dest[1]):
                problems.add(dpath, hint)
                continue
            status, dest_addr = _lookup_token(drafts, *dest)
            if status in ("chain", "token"):
                problems.add(dpath, _endpoint_problem(status, *dest, address_only=True))
                continue
            if origin is not None and dest[0] == origin[0]:
                problems.add(dpath, f"origin and destination are both on chain {dest[0]} (a route must cross chains)")
                continue
            if origin_addr is None or dest_addr is None:
                if origin is not None:
                    table.uncertain.add((origin[0], origin[1].lower()))
                continue
            if (dest[0], dest_addr) not in targets:
                targets.append((dest[0], dest_addr))
                route = Route(origin[0], origin_addr, dest[0], dest_addr)
                if route not in table.routes:
                    table.routes.append(route)
        if origin is not None and len(problems.items) > before:
            table.uncertain.add((origin[0], origin[1].lower()))
        if origin_addr is not None:
            okey = (origin[0], origin_addr)
            quotable[okey] = tuple(dict.fromkeys(quotable.get(okey, ()) + tuple(targets)))
    return quotable, table


def _resolve_route(
    spec: _RouteSpec, drafts: dict[int, _ChainDraft] | None, table: _RouteTable, path: _Path, problems: _Problems
) -> Route | None:
    ends = []
    for chain_id, token in ((spec.origin_chain, spec.origin_token), (spec.dest_chain, spec.dest_token)):
        status, address = _lookup_token(drafts, chain_id, token)
        if status in ("chain", "token"):
            problems.add(path, _endpoint_problem(status, chain_id, token, address_only=False))
            return None
        if address is None:
            return None
        ends.append(address)
    route = Route(spec.origin_chain, ends[0], spec.dest_chain, ends[1])
    known = table.known(route)
    if known is False:
        problems.add(path, "not a route in quotable_tokens")
    return route if known else None


def _build_limits(data: dict, drafts, routes: _RouteTable, problems: _Problems) -> Limits:
    raw = _section(data, "limits", problems, kind=dict, default={})
    if raw is None:
        return Limits()
    lf = _validate(LimitsFile, raw, ("limits",), problems)
    if lf is None:
        return Limits()
    disabled = set()
    for i, spec in enumerate(lf.disabled_routes):
        route = _resolve_route(spec, drafts, routes, ("limits", "disabled_routes", _Idx(i)), problems)
        if route is not None:
            disabled.add(route)
    if (
        lf.max_order_notional_usd is not None
        and lf.max_window_notional_usd is not None
        and lf.max_order_notional_usd > lf.max_window_notional_usd
    ):
        problems.add(("limits", "max_order_notional_usd"), "must not exceed max_window_notional_usd")
    return Limits(lf.max_order_notional_usd, lf.max_window_notional_usd, lf.window_seconds, frozenset(disabled))


def _build_breakers(data: dict, drafts, routes: _RouteTable, problems: _Problems) -> list[BreakerRule]:
    out: list[BreakerRule] = []
    raw = _section(data, "breakers", problems, kind=list, default=[])
    names: dict[str, int] = {}
    for i, item in enumerate(raw or []):
        path: _Path = ("breakers", _Idx(i))
        bf = _validate(BreakerFile, item, path, problems)
        if bf is None:
            continue
        if bf.name in names:
            problems.add(path + ("name",), f"same name as breakers[{names[bf.name]}]")
            continue
        names[bf.name] = i
        scope, spath = bf.scope, path + ("scope",)
        if scope.level not in BREAKER_LEVELS[bf.kind]:
            problems.add(spath + ("level",), f"{bf.kind} works at level: " + ", ".join(BREAKER_LEVELS[bf.kind]))
            continue
        needs = {"global": (), "chain": ("chain_id",), "token": ("chain_id", "token"), "route": ("route",)}[scope.level]
        bad = False
        for field in ("chain_id", "token", "route"):
            given = getattr(scope, field) is not None
            if field in needs and not given:
                problems.add(spath + (field,), f"required for level {scope.level}")
                bad = True
            elif given and field not in needs:
                problems.add(spath + (field,), f"not used with level {scope.level}")
                bad = True
        if bf.window_blocks is not None and bf.window_seconds is not None:
            problems.add(path + ("window_seconds",), "set window_blocks or window_seconds, not both")
            bad = True
        if bf.min_attempts is not None and bf.kind != "failure_rate":
            problems.add(path + ("min_attempts",), f"only used by failure_rate rules, not {bf.kind}")
            bad = True
        if bad:
            continue
        token = token_address = route = None
        if scope.chain_id is not None:
            status, _ = _lookup_token(drafts, scope.chain_id, "")
            if status == "chain":
                problems.add(spath + ("chain_id",), f"chain {scope.chain_id} is not configured under chains")
                continue
        if scope.token is not None:
            status, token_address = _lookup_token(drafts, scope.chain_id, scope.token)
            if status == "token":
                problems.add(spath + ("token",), _endpoint_problem(status, scope.chain_id, scope.token, address_only=False))
                continue
            if token_address is None:
                continue
            token = next(t.symbol for t in drafts[scope.chain_id].tokens.values() if t.address == token_address)
        if scope.route is not None:
            route = _resolve_route(scope.route, drafts, routes, spath + ("route",), problems)
            if route is None:
                continue
        out.append(
            BreakerRule(
                name=bf.name,
                kind=bf.kind,
                level=scope.level,
                threshold=bf.threshold,
                chain_id=scope.chain_id,
                token=token,
                token_address=token_address,
                route=route,
                window_blocks=bf.window_blocks,
                window_seconds=bf.window_seconds,
                stop_in_flight=bf.stop_in_flight,
                min_attempts=bf.min_attempts,
            )
        )
    return out


def _build_alerts(data: dict, problems: _Problems) -> list[AlertTarget]:
    out: list[AlertTarget] = []
    raw = _section(data, "alerts", problems, kind=list, default=[])
    names: dict[str, int] = {}
    for i, item in enumerate(raw or []):
        path: _Path = ("alerts", _Idx(i))
        af = _validate(AlertFile, item, path, problems)
        if af is None:
            continue
        if af.name in names:
            problems.add(path + ("name",), f"same name as alerts[{names[af.name]}]")
            continue
        names[af.name] = i
        if af.kind == "sms" and af.to is None:
            problems.add(path + ("to",), "required for sms alerts")
            continue
        if af.kind != "sms" and af.to is not None:
            problems.add(path + ("to",), f"only used by sms alerts, not {af.kind}")
            continue
        if (af.url is None) == (af.url_env is None):
            problems.add(path + ("url",), "set url or url_env (the environment variable holding the URL), one of them")
            continue
        out.append(AlertTarget(af.name, af.kind, af.url or "", af.secret_env, af.to, af.url_env))
    return out


# --------------------------------------------------------------------------------------------------------------------
# Public entry points


def load_config_text(text: str, *, base_dir: str | Path = ".", source: str = "<config>") -> MmtuiConfig:
    """Validate YAML ``text``; relative paths resolve against ``base_dir``. Raises ConfigError only."""
    problems = _Problems()
    data = _parse_yaml(text, source, problems)
    if data is None:
        raise ConfigError([f"{source}: the file is empty"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of settings (got {_kind(data)})"])
    flagged: list[_Path] = []
    _scan_secrets(data, (), problems, flagged, set())
    config = _build(data, base_dir=Path(base_dir).expanduser().resolve(), source=source, problems=problems)
    if problems:
        raise ConfigError(problems.lines(flagged))
    assert config is not None
    return config


def load_config(path: str | Path) -> MmtuiConfig:
    """Read and validate the YAML config at ``path``. Raises ConfigError (never anything else)."""
    p = Path(path).expanduser()
    source = str(path)
    try:
        if p.exists() and not p.is_dir() and not p.is_file():
            raise ConfigError([f"{source}: not a regular file"])
        if p.is_file() and p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError([f"{source}: too large for a config file (over {MAX_CONFIG_BYTES // 1_000_000} MB)"])
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{source}: config file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a config file"]) from None
    except PermissionError:
        raise ConfigError([f"{source}: permission denied"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read the config file ({exc.strerror or type(exc).__name__})"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: not UTF-8 text (bad byte at offset {exc.start})"]) from None
    if not text.strip():
        raise ConfigError([f"{source}: the file is empty"])
    return load_config_text(text, base_dir=p.resolve().parent, source=source)


def resolve_signer_key(signer_cfg: SignerConfig, environ: Mapping[str, str] | None = None):
    """The signing account for ``signer_cfg``: an eth-account ``LocalAccount``, or None for ``devnet_unlocked``.

    Errors raise ConfigError naming the environment variable / keystore path, never the key or the password.
    (``repr(LocalAccount)`` is the default object repr: it does not reveal the key.)
    """
    from eth_account import Account

    env = os.environ if environ is None else environ
    if isinstance(signer_cfg, DevnetUnlockedSigner):
        return None
    if isinstance(signer_cfg, EnvSigner):
        value = env.get(signer_cfg.env)
        if value is None:
            raise ConfigError([f"signer.env: environment variable {signer_cfg.env} is not set"])
        value = value.strip()
        if not value:
            raise ConfigError([f"signer.env: environment variable {signer_cfg.env} is empty"])
        if not _HEX_KEY_RE.fullmatch(value):
            raise ConfigError([f"signer.env: environment variable {signer_cfg.env} does not hold a 32-byte hex private key"])
        try:
            return Account.from_key(value if value.startswith("0x") else "0x" + value)
        except Exception:  # noqa: BLE001 - out-of-range key; never echo it
            raise ConfigError(
                [f"signer.env: environment variable {signer_cfg.env} does not hold a valid secp256k1 private key"]
            ) from None
    if isinstance(signer_cfg, KeystoreSigner):
        path = signer_cfg.path
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"signer.path: keystore file {path} not found"]) from None
        except OSError as exc:
            raise ConfigError([f"signer.path: cannot read keystore file {path} ({exc.strerror or type(exc).__name__})"]) from None
        except UnicodeDecodeError:
            raise ConfigError([f"signer.path: {path} is not a JSON keystore"]) from None
        try:
            keystore = json.loads(raw)
        except ValueError:
            raise ConfigError([f"signer.path: {path} is not a JSON keystore"]) from None
        if not isinstance(keystore, dict) or "crypto" not in {k.lower() for k in keystore}:
            raise ConfigError([f"signer.path: {path} is not a JSON keystore"])
        password = env.get(signer_cfg.password_env)
        if password is None:
            raise ConfigError([f"signer.password_env: environment variable {signer_cfg.password_env} is not set"])
        try:
            key = Account.decrypt(keystore, password)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise ConfigError(
                    [f"signer.password_env: wrong password for keystore {path} (from {signer_cfg.password_env})"]
                ) from None
            raise ConfigError([f"signer.path: {path} is not a valid keystore"]) from None
        except Exception:  # noqa: BLE001 - malformed keystore fields
            raise ConfigError([f"signer.path: {path} is not a valid keystore"]) from None
        return Account.from_key(key)
    raise ConfigError(["signer: unknown signer type"])


# --- writing a config (the devnet uses this) -------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _represent_decimal(dumper: yaml.SafeDumper, d: Decimal) -> yaml.Node:
    if d == d.to_integral_value() and d.as_tuple().exponent >= 0:
        return dumper.represent_int(int(d))
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(d, "f"))


_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(tuple, lambda d, v: d.represent_list(list(v)))
_Dumper.add_multi_representer(Path, lambda d, v: d.represent_str(str(v)))


def dump_config_yaml(data: Mapping[str, Any], *, base_dir: str | Path = ".") -> str:
    """Plain dict -> YAML text, validated by loading it (ConfigError if it would not load)."""
    text = yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    load_config_text(text, base_dir=base_dir, source="<generated config>")
    return text


def render_config(data: Mapping[str, Any], path: str | Path) -> MmtuiConfig:
    """Validate ``data`` and write it to ``path`` as YAML (atomically); returns the loaded config."""
    path = Path(path)
    text = dump_config_yaml(data, base_dir=path.parent.expanduser().resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return load_config(path)
