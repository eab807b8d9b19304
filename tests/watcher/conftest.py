"""Fixtures for the chain watcher: one real 2-chain devnet per module (automine, always stopped),
migrated databases (SQLite per test; PostgreSQL truncated per test), ChainRpc instances (closed)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from engine.chain.rpc import ChainRpc, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)


@pytest.fixture
async def make_rpc() -> AsyncIterator[Callable[..., ChainRpc]]:
    made: list[ChainRpc] = []

    def make(chain_id: int, url: str, **kwargs) -> ChainRpc:
        kwargs.setdefault("retry", FAST_RETRY)
        rpc = ChainRpc(chain_id, url, **kwargs)
        made.append(rpc)
        return rpc

    yield make
    for rpc in made:
        await rpc.close()
