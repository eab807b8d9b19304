"""Fixtures for engine.chain tests: real anvil nodes (always stopped), ChainRpc instances (always
closed) and fault-injecting proxies (always stopped). Helpers live in chainkit.py."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chainkit import FAST_RETRY, Hook, Proxy
from engine.chain.rpc import ChainRpc
from engine.devnet.anvil import AnvilNode, start_anvil


@pytest.fixture(scope="module")
def anvil_node(anvil_bin) -> AnvilNode:
    """One anvil per test module (read-mostly tests)."""
    node = start_anvil(91_001)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def fresh_anvil(anvil_bin) -> Callable[..., AnvilNode]:
    """Factory for throw-away anvils (tests that stop, reorg or otherwise mutate the chain)."""
    nodes: list[AnvilNode] = []

    def start(chain_id: int = 91_002, **kwargs: Any) -> AnvilNode:
        node = start_anvil(chain_id, **kwargs)
        nodes.append(node)
        return node

    try:
        yield start
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
async def make_rpc() -> Callable[..., ChainRpc]:
    """Factory for ChainRpc instances, all closed at teardown."""
    made: list[ChainRpc] = []

    def make(chain_id: int, url: str, **kwargs: Any) -> ChainRpc:
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("timeout", 5.0)
        rpc = ChainRpc(chain_id, url, **kwargs)
        made.append(rpc)
        return rpc

    try:
        yield make
    finally:
        for rpc in made:
            await rpc.close()


@pytest.fixture
async def make_proxy() -> Callable[..., Proxy]:
    proxies: list[Proxy] = []

    async def make(upstream: str, hook: Hook | None = None) -> Proxy:
        proxy = await Proxy(upstream, hook=hook).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            await proxy.stop()
