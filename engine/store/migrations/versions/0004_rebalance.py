"""Rebalances: proposals, the operator's approval and their execution progress.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from engine.store import types as store_types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'rebalance',
        sa.Column('id', store_types.AutoId, nullable=False),
        sa.Column('symbol', sa.String(length=64), nullable=False),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('origin_chain_id', sa.BigInteger(), nullable=False),
        sa.Column('dest_chain_id', sa.BigInteger(), nullable=False),
        sa.Column('origin_token', store_types.AddressHex(), nullable=False),
        sa.Column('dest_token', store_types.AddressHex(), nullable=False),
        sa.Column('amount', store_types.Uint256(), nullable=False),
        sa.Column('decimals', sa.SmallInteger(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('progress', sa.JSON(), nullable=True),
        sa.Column('created_at', store_types.UtcDateTime(), nullable=False),
        sa.Column('updated_at', store_types.UtcDateTime(), nullable=False),
        sa.CheckConstraint("state IN ('proposed', 'initiated', 'pending', 'done', 'failed', 'rejected')",
                           name=op.f('ck_rebalance_state')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rebalance')),
    )
    op.create_index(op.f('ix_rebalance_state'), 'rebalance', ['state'])


def downgrade() -> None:
    op.drop_index(op.f('ix_rebalance_state'), table_name='rebalance')
    op.drop_table('rebalance')
