"""Breaker readings: the watched values of each chain per block, a 512-block window.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from engine.store import types as store_types

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'breaker_reading',
        sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('block_number', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('block_hash', store_types.Bytes32Hex(), nullable=False),
        sa.Column('block_timestamp', sa.BigInteger(), nullable=False),
        sa.Column('gas_balance', store_types.Uint256(), nullable=False),
        sa.Column('base_fee', store_types.Uint256(), nullable=True),
        sa.Column('gas_price', store_types.Uint256(), nullable=True),
        sa.Column('total_supplies', sa.JSON(), nullable=False),
        sa.Column('balances', sa.JSON(), nullable=False),
        sa.Column('pools', sa.JSON(), nullable=False),
        sa.Column('read_at', store_types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('chain_id', 'block_number', name=op.f('pk_breaker_reading')),
    )


def downgrade() -> None:
    op.drop_table('breaker_reading')
