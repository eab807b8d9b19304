"""A small, valid mmtui config for the inventory tests, built through the real loader."""
from __future__ import annotations

import copy
from typing import Any

import yaml

from engine.config import NATIVE_TOKEN_ADDRESS, MmtuiConfig, Route, load_config_text

GWEI = 10**9
ETH = 10**18
USDC_UNIT = 10**6
RFQ = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MESSENGER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
TRANSMITTER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
# One USDC address per chain, so a wrong chain/address pairing cannot pass unnoticed.
USDC = {
    1: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    2: "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85",
    3: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
}


def usdc_token(chain_id: int, **overrides: Any) -> dict[str, Any]:
    token: dict[str, Any] = {"address": USDC[chain_id], "decimals": 6, "price_usd": "1", "min_quote_amount": 0}
    token.update(overrides)
    return token


def eth_token(**overrides: Any) -> dict[str, Any]:
    token: dict[str, Any] = {"address": NATIVE_TOKEN_ADDRESS, "decimals": 18, "price_usd": 2600}
    token.update(overrides)
    return token


def chain(chain_id: int, *, usdc: dict[str, Any] | None = None, eth: dict[str, Any] | None = None,
          cctp: bool = True, **settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rpc_url": f"http://127.0.0.1:{8544 + chain_id}",
        "rfq_address": RFQ,
        "tokens": {"USDC": usdc_token(chain_id, **(usdc or {})), "ETH": eth_token(**(eth or {}))},
    }
    if cctp:
        out.update(token_messenger_address=MESSENGER, message_transmitter_address=TRANSMITTER,
                   cctp_domain=chain_id - 1)
    out.update(settings)
    return out


def make_config(chains: dict[int, dict[str, Any]], *, routes: list[tuple[int, str, int, str]] | None = None,
                base: dict[str, Any] | None = None, limits: dict[str, Any] | None = None,
                rfq_api: dict[str, Any] | None = None) -> MmtuiConfig:
    """`routes`: (origin chain, origin symbol, dest chain, dest symbol); default: USDC both ways 1 <-> 2."""
    chains = copy.deepcopy(chains)
    if routes is None:
        routes = [(1, "USDC", 2, "USDC"), (2, "USDC", 1, "USDC")]
    quotable: dict[str, list[str]] = {}
    for oc, osym, dc, dsym in routes:
        key = f"{oc}-{chains[oc]['tokens'][osym]['address']}"
        quotable.setdefault(key, []).append(f"{dc}-{chains[dc]['tokens'][dsym]['address']}")
    data: dict[str, Any] = {
        "name": "inventory-test",
        "database": {"type": "sqlite", "dsn": ":memory:"},
        "signer": {"type": "env", "env": "MMTUI_TEST_SIGNER"},
        "base_chain_config": {"min_gas_token": str(ETH), **(base or {})},
        "chains": {str(cid): c for cid, c in chains.items()},
        "quotable_tokens": quotable,
    }
    if limits is not None:
        data["limits"] = limits
    if rfq_api is not None:
        data["rfq_api"] = rfq_api
    return load_config_text(yaml.safe_dump(data, sort_keys=False), source="<inventory test>")


def route(config: MmtuiConfig, origin: int, osym: str, dest: int, dsym: str) -> Route:
    return Route(origin, config.token(origin, osym).address, dest, config.token(dest, dsym).address)
