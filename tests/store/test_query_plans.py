"""The statements run for every order or every send are served by an index on SQLite, not by a scan that
grows with history. SQLite has no statistics on a fresh file, so its choice between two candidate indexes
is a rule we must satisfy, checked here with EXPLAIN QUERY PLAN on a migrated database."""
from __future__ import annotations

import pytest
from eth_account import Account
from sqlalchemy.dialects import sqlite

from engine.chain.rpc import ChainRpc
from engine.chain.submitter import TransactionSubmitter
from engine.devnet.accounts import dev_account
from engine.relayer.machine import _REQUEST_STORED
from engine.relayer.orders import _EVENTS_OF_ORDER


async def _plan(db, statement) -> list[str]:
    sql = statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    return await db.run_read(lambda s: [row[-1] for row in s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")])


async def _submitter(db) -> TransactionSubmitter:
    rpc = ChainRpc(31337, "http://127.0.0.1:9")  # never called: only its statements are compiled
    return TransactionSubmitter(db, rpc, Account.from_key(dev_account(1).private_key))


TXID = "0x" + "ab" * 32


@pytest.mark.parametrize(("name", "index"), [
    ("live costs (every send)", "ix_outbound_tx_chain_id_signer_state"),
    ("live attempts (every tick)", "ix_outbound_tx_chain_id_signer_state"),
    ("request stored (every relay's write)", "ix_chain_log_transaction_id_chain_id_block_number_log_index"),
    ("events of an order (a wake)", "ix_chain_log_transaction_id_chain_id_block_number_log_index"),
])
async def test_hot_statements_use_their_index(sqlite_db, name: str, index: str) -> None:
    submitter = await _submitter(sqlite_db)
    statement = {
        "live costs (every send)": submitter._live_costs.statement,
        "live attempts (every tick)": submitter._live_attempts,
        "request stored (every relay's write)": _REQUEST_STORED.statement.params(txid=TXID, on_chain=31337),
        "events of an order (a wake)": _EVENTS_OF_ORDER.statement.params(txid=TXID),
    }[name]
    plan = await _plan(sqlite_db, statement)
    assert any(index in step for step in plan), plan
    assert not any(step.startswith("SCAN") or "TEMP B-TREE" in step for step in plan), plan
    await submitter.rpc.close()
