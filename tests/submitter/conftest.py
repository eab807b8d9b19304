"""Fixtures for the submitter: one real anvil per module, a migrated database per backend (SQLite file
per test, PostgreSQL truncated per test), a fresh funded dev signer (index >= 5) per test."""
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from engine.chain.fees import FeeConfig, FeePolicy
from engine.chain.rpc import ChainRpc, RetryPolicy
from engine.chain.submitter import TransactionSubmitter
from engine.devnet.accounts import dev_account
from engine.devnet.anvil import AnvilNode, start_anvil
from engine.store import Database

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)
ANVIL_ACCOUNTS = 64
FIRST_SIGNER = 5  # dev accounts 0..4 belong to the devnet's cast
_signers = itertools.count(FIRST_SIGNER)


@pytest.fixture(scope="module")
def anvil_node(request: pytest.FixtureRequest, anvil_bin: str) -> AnvilNode:
    """One anvil per test module (started from the main thread; always stopped)."""
    node = start_anvil(getattr(request.module, "CHAIN_ID", 92_000), accounts=ANVIL_ACCOUNTS)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def signer() -> LocalAccount:
    index = next(_signers)
    assert index < ANVIL_ACCOUNTS, "more signers than funded anvil accounts"
    return Account.from_key(dev_account(index).private_key)


@pytest.fixture
async def rpc(anvil_node: AnvilNode) -> AsyncIterator[ChainRpc]:
    client = ChainRpc(anvil_node.chain_id, anvil_node.rpc_url, retry=FAST_RETRY, timeout=5.0)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def make_submitter(db: Database, rpc: ChainRpc) -> Callable[..., TransactionSubmitter]:
    def make(account: LocalAccount, *, bump_after: float = 60.0, fee_config: FeeConfig | None = None,
             rpc_client: ChainRpc | None = None) -> TransactionSubmitter:
        client = rpc_client or rpc
        config = fee_config or FeeConfig(max_fee_ceiling_gwei=Decimal(500))
        return TransactionSubmitter(db, client, account, FeePolicy(client, config), bump_after_seconds=bump_after)

    return make
