"""engine.config: the YAML config, its exact numbers, its cross-checks and its error messages."""
from __future__ import annotations

import copy
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from eth_account import Account

from engine.config import (
    NATIVE_TOKEN_ADDRESS,
    SECRET_MESSAGE,
    ConfigError,
    DevnetUnlockedSigner,
    EnvSigner,
    KeystoreSigner,
    Route,
    dump_config_yaml,
    load_config,
    load_config_text,
    parse_duration,
    render_config,
    resolve_signer_key,
    to_base_units,
)

REPO = Path(__file__).resolve().parent.parent
USDC = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
RFQ = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MESSENGER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
TRANSMITTER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
OTHER = "0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9"
# A well-known throwaway key (anvil account 0); never a real secret.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def _chain(port: int, domain: int) -> dict[str, Any]:
    return {
        "rpc_url": f"http://127.0.0.1:{port}",
        "ws_url": f"ws://127.0.0.1:{port}",
        "rfq_address": RFQ,
        "token_messenger_address": MESSENGER,
        "message_transmitter_address": TRANSMITTER,
        "cctp_domain": domain,
        "tokens": {
            "USDC": {
                "address": USDC,
                "decimals": 6,
                "price_usd": "1.0",
                "min_quote_amount": 10,
                "max_relay_amount": 50000,
                "rebalance_method": "cctp",
                "maintenance_balance_pct": 20,
                "initial_balance_pct": 50,
                "min_rebalance_amount": 100,
                "max_rebalance_amount": 100000,
            },
            "ETH": {"address": NATIVE_TOKEN_ADDRESS, "decimals": 18, "price_usd": 2600, "min_quote_amount": "0.01"},
        },
    }


