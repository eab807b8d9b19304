"""`mmtui devnet`: N anvil chains, the project's contracts, a ready config and a devnet.json."""
from __future__ import annotations

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from eth_account import Account

from engine.devnet.accounts import ATTESTER, COMPETITOR, DEPLOYER, RELAYER, dev_account, user_accounts
from engine.devnet.anvil import AnvilNode, start_anvil
from engine.devnet.deployer import DEVNET_TOKENS, NATIVE, ChainDeployer, ChainDeployment, link_cctp

FIRST_CHAIN_ID = 31337
DEFAULT_CHAINS = 3
KEYSTORE_FILE = "relayer.keystore.json"
DATABASE_FILE = "mmtui.db"
# The engine's quotes endpoint writes the address it bound here (port picked by the system); the traffic
# generator reads it to price its orders from the engine's quotes.
QUOTE_API_FILE = "quote_api.json"
QUOTE_API_LISTEN = "127.0.0.1:0"
KEYSTORE_PASSWORD_ENV = "MMTUI_KEYSTORE_PASSWORD"
# The devnet relayer key is anvil's public dev key #1; its keystore password is public too.
DEVNET_KEYSTORE_PASSWORD = "devnet"


class DevnetError(RuntimeError):
    pass


@dataclass
class DevnetSettings:
    directory: Path
    chains: int = DEFAULT_CHAINS
    block_time: int | None = 1  # None: automine (tests); whole seconds: interval mining (demo)
    dispute_period: int = 10  # seconds, so a demo claims quickly (the real contract says 30 minutes)
    min_deadline_period: int = 60  # the real contract says 30 minutes
    first_chain_id: int = FIRST_CHAIN_ID


@dataclass
class Devnet:
    settings: DevnetSettings
    nodes: list[AnvilNode] = field(default_factory=list)
    deployments: list[ChainDeployment] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.settings.directory / "config.yml"

    @property
    def manifest_path(self) -> Path:
        return self.settings.directory / "devnet.json"

    @property
    def quote_api_file(self) -> Path:
        return self.settings.directory / QUOTE_API_FILE

    def node(self, chain_id: int) -> AnvilNode:
        return next(n for n in self.nodes if n.chain_id == chain_id)

    def deployment(self, chain_id: int) -> ChainDeployment:
        return next(d for d in self.deployments if d.chain_id == chain_id)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> "Devnet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_devnet(settings: DevnetSettings) -> Devnet:
    """Start, deploy, fund and describe a devnet. On any failure every started anvil is stopped."""
    if settings.chains < 2:
        raise DevnetError("a bridge devnet needs at least 2 chains")
    settings.directory.mkdir(parents=True, exist_ok=True)
    devnet = Devnet(settings)
    try:
        chain_ids = [settings.first_chain_id + i for i in range(settings.chains)]
        # Started from this thread on purpose: PR_SET_PDEATHSIG fires when the *thread* that forked
        # the node exits, so nodes forked from a pool thread would die with the pool.
        devnet.nodes = [start_anvil(cid, log_dir=settings.directory) for cid in chain_ids]
        with ThreadPoolExecutor(max_workers=settings.chains) as pool:
            deployers = [ChainDeployer(node, cctp_domain=i) for i, node in enumerate(devnet.nodes)]
            devnet.deployments = list(pool.map(
                lambda d: d.deploy_all(settings.dispute_period, settings.min_deadline_period), deployers
            ))
            link_cctp(deployers)
        if settings.block_time:
            for node in devnet.nodes:
                node.rpc("evm_setIntervalMining", [settings.block_time])
        discard_previous_database(settings.directory)
        devnet.quote_api_file.unlink(missing_ok=True)  # an engine of an earlier devnet served it
        write_keystore(settings.directory)
        write_manifest(devnet)
        write_config(devnet)
    except BaseException:
        devnet.stop()
        raise
    return devnet


def discard_previous_database(directory: Path) -> None:
    """New chains start from genesis: a database an earlier devnet left here describes blocks, nonces
    and orders that no longer exist (its watchers would find every stored block reorged away)."""
    database = directory / DATABASE_FILE
    for stale in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))):
        stale.unlink(missing_ok=True)


def write_keystore(directory: Path) -> None:
    # Few scrypt iterations: this guards a public dev key, and the engine should start at once.
    keystore = Account.encrypt(dev_account(RELAYER).private_key, DEVNET_KEYSTORE_PASSWORD, iterations=2**10)
    path = directory / KEYSTORE_FILE
    path.write_text(json.dumps(keystore))
    os.chmod(path, 0o600)


