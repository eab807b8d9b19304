"""Helpers for engine tests on a real devnet (import as `from enginekit import ...`)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from eth_account import Account
from web3 import Web3

from engine.config import MmtuiConfig, load_config
from engine.core import Engine
from engine.inventory.cctp import LocalAttester
from engine.devnet.accounts import RELAYER, dev_account
from engine.devnet.devnet import Devnet
from engine.relayer.statuses import OrderStatus

RELAYER_ACCOUNT = Account.from_key(dev_account(RELAYER).private_key)



def write_engine_config(devnet: Devnet, directory: Path, *, database: dict | None = None,
                        limits: dict | None = None, rebalance_interval: str | None = None,
                        **chain_overrides: Any) -> Path:
    """The devnet's config, watching from each chain's current head, with a database in `directory`."""
    data = yaml.safe_load(devnet.config_path.read_text())
    data["signer"]["path"] = str(devnet.settings.directory / data["signer"]["path"])
    data["database"] = database or {"type": "sqlite", "dsn": str(directory / "mmtui.db")}
    if limits is not None:
        data["limits"] = limits
    if rebalance_interval is not None:
        data["rebalance_interval"] = rebalance_interval
    # the devnet batches proves and claims over 2 s; a shorter window keeps the tests quick and still batches
    data["base_chain_config"]["batch_window_seconds"] = 0.5
    data["base_chain_config"].update(chain_overrides)
    for chain_id, chain in data["chains"].items():
        chain["start_block"] = devnet.node(int(chain_id)).rpc("eth_blockNumber", [])
        chain["start_block"] = int(chain["start_block"], 16) + 1
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def engine_config(devnet: Devnet, directory: Path, **kwargs: Any) -> MmtuiConfig:
    return load_config(write_engine_config(devnet, directory, **kwargs))



@asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[Engine]:
    """Run the engine in the background for the block; always stopped and closed."""
    await engine.start()
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        yield engine
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=40)  # wait_for would wait out a stuck cancellation
        assert done, "the engine did not stop within 40 s"
        task.result()


def make_engine(config: MmtuiConfig, **kwargs: Any) -> Engine:
    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("attestations", LocalAttester())  # the devnet's CCTP attester
    return Engine(config, RELAYER_ACCOUNT, **kwargs)


async def wait_for(predicate: Callable[[], Any] | Callable[[], Awaitable[Any]], timeout: float = 30.0,
                   what: str = "condition", tick: Callable[[], None] | None = None,
                   describe: Callable[[], str] | None = None) -> Any:
    """Poll `predicate` until it returns something truthy; `tick` runs between polls (e.g. mine)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            state = f"; now: {describe()}" if describe is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{state}")
        if tick is not None:
            await asyncio.to_thread(tick)
        await asyncio.sleep(0.1)


def describe_order(engine: Engine, transaction_id: str) -> Callable[[], str]:
    def describe() -> str:
        view = next((o for o in engine.snapshot().orders if o.transaction_id == transaction_id), None)
        return "order not seen" if view is None else f"{view.status.name}: {view.last_reason}"
    return describe


def status_of(engine: Engine, transaction_id: str) -> OrderStatus | None:
    view = next((o for o in engine.snapshot().orders if o.transaction_id == transaction_id), None)
    return view.status if view is not None else None


def mine(devnet: Devnet, seconds: int = 0) -> None:
    """Move every chain's time forward and mine a block (automine chains only mine on transactions)."""
    for node in devnet.nodes:
        if seconds:
            node.rpc("evm_increaseTime", [seconds])
        node.rpc("evm_mine", [])


def w3(devnet: Devnet, chain_id: int) -> Web3:
    return Web3(Web3.HTTPProvider(devnet.node(chain_id).rpc_url))