GOOD: dict[str, Any] = {
    "name": "test",
    "database": {"type": "sqlite", "dsn": "data/mmtui.db"},
    "signer": {"type": "env", "env": "MMTUI_SIGNER_KEY"},
    "rebalance_interval": "2m",
    "base_chain_config": {"confirmations": 2, "max_gas_price_gwei": 100},
    "chains": {"31337": _chain(8545, 0), "31338": _chain(8546, 1)},
    "quotable_tokens": {
        f"31337-{USDC}": [f"31338-{USDC}"],
        f"31338-{USDC.lower()}": [f"31337-{USDC}"],
        f"31337-{NATIVE_TOKEN_ADDRESS}": [f"31338-{NATIVE_TOKEN_ADDRESS}"],
    },
    "limits": {"max_order_notional_usd": 1000, "disabled_routes": ["31337-ETH>31338-ETH"]},
    "breakers": [
        {"name": "gas", "kind": "gas_price_cap", "scope": {"level": "chain", "chain_id": 31337}, "threshold": 200},
        {"name": "fails", "kind": "failure_rate", "scope": {"level": "route", "route": ["31337-USDC", f"31338-{USDC}"]}, "threshold": "0.5"},
    ],
    "alerts": [{"name": "sms", "kind": "sms", "url": "https://sms.example/send", "secret_env": "SMS_TOKEN", "to": "+15551234567"}],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(tmp_path: Path, data: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def mutate(fn: Callable[[dict], Any]) -> dict:
    data = copy.deepcopy(GOOD)
    fn(data)
    return data


def usdc(data: dict, chain: str = "31337") -> dict:
    return data["chains"][chain]["tokens"]["USDC"]


def setp(*path_and_value: Any) -> Callable[[dict], None]:
    *path, value = path_and_value

    def fn(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return fn


DELETE = object()

BAD_CONFIGS = [
    ("typo-in-limits", setp("limits", "max_order_notinal_usd", 5), ["limits.max_order_notinal_usd: unknown key (typo?)"]),
    ("typo-top-level", setp("rebalance_intervall", "2m"), ["rebalance_intervall: unknown key (typo?)"]),
    (
        "decimals-too-big",
        setp("chains", "31337", "tokens", "ETH", "decimals", 78),
        ["chains.31337.tokens.ETH.decimals: must be between 0 and 77"],
    ),
    ("short-address", setp("chains", "31337", "rfq_address", "0x1234"), ["chains.31337.rfq_address: not a 20-byte hex address"]),
    (
        "bad-checksum",
        setp("chains", "31337", "rfq_address", RFQ[:-1] + "A"),
        ["chains.31337.rfq_address: has a wrong EIP-55 checksum (typo?); write it all-lowercase or with the right checksum"],
    ),
    ("db-type", setp("database", "type", "mysql"), ["database.type: must be one of: sqlite, postgres"]),
    ("db-missing", setp("database", DELETE), ["database: required (type: sqlite|postgres, dsn: ...)"]),
    (
        "db-synchronous",
        setp("database", "sqlite_synchronous", "off"),
        ["database.sqlite_synchronous: must be one of: normal, full"],
    ),
    (
        "db-synchronous-postgres",
        setp("database", {"type": "postgres", "dsn": "postgresql://mm@db:5432/mm", "sqlite_synchronous": "full"}),
        ["database.sqlite_synchronous: only for type: sqlite (PostgreSQL has synchronous_commit)"],
    ),
    (
        "db-password",
        setp("database", {"type": "postgres", "dsn": "postgresql://mm:hunter2@db:5432/mm"}),
        [f"database.dsn: contains a password; {SECRET_MESSAGE} (use PGPASSWORD or ~/.pgpass)"],
    ),
    (
        "env-name",
        setp("signer", "env", "my key"),
        ["signer.env: must be the NAME of an environment variable (uppercase letters, digits and _)"],
    ),
    ("signer-type", setp("signer", "type", "gcp"), ["signer.type: must be one of: env, keystore, devnet_unlocked"]),
    ("keystore-no-password-env", setp("signer", {"type": "keystore", "path": "k.json"}), ["signer.password_env: required"]),
    (
        "interval",
        setp("rebalance_interval", "2x"),
        ["rebalance_interval: must be a duration like 90s, 2m or 1h (or a whole number of seconds)"],
    ),
    ("rpc-scheme", setp("chains", "31337", "rpc_url", "ftp://x"), ["chains.31337.rpc_url: must be an http:// or https:// URL"]),
    ("ws-scheme", setp("chains", "31337", "ws_url", "http://x"), ["chains.31337.ws_url: must be a ws:// or wss:// URL"]),
    ("rpc-missing", setp("chains", "31338", "rpc_url", DELETE), ["chains.31338.rpc_url: required"]),
    ("pct-range", setp("base_chain_config", "quote_pct", 101), ["base_chain_config.quote_pct: must be between 0 and 100"]),
    ("bps-not-number", setp("base_chain_config", "quote_width_bps", "wide"), ["base_chain_config.quote_width_bps: must be a number"]),
    (
        "wei-fraction",
        setp("base_chain_config", "min_gas_token", "1.5"),
        ["base_chain_config.min_gas_token: must be a whole number of wei (an integer or a string of digits)"],
    ),
    (
        "gwei-precision",
        setp("base_chain_config", "max_gas_price_gwei", "0.0000000001"),
        ["base_chain_config.max_gas_price_gwei: has more than 9 decimal places"],
    ),
    (
        "gas-floor-above-ceiling",
        setp("chains", "31337", "min_gas_price_gwei", 101),
        ["chains.31337.min_gas_price_gwei: must not exceed max_gas_price_gwei"],
    ),
    ("rfq-missing", setp("chains", "31337", "rfq_address", DELETE), ["chains.31337.rfq_address: required (here or in base_chain_config)"]),
    ("chain-id", setp("chains", "mainnet", _chain(1, 2)), ["chains.mainnet: not a valid chain id (a positive integer)"]),
    ("chain-twice", setp("chains", 31337, _chain(1, 2)), ["chains.31337: chain 31337 is configured twice"]),
    ("no-chains", setp("chains", {}), ["chains: at least one chain is required"]),
    (
        "native-decimals",
        setp("chains", "31338", "tokens", "ETH", "decimals", 6),
        ["chains.31338.tokens.ETH.decimals: must be 18 for the native token (0xEeee...EEeE)"],
    ),
    (
        "too-many-decimals",
        lambda d: usdc(d).update(min_quote_amount="0.0000001"),
        ["chains.31337.tokens.USDC.min_quote_amount: has more than 6 decimal places (USDC has 6 decimals)"],
    ),
    (
        "negative-amount",
        lambda d: usdc(d).update(max_relay_amount=-1),
        ["chains.31337.tokens.USDC.max_relay_amount: must be >= 0"],
    ),
    (
        "initial-sum",
        lambda d: usdc(d, "31338").update(initial_balance_pct=40),
        [
            "chains.*.tokens.USDC.initial_balance_pct: must sum to 100 across the chains rebalancing USDC by cctp "
            "(31337: 50, 31338: 40; total 90)"
        ],
    ),
    (
        "maintenance-sum",
        lambda d: (usdc(d).update(maintenance_balance_pct=50), usdc(d, "31338").update(maintenance_balance_pct="50.5")),
        [
            "chains.*.tokens.USDC.maintenance_balance_pct: must sum to at most 100 across the chains rebalancing USDC by cctp "
            "(31337: 50, 31338: 50.5; total 100.5)"
        ],
    ),
    (
        "broken-token-skips-sums",
        lambda d: usdc(d).update(initial_balance_pct=70, decimals=-1),
        # USDC on 31337 is broken, so the initial sum (70 + 50) is not checked: no cascade
        ["chains.31337.tokens.USDC.decimals: must be between 0 and 77"],
    ),
    (
        "pct-required",
        lambda d: usdc(d).pop("initial_balance_pct"),
        ["chains.31337.tokens.USDC.initial_balance_pct: required when rebalance_method is set"],
    ),
    (
        "cctp-needs-domain",
        setp("chains", "31338", "cctp_domain", DELETE),
        [
            "chains.31338.tokens.USDC.rebalance_method: cctp rebalancing needs token_messenger_address, "
            "message_transmitter_address and cctp_domain on chain 31338 (missing: cctp_domain)"
        ],
    ),
    (
        "auto-without-method",
        setp("chains", "31337", "tokens", "ETH", "rebalance_mode", "auto"),
        ["chains.31337.tokens.ETH.rebalance_mode: auto needs a rebalance_method"],
    ),
    (
        "method-name",
        lambda d: usdc(d).update(rebalance_method="synapse"),
        ["chains.31337.tokens.USDC.rebalance_method: must be one of: cctp, circlecctp"],
    ),
    (
        "duplicate-token-address",
        setp("chains", "31337", "tokens", "USDC2", {"address": USDC.lower(), "decimals": 6, "price_usd": 1}),
        ["chains.31337.tokens.USDC2.address: same address as token USDC on chain 31337"],
    ),
    (
        "quotable-unknown-chain",
        setp("quotable_tokens", f"1-{USDC}", [f"31338-{USDC}"]),
        [f"quotable_tokens.1-{USDC}: chain 1 is not configured under chains"],
    ),
    (
        "quotable-unknown-token",
        setp("quotable_tokens", f"31337-{USDC}", [f"31338-{OTHER}"]),
        [f"quotable_tokens.31337-{USDC}[0]: {OTHER} is not a token configured on chain 31338"],
    ),
    (
        "quotable-same-chain",
        setp("quotable_tokens", f"31337-{USDC}", [f"31337-{NATIVE_TOKEN_ADDRESS}"]),
        [f"quotable_tokens.31337-{USDC}[0]: origin and destination are both on chain 31337 (a route must cross chains)"],
    ),
    (
        "quotable-shape",
        setp("quotable_tokens", "USDC", f"31338-{USDC}"),
        [
            'quotable_tokens.USDC: must be "<chain id>-<token address>"',
            'quotable_tokens.USDC: must be a list of "<chain id>-<token address>" (got text)',
        ],
    ),
    (
        "disabled-route-unknown",
        setp("limits", "disabled_routes", [["31338-ETH", "31337-ETH"]]),
        ["limits.disabled_routes[0]: not a route in quotable_tokens"],
    ),
    (
        "disabled-route-syntax",
        setp("limits", "disabled_routes", ["31337-ETH to 31338-ETH"]),
        [
            'limits.disabled_routes[0]: must be a route "<chain>-<token>><chain>-<token>" '
            'or a pair ["<chain>-<token>", "<chain>-<token>"]'
        ],
    ),
    ("window-zero", setp("limits", "window_seconds", 0), ["limits.window_seconds: must be >= 1"]),
    (
        "breaker-kind",
        setp("breakers", 0, "kind", "gas_high"),
        ["breakers[0].kind: must be one of: supply_jump, price_drop, price_deviation, gas_price_cap, gas_balance_low, "
         "head_stale, rpc_failing, inventory_drain, failure_rate"],
    ),
    ("breaker-scope-shape", setp("breakers", 0, "scope", {"level": "chain"}), ["breakers[0].scope.chain_id: required for level chain"]),
    (
        "breaker-level-for-kind",
        setp("breakers", 0, "scope", {"level": "token", "chain_id": 31337, "token": "USDC"}),
        ["breakers[0].scope.level: gas_price_cap works at level: global, chain"],
    ),
    (
        "breaker-unknown-chain",
        setp("breakers", 0, "scope", {"level": "chain", "chain_id": 5}),
        ["breakers[0].scope.chain_id: chain 5 is not configured under chains"],
    ),
    ("breaker-dup-name", setp("breakers", 1, "name", "gas"), ["breakers[1].name: same name as breakers[0]"]),
    ("breaker-threshold", setp("breakers", 0, "threshold", DELETE), ["breakers[0].threshold: required"]),
    ("sms-needs-to", setp("alerts", 0, "to", DELETE), ["alerts[0].to: required for sms alerts"]),
    (
        "phone",
        setp("alerts", 0, "to", "call me"),
        ["alerts[0].to: must be a phone number in international format (+15551234567)"],
    ),
    ("alerts-shape", setp("alerts", {"name": "x"}), ["alerts: must be a list (got a mapping)"]),
    ("token-not-mapping", setp("chains", "31337", "tokens", "ETH", 5), ["chains.31337.tokens.ETH: must be a mapping"]),
    (
        "bool-is-not-int",
        setp("base_chain_config", "confirmations", True),
        ["base_chain_config.confirmations: must be a whole number"],
    ),
    ("batch-window-negative", setp("base_chain_config", "batch_window_seconds", -1),
     ["base_chain_config.batch_window_seconds: must be >= 0"]),
    ("batch-of-none", setp("chains", "31337", "batch_max_orders", 0), ["chains.31337.batch_max_orders: must be >= 1"]),
]


@pytest.mark.parametrize("mutator,expected", [pytest.param(m, e, id=i) for i, m, e in BAD_CONFIGS])
def test_bad_configs(tmp_path: Path, mutator: Callable[[dict], Any], expected: list[str]) -> None:
    assert problems_of(tmp_path, mutate(mutator)) == expected


def test_good_config_resolves(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.name == "test"
    assert cfg.database.type == "sqlite"
    assert cfg.database.dsn == str(tmp_path.resolve() / "data" / "mmtui.db")
    assert cfg.database.sqlite_synchronous == "normal"
    assert load_config(write(tmp_path, mutate(setp("database", "sqlite_synchronous", "full")))
                       ).database.sqlite_synchronous == "full"
    assert cfg.signer == EnvSigner(env="MMTUI_SIGNER_KEY")
    assert cfg.rebalance_interval_seconds == 120
    assert sorted(cfg.chains) == [31337, 31338]
    chain = cfg.chain(31337)
    assert chain.rfq_address == RFQ and chain.ws_url == "ws://127.0.0.1:8545"
    token = cfg.token_by_address(31338, USDC.lower())
    assert token is not None and token.symbol == "USDC" and token.chain_id == 31338
    assert token.min_quote_amount == 10_000_000 and token.max_rebalance_amount == 100_000_000_000
    assert token.maintenance_balance_pct == Decimal(20) and token.rebalance_mode == "manual"
    assert cfg.token_by_address(31338, OTHER) is None and cfg.token_by_address(1, USDC) is None
    eth = cfg.token(31337, "ETH")
    assert eth is not None and eth.is_native and eth.min_quote_amount == 10**16
    assert cfg.routes == (
        Route(31337, USDC, 31338, USDC),
        Route(31338, USDC, 31337, USDC),
        Route(31337, NATIVE_TOKEN_ADDRESS, 31338, NATIVE_TOKEN_ADDRESS),
    )
    assert cfg.quotable_tokens[(31337, USDC)] == ((31338, USDC),)
    assert cfg.limits.disabled_routes == frozenset({Route(31337, NATIVE_TOKEN_ADDRESS, 31338, NATIVE_TOKEN_ADDRESS)})
    assert cfg.route_disabled(cfg.routes[2]) and not cfg.route_disabled(cfg.routes[0])
    assert cfg.limits.max_order_notional_usd == Decimal(1000) and cfg.limits.window_seconds == 3600
    assert [b.name for b in cfg.breakers] == ["gas", "fails"]
    assert cfg.breakers[1].route == Route(31337, USDC, 31338, USDC) and cfg.breakers[1].threshold == Decimal("0.5")
    assert cfg.alerts[0].to == "+15551234567"
    with pytest.raises(KeyError):
        cfg.chain(1)
    with pytest.raises(Exception):
        chain.confirmations = 9  # type: ignore[misc]  # frozen
    with pytest.raises(TypeError):
        cfg.chains[5] = chain  # type: ignore[index]  # read-only mapping


def test_defaults_and_token_scopes(tmp_path: Path) -> None:
    def fn(d: dict) -> None:
        del d["name"]
        d["breakers"].append(
            {"name": "supply", "kind": "supply_jump", "scope": {"level": "token", "chain_id": 31338, "token": USDC.lower()},
             "threshold": 5, "window_blocks": 1}
        )

    cfg = load_config(write(tmp_path, mutate(fn)))
    assert cfg.name == "config"  # the file's stem
    rule = cfg.breakers[-1]
    assert (rule.level, rule.chain_id, rule.token, rule.token_address, rule.window_blocks) == ("token", 31338, "USDC", USDC, 1)


def test_example_config_loads() -> None:
    cfg = load_config(REPO / "examples" / "config.example.yml")
    assert cfg.name == "devnet" and set(cfg.chains) == {31337, 31338}
    assert cfg.chain(31337).confirmations == 1 and cfg.chain(31338).confirmations == 0
    assert cfg.chain(31338).max_gas_price_wei == 50 * 10**9
    assert len(cfg.routes) == 4 and len(cfg.breakers) == 5 and len(cfg.alerts) == 3
    rules = {rule.name: rule for rule in cfg.breakers}
    assert rules["usdc-supply"].stop_in_flight and rules["usdc-route-failures"].min_attempts == 5
    slack = next(a for a in cfg.alerts if a.kind == "slack")
    assert (slack.url_env, slack.url) == ("MMTUI_SLACK_WEBHOOK_URL", "")
    assert cfg.quote_api is not None and cfg.quote_api.listen == "127.0.0.1:8791"
    assert cfg.token(31337, "USDC").reference_pool == "0x0165878A594ca255338adfa4d48449f69242Eb8F"


def test_round_trip_through_render(tmp_path: Path) -> None:
    direct = load_config(write(tmp_path, GOOD))
    out = tmp_path / "rendered" / "config.yml"
    rendered = render_config(GOOD, out)
    assert out.exists()
    # same data, same base directory layout -> equal resolved views (chains, routes, limits, ...)
    assert rendered.chains == direct.chains and rendered.quotable_tokens == direct.quotable_tokens
    assert rendered.routes == direct.routes and rendered.limits == direct.limits and rendered.breakers == direct.breakers
    assert rendered.database.dsn == str(out.parent.resolve() / "data" / "mmtui.db")
    # and the written text loads to the same thing again
    assert load_config(out) == rendered
    # Decimals and tuples are written exactly
    text = dump_config_yaml({**GOOD, "limits": {"max_order_notional_usd": Decimal("1000.25"), "disabled_routes": [("31337-ETH", "31338-ETH")]}})
    assert load_config_text(text).limits.max_order_notional_usd == Decimal("1000.25")


def test_render_refuses_a_bad_config_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "config.yml"
    with pytest.raises(ConfigError) as info:
        render_config(mutate(setp("chains", "31337", "rfq_address", "nope")), out)
    assert info.value.problems == ["chains.31337.rfq_address: not a 20-byte hex address"]
    assert not out.exists() and list(tmp_path.iterdir()) == []


# --- exact amounts ----------------------------------------------------------------------------------------------------

TOKEN_YAML = """
database: {type: sqlite, dsn: ":memory:"}
signer: {type: devnet_unlocked, address: 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266}
chains:
  1:
    rpc_url: https://rpc.example
    rfq_address: 0x5fbdb2315678afecb367f032d93f642f64180aa3
    tokens:
      TKN:
        address: 0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9
        decimals: %(decimals)s
        price_usd: 1.0
        min_quote_amount: %(amount)s
"""


@pytest.mark.parametrize(
    "decimals,amount,expected",
    [
        (6, "0.1", 100_000),
        (6, "'0.1'", 100_000),
        (6, "1000000000000.123456", 1_000_000_000_000_123_456),
        (6, "1_000.5", 1_000_500_000),
        (6, "0", 0),
        (6, "10000", 10_000_000_000),
        (18, "123456789012345678.123456789012345678", 123456789012345678123456789012345678),
        (18, "0.000000000000000001", 1),
        (0, "7", 7),
        (6, "1.100000000", 1_100_000),  # trailing zeros are not extra precision
    ],
)
def test_amounts_are_exact(decimals: int, amount: str, expected: int) -> None:
    cfg = load_config_text(TOKEN_YAML % {"decimals": decimals, "amount": amount})
    token = cfg.chain(1).tokens["TKN"]
    assert token.min_quote_amount == expected and type(token.min_quote_amount) is int
    # unquoted hex stays an address (not a YAML int) and is checksummed
    assert token.address == USDC and cfg.chain(1).rfq_address == RFQ
    assert isinstance(cfg.signer, DevnetUnlockedSigner) and cfg.signer.address == DEV_ADDRESS
    assert cfg.chain(1).min_gas_token == 10**18  # default


@pytest.mark.parametrize(
    "decimals,amount,message",
    [
        (6, "1e-7", "has more than 6 decimal places (TKN has 6 decimals)"),
        (6, "0.0000001", "has more than 6 decimal places (TKN has 6 decimals)"),
        (0, "0.5", "has more than 0 decimal places (TKN has 0 decimals)"),
        (18, "1" + "0" * 60, "is too large (must fit in 256 bits in base units)"),
        (6, "lots", 'must be a number of token units (e.g. 1000 or "0.5")'),
        (6, ".inf", 'must be a number of token units (e.g. 1000 or "0.5")'),
    ],
)
def test_amounts_rejected(decimals: int, amount: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(TOKEN_YAML % {"decimals": decimals, "amount": amount})
    assert info.value.problems == [f"chains.1.tokens.TKN.min_quote_amount: {message}"]


def test_to_base_units() -> None:
    assert to_base_units(Decimal("0.1"), 6) == 100_000
    assert to_base_units(Decimal("1E+3"), 2) == 100_000
    with pytest.raises(ValueError):
        to_base_units(Decimal("0.0000001"), 6)


def test_numbers_never_become_floats() -> None:
    cfg = load_config_text(TOKEN_YAML % {"decimals": 6, "amount": 1} + "        quote_offset_bps: 2.55\n")
    token = cfg.chain(1).tokens["TKN"]
    assert token.quote_offset_bps == Decimal("2.55") and isinstance(token.price_usd, Decimal)


@pytest.mark.parametrize(
    "wei,expected",
    [("1000000000000000000", 10**18), (10**18, 10**18), ("1_000", 1000), ("1e18", 10**18), (str(2**256 - 1), 2**256 - 1)],
)
def test_wei_exact(tmp_path: Path, wei: Any, expected: int) -> None:
    cfg = load_config(write(tmp_path, mutate(setp("base_chain_config", "min_gas_token", wei))))
    assert cfg.chain(31337).min_gas_token == expected


def test_wei_too_large(tmp_path: Path) -> None:
    assert problems_of(tmp_path, mutate(setp("base_chain_config", "min_gas_token", str(2**256)))) == [
        "base_chain_config.min_gas_token: must fit in 256 bits"
    ]


# --- merging -------------------------------------------------------------------------------------------------------


def test_base_and_override_merge(tmp_path: Path) -> None:
    data = mutate(
        lambda d: (
            d["base_chain_config"].update(quote_offset_bps="1.5", native_token="GAS", min_gas_price_gwei="0.5"),
            d["chains"]["31337"].update(confirmations=5, max_gas_price_gwei=None, quote_offset_bps=-2),
            d["chains"]["31338"].update(multicall_address=OTHER.lower()),
        )
    )
    cfg = load_config(write(tmp_path, data))
    a, b = cfg.chain(31337), cfg.chain(31338)
    assert a.confirmations == 5 and b.confirmations == 2  # override / base
    assert a.max_gas_price_gwei is None and a.max_gas_price_wei is None  # explicit null unsets the base value
    assert b.max_gas_price_gwei == Decimal(100) and b.max_gas_price_wei == 100 * 10**9
    assert a.min_gas_price_wei == b.min_gas_price_wei == 500_000_000
    assert a.quote_offset_bps == Decimal(-2) and b.quote_offset_bps == Decimal("1.5")
    assert a.native_token == b.native_token == "GAS"
    assert a.origin_gas_estimate == 160_000 and a.dest_gas_estimate == 100_000  # defaults
    assert a.quote_pct == Decimal(100) and a.deadline_buffer_seconds == 600 and a.fixed_fee_multiplier == Decimal(1)
    assert a.multicall_address is None and b.multicall_address == OTHER
    assert a.batch_window_seconds == 0 and a.batch_max_orders == 20  # batching is off unless configured


def test_rfq_address_may_come_from_base(tmp_path: Path) -> None:
    def fn(d: dict) -> None:
        d["base_chain_config"]["rfq_address"] = RFQ
        del d["chains"]["31337"]["rfq_address"]

    assert load_config(write(tmp_path, mutate(fn))).chain(31337).rfq_address == RFQ


# --- rebalance percentages (REFERENCE §4) --------------------------------------------------------------------------


def test_percent_sums_valid_with_three_chains_and_other_method(tmp_path: Path) -> None:
    def fn(d: dict) -> None:
        d["chains"]["31339"] = _chain(8547, 2)
        for cid, (m, i) in {"31337": ("20", "33.3"), "31338": ("20", "33.3"), "31339": ("33.3", "33.4")}.items():
            usdc(d, cid).update(maintenance_balance_pct=m, initial_balance_pct=i)
        # a chain rebalancing USDC by another method is its own group (100 on its own)
        d["chains"]["1"] = _chain(8548, 3)
        usdc(d, "1").update(rebalance_method="circlecctp", maintenance_balance_pct=100, initial_balance_pct=100)
        # a token without a rebalance method is not counted
        d["chains"]["2"] = _chain(8549, 4)
        usdc(d, "2").update(rebalance_method=None, maintenance_balance_pct=90, initial_balance_pct=90)

    cfg = load_config(write(tmp_path, mutate(fn)))
    assert cfg.token(31339, "USDC").initial_balance_pct == Decimal("33.4")


def test_percent_sum_exact_decimal(tmp_path: Path) -> None:
    # 0.1 + 0.2 style sums must be exact: 33.3 + 33.3 + 33.3 != 100
    def fn(d: dict) -> None:
        d["chains"]["31339"] = _chain(8547, 2)
        for cid in ("31337", "31338", "31339"):
            usdc(d, cid).update(maintenance_balance_pct=10, initial_balance_pct="33.3")

    assert problems_of(tmp_path, mutate(fn)) == [
        "chains.*.tokens.USDC.initial_balance_pct: must sum to 100 across the chains rebalancing USDC by cctp "
        "(31337: 33.3, 31338: 33.3, 31339: 33.3; total 99.9)"
    ]


# --- several problems at once, no cascades, no secrets -------------------------------------------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def fn(d: dict) -> None:
        d["limits"]["max_order_notinal_usd"] = 5
        d["chains"]["31337"]["rfq_address"] = "0x12"
        usdc(d)["decimals"] = 99
        d["signer"]["env"] = "lower"
        d["rebalance_interval"] = "soon"
        d["alerts"][0]["kind"] = "pager"

    assert problems_of(tmp_path, mutate(fn)) == [
        "rebalance_interval: must be a duration like 90s, 2m or 1h (or a whole number of seconds)",
        "signer.env: must be the NAME of an environment variable (uppercase letters, digits and _)",
        "chains.31337.rfq_address: not a 20-byte hex address",
        "chains.31337.tokens.USDC.decimals: must be between 0 and 77",
        "limits.max_order_notinal_usd: unknown key (typo?)",
        "alerts[0].kind: must be one of: webhook, slack, sms",
    ]


@pytest.mark.parametrize(
    "where,key",
    [
        (("signer",), "private_key"),
        (("signer",), "password"),
        (("rfq_api",), "api_key"),
        (("alerts", 0), "secret"),
        ((), "mnemonic"),
        (("chains", "31337"), "privateKey"),
    ],
)
def test_secrets_in_yaml_are_refused_without_echo(tmp_path: Path, where: tuple, key: str) -> None:
    secret = "s3cr3t-" + DEV_KEY[2:]

    def fn(d: dict) -> None:
        d["rfq_api"] = {"url": "https://rfq.example"}
        node = d
        for part in where:
            node = node[part]
        node[key] = secret

    problems = problems_of(tmp_path, mutate(fn))
    expected_path = {
        ("signer",): "signer.",
        ("rfq_api",): "rfq_api.",
        ("alerts", 0): "alerts[0].",
        (): "",
        ("chains", "31337"): "chains.31337.",
    }[where] + key
    assert problems == [f"{expected_path}: {SECRET_MESSAGE}"]  # and no "unknown key" noise about it
    assert secret not in "\n".join(problems) and DEV_KEY[2:] not in "\n".join(problems)


def test_a_private_key_pasted_as_a_value_is_refused_without_echo(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, mutate(setp("signer", "env", DEV_KEY)))
    assert problems == [f"signer.env: looks like a private key; {SECRET_MESSAGE}"]
    assert DEV_KEY[2:] not in "\n".join(problems)


def test_env_indirections_are_not_secrets(tmp_path: Path) -> None:
    data = mutate(lambda d: d.update(rfq_api={"url": "https://rfq.example", "api_key_env": "RFQ_API_KEY"}))
    assert load_config(write(tmp_path, data)).rfq_api.api_key_env == "RFQ_API_KEY"


def test_no_value_is_echoed_in_messages(tmp_path: Path) -> None:
    marker = "ZZTOPSECRETZZ"
    data = mutate(
        lambda d: (
            d.update(name=marker * 20, rebalance_interval=marker),
            d["chains"]["31337"].update(rpc_url=marker, rfq_address=marker),
            usdc(d).update(decimals=marker, price_usd=marker, min_quote_amount=marker),
            d["database"].update(type=marker),
        )
    )
    text = "\n".join(problems_of(tmp_path, data))
    assert marker not in text and len(text.splitlines()) == 8


# --- the file itself ------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: config file not found"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a config file"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    path.chmod(0)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: permission denied"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", "the file is empty"),
        ("  \n\n", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("---\n", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping of settings (got a list)"),
        ("just text\n", "the top level must be a mapping of settings (got text)"),
        ("name: x\n  bad: indent\n", "2:6: YAML syntax error: mapping values are not allowed here"),
        ("name: [unclosed\n", "2:1: YAML syntax error: expected ',' or ']', but got '<stream end>'"),
        ("a: *nowhere\n", "1:4: YAML syntax error: found undefined alias 'nowhere'"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    sep = "" if expected[0].isdigit() else " "
    assert str(info.value) == f"{path}:{sep}{expected}"


def test_syntax_error_does_not_echo_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(f"signer:\n  env: MMTUI\n key: {DEV_KEY}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert DEV_KEY[2:] not in str(info.value) and str(info.value).startswith(f"{path}:3:")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: not UTF-8 text (bad byte at offset 6)"


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD, sort_keys=False) + "limits:\n  max_order_notional_usd: 1\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, base_dir=tmp_path)
    line = text.count("\n") - 1
    first = text.splitlines().index("limits:") + 1
    assert info.value.problems == [f"limits: duplicate key (lines {first} and {line})"]


def test_yaml_1_1_surprises_are_avoided() -> None:
    text = TOKEN_YAML % {"decimals": 6, "amount": 1} + "        rebalance_mode: 'manual'\n"
    text = text.replace("  1:\n", "  1:\n    native_token: NO\n    start_block: 010\n")
    chain = load_config_text(text).chain(1)
    assert chain.native_token == "NO" and chain.start_block == 10  # not False, not octal 8


# --- rebalance_interval ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,seconds",
    [("90s", 90), ("2m", 120), ("1h", 3600), (30, 30), ("30", 30), ("1h30m", 5400), (" 5M ", 300)],
)
def test_rebalance_interval(tmp_path: Path, value: Any, seconds: int) -> None:
    assert parse_duration(value) == seconds
    cfg = load_config(write(tmp_path, mutate(setp("rebalance_interval", value))))
    assert cfg.rebalance_interval_seconds == seconds


@pytest.mark.parametrize("value", ["2x", "", "m", "1.5m", True, [1], "-5s"])
def test_rebalance_interval_bad(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_rebalance_interval_zero(tmp_path: Path) -> None:
    assert problems_of(tmp_path, mutate(setp("rebalance_interval", 0))) == ["rebalance_interval: must be greater than 0"]


def test_rebalance_interval_default(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, mutate(setp("rebalance_interval", DELETE)))).rebalance_interval_seconds == 60


# --- signer resolution -----------------------------------------------------------------------------------------------


def test_signer_from_env() -> None:
    account = resolve_signer_key(EnvSigner(env="K"), {"K": DEV_KEY})
    assert account.address == DEV_ADDRESS
    assert resolve_signer_key(EnvSigner(env="K"), {"K": " " + DEV_KEY[2:] + "\n"}).address == DEV_ADDRESS
    assert DEV_KEY[2:] not in repr(account) and DEV_KEY[2:] not in str(account)


@pytest.mark.parametrize(
    "environ,message",
    [
        ({}, "signer.env: environment variable K is not set"),
        ({"K": ""}, "signer.env: environment variable K is empty"),
        ({"K": "0xnothex" + DEV_KEY[9:]}, "signer.env: environment variable K does not hold a 32-byte hex private key"),
        ({"K": DEV_KEY[:-2]}, "signer.env: environment variable K does not hold a 32-byte hex private key"),
        ({"K": "0x" + "0" * 64}, "signer.env: environment variable K does not hold a valid secp256k1 private key"),
    ],
)
def test_signer_env_errors(environ: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_signer_key(EnvSigner(env="K"), environ)
    assert str(info.value) == message
    for value in environ.values():
        if value:
            assert value.strip() not in str(info.value)


def _keystore(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "keys" / "relayer.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Account.encrypt(DEV_KEY, password, kdf="pbkdf2", iterations=1024)))
    return path


def test_signer_from_keystore(tmp_path: Path) -> None:
    _keystore(tmp_path, "correct horse")
    data = mutate(setp("signer", {"type": "keystore", "path": "keys/relayer.json", "password_env": "MMTUI_KS_PW"}))
    cfg = load_config(write(tmp_path, data))
    assert isinstance(cfg.signer, KeystoreSigner) and cfg.signer.path == tmp_path.resolve() / "keys" / "relayer.json"
    account = resolve_signer_key(cfg.signer, {"MMTUI_KS_PW": "correct horse"})
    assert account.address == DEV_ADDRESS and "correct horse" not in repr(account)


def test_signer_keystore_errors(tmp_path: Path) -> None:
    path = _keystore(tmp_path, "correct horse")
    signer = KeystoreSigner(path=path, password_env="PW")
    with pytest.raises(ConfigError) as info:
        resolve_signer_key(signer, {"PW": "battery staple"})
    assert str(info.value) == f"signer.password_env: wrong password for keystore {path} (from PW)"
    assert "battery" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve_signer_key(signer, {})
    assert str(info.value) == "signer.password_env: environment variable PW is not set"
    missing = KeystoreSigner(path=tmp_path / "none.json", password_env="PW")
    with pytest.raises(ConfigError) as info:
        resolve_signer_key(missing, {"PW": "x"})
    assert str(info.value) == f"signer.path: keystore file {tmp_path / 'none.json'} not found"
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(ConfigError) as info:
        resolve_signer_key(KeystoreSigner(path=junk, password_env="PW"), {"PW": "x"})
    assert str(info.value) == f"signer.path: {junk} is not a JSON keystore"


def test_devnet_unlocked_signer_has_no_key() -> None:
    assert resolve_signer_key(DevnetUnlockedSigner(address=DEV_ADDRESS), {}) is None


def test_config_module_does_not_import_textual() -> None:
    import subprocess

    code = "import sys, engine.config; assert 'textual' not in sys.modules, 'textual imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_reference_pool_is_resolved_and_optional(tmp_path: Path) -> None:
    def fn(d: dict) -> None:
        usdc(d)["reference_pool"] = OTHER.lower()

    cfg = load_config(write(tmp_path, mutate(fn)))
    assert cfg.token(31337, "USDC").reference_pool == OTHER  # checksummed
    assert cfg.token(31338, "USDC").reference_pool is None
    assert cfg.token(31337, "ETH").reference_pool is None


def test_reference_pool_problems(tmp_path: Path) -> None:
    def fn(d: dict) -> None:
        usdc(d)["reference_pool"] = "0x1234"
        d["chains"]["31338"]["tokens"]["ETH"]["reference_pool"] = OTHER

    problems = problems_of(tmp_path, mutate(fn))
    assert any(p.startswith("chains.31337.tokens.USDC.reference_pool:") for p in problems), problems
    assert "chains.31338.tokens.ETH.reference_pool: a pool prices an ERC20: not the native token" in problems


@pytest.mark.parametrize("block_time", [None, 1])
def test_devnet_default_breakers_load(tmp_path: Path, block_time: int | None) -> None:
    from engine.devnet.devnet import devnet_breakers

    def fn(d: dict) -> None:
        d["breakers"] = devnet_breakers([31337, 31338], block_time)

    cfg = load_config(write(tmp_path, mutate(fn)))
    kinds = {rule.kind for rule in cfg.breakers}
    assert kinds == {"supply_jump", "price_drop", "gas_price_cap", "gas_balance_low", "head_stale", "rpc_failing"}
    stale = [rule for rule in cfg.breakers if rule.kind == "head_stale"]
    assert [(r.level, r.chain_id) for r in stale] == [("chain", 31337), ("chain", 31338)]
    assert stale[0].threshold == (600 if block_time is None else 15)