def write_manifest(devnet: Devnet) -> None:
    s = devnet.settings
    manifest = {
        "chains": [d.to_json() for d in devnet.deployments],
        "accounts": {
            "deployer": dev_account(DEPLOYER).address,
            "relayer": dev_account(RELAYER).address,
            "competitor": dev_account(COMPETITOR).address,
            "attester": dev_account(ATTESTER).address,
            "users": [u.address for u in user_accounts()],
        },
        "dispute_period": s.dispute_period,
        "min_deadline_period": s.min_deadline_period,
        "block_time": s.block_time,
        "anvil_pids": [n.pid for n in devnet.nodes],
        "config": str(devnet.config_path),
        "quote_api_file": str(devnet.quote_api_file),
    }
    devnet.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def devnet_config(devnet: Devnet) -> dict:
    """A ready mmtui config for this devnet, in the canonical relayer's shape."""
    chains: dict[str, dict] = {}
    for d in devnet.deployments:
        tokens = {}
        for spec in (*DEVNET_TOKENS, NATIVE):
            tokens[spec.symbol] = {
                "address": d.tokens[spec.symbol],
                "decimals": spec.decimals,
                "price_usd": spec.price_usd,
                "min_quote_amount": 1,
            }
            if spec.symbol in d.pools:
                tokens[spec.symbol]["reference_pool"] = d.pools[spec.symbol]
            if spec.symbol == "USDC":
                tokens[spec.symbol].update({
                    "rebalance_method": "cctp",
                    "maintenance_balance_pct": 20,
                })
        chains[str(d.chain_id)] = {
            "rpc_url": d.rpc_url,
            "ws_url": d.ws_url,
            "rfq_address": d.bridge,
            "multicall_address": d.multicall,
            "token_messenger_address": d.token_messenger,
            "message_transmitter_address": d.message_transmitter,
            "cctp_domain": d.cctp_domain,
            "start_block": d.deploy_block,
            "tokens": tokens,
        }
    _split_initial_pct(chains, "USDC")
    quotable: dict[str, list[str]] = {}
    for origin in devnet.deployments:
        for spec in (*DEVNET_TOKENS, NATIVE):
            key = f"{origin.chain_id}-{origin.tokens[spec.symbol]}"
            quotable[key] = [
                f"{dest.chain_id}-{dest.tokens[spec.symbol]}"
                for dest in devnet.deployments if dest.chain_id != origin.chain_id
            ]
    return {
        "name": "devnet",
        "database": {"type": "sqlite", "dsn": DATABASE_FILE},
        "signer": {"type": "keystore", "path": KEYSTORE_FILE, "password_env": KEYSTORE_PASSWORD_ENV},
        "rebalance_interval": "30s",
        "quote_api": {"listen": QUOTE_API_LISTEN, "address_file": QUOTE_API_FILE},
        "base_chain_config": {
            "confirmations": 1,
            "origin_gas_estimate": 160_000,
            "dest_gas_estimate": 100_000,
            "quote_offset_bps": 0,
            "quote_width_bps": 10,
            "quote_pct": 90,
            "min_gas_token": str(10**17),
            "fixed_fee_multiplier": 1.25,
            "native_token": "ETH",
            "deadline_buffer_seconds": 30,
            # proves and claims of orders ready within 2 s share one transaction (multicallNoResults)
            "batch_window_seconds": 2,
        },
        "chains": chains,
        "quotable_tokens": quotable,
        "breakers": devnet_breakers([d.chain_id for d in devnet.deployments], devnet.settings.block_time),
    }


def devnet_breakers(chain_ids: list[int], block_time: int | None) -> list[dict]:
    """A sensible default set of breaker rules for the devnet (no alert targets: nothing to send to).
    Liveness rules are per chain, so a dead chain halts only the orders that touch it.

    An automining devnet makes a block only per transaction, so its heads go quiet whenever nobody
    trades: its staleness limit is loose. With interval mining a head is due every block_time seconds."""
    stale_after = max(15, 10 * block_time) if block_time else 600
    return [
        {"name": "supply-move", "kind": "supply_jump", "scope": {"level": "global"}, "threshold": 50,
         "window_blocks": 1},
        {"name": "price-drop", "kind": "price_drop", "scope": {"level": "global"}, "threshold": 20,
         "window_blocks": 1},
        {"name": "gas-price-cap", "kind": "gas_price_cap", "scope": {"level": "global"}, "threshold": 200},
        {"name": "gas-balance-low", "kind": "gas_balance_low", "scope": {"level": "global"}, "threshold": 0},
        *({"name": f"head-stale-{cid}", "kind": "head_stale", "scope": {"level": "chain", "chain_id": cid},
           "threshold": stale_after} for cid in chain_ids),
        *({"name": f"rpc-failing-{cid}", "kind": "rpc_failing", "scope": {"level": "chain", "chain_id": cid},
           "threshold": 30} for cid in chain_ids),
    ]


def _split_initial_pct(chains: dict[str, dict], symbol: str) -> None:
    # Initial percentages must sum to exactly 100 across the chains of a rebalance method.
    share, rest = divmod(100, len(chains))
    for i, chain in enumerate(chains.values()):
        chain["tokens"][symbol]["initial_balance_pct"] = share + (rest if i == 0 else 0)


def write_config(devnet: Devnet) -> None:
    devnet.config_path.write_text(
        "# Written by `mmtui devnet`: a ready config for this devnet. The relayer key lives in\n"
        f"# {KEYSTORE_FILE}; its password comes from ${KEYSTORE_PASSWORD_ENV} (devnet: '{DEVNET_KEYSTORE_PASSWORD}').\n"
        + yaml.safe_dump(devnet_config(devnet), sort_keys=False)
    )


def wait_for_stop_signal() -> str:
    """Block the main thread until SIGINT, SIGTERM or SIGHUP; return the signal's name."""
    received: list[str] = []
    done = threading.Event()

    def handler(signum, _frame):
        received.append(signal.Signals(signum).name)
        done.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while not done.wait(0.5):
            pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return received[0]
