"""The breakers' table: the most recent per-block readings of each chain (a window, pruned beyond it).

Registered on the engine's one ``Base`` so migrations, drift checks and truncation see it. Per-token and
per-pool amounts are uint256: they sit in JSON as exact decimal strings (a JSON number would be
rounded by any reader that parses it as a double).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base
from engine.store.types import Bytes32Hex, Uint256, UtcDateTime, utc_now


class BreakerReading(Base):
    """One chain's watched values at one canonical block (see engine/breakers/readings.py)."""

    __tablename__ = "breaker_reading"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_hash: Mapped[str] = mapped_column(Bytes32Hex())
    block_timestamp: Mapped[int] = mapped_column(BigInteger)  # chain time, unix seconds
    gas_balance: Mapped[int] = mapped_column(Uint256())
    base_fee: Mapped[int | None] = mapped_column(Uint256(), nullable=True)
    gas_price: Mapped[int | None] = mapped_column(Uint256(), nullable=True)
    total_supplies: Mapped[dict[str, Any]] = mapped_column(JSON)  # token -> "amount"
    balances: Mapped[dict[str, Any]] = mapped_column(JSON)  # token -> "amount"
    pools: Mapped[dict[str, Any]] = mapped_column(JSON)  # pool -> {token, quote_token, reserves: [..], decimals: [..]}
    read_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
