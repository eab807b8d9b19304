"""Fixtures for the store: a migrated ``Database`` per backend.

SQLite gets a fresh file per test. PostgreSQL gets one migrated database per session (``pg_dsn``)
whose tables are truncated before each test.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.store import BridgeOrder


def _hex(byte: int, length: int) -> str:
    return "0x" + f"{byte:02x}" * length


@pytest.fixture
def make_order() -> Callable[..., BridgeOrder]:
    """A plausible V2 order; ``n`` makes the ids distinct, keywords override any column."""

    def make(n: int = 1, **overrides: Any) -> BridgeOrder:
        values: dict[str, Any] = dict(
            transaction_id="0x" + f"{n:064x}",
            request=b"\x00\x02" + bytes(332) + n.to_bytes(4, "big"),
            version=2,
            origin_chain_id=31337,
            dest_chain_id=10,
            origin_sender=_hex(0x11, 20),
            dest_recipient=_hex(0x22, 20),
            origin_token=_hex(0xEE, 20),
            dest_token=_hex(0xEE, 20),
            origin_amount=10**18,
            dest_amount=999 * 10**15,
            origin_fee_amount=0,
            deadline=1_800_000_000,
            nonce=n,
            exclusivity_relayer=_hex(0, 20),
            exclusivity_end_time=0,
            zap_native=0,
            zap_data=b"",
            send_chain_gas=False,
            origin_block_number=100 + n,
            origin_block_hash=_hex(0xB0, 32),
            origin_tx_hash="0x" + f"{n + 1_000_000:064x}",
            origin_log_index=0,
            status=1,
        )
        values.update(overrides)
        return BridgeOrder(**values)

    return make
