"""The orders a batched prove or claim (one multicallNoResults transaction) serves, per nonce.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.store import types as store_types

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'batch_member',
        sa.Column('chain_id', sa.BigInteger(), nullable=False),
        sa.Column('signer', store_types.AddressHex(), nullable=False),
        sa.Column('nonce', sa.BigInteger(), nullable=False),
        sa.Column('transaction_id', store_types.Bytes32Hex(), nullable=False),
        sa.ForeignKeyConstraint(['transaction_id'], ['bridge_order.transaction_id'],
                                name=op.f('fk_batch_member_transaction_id_bridge_order')),
        sa.PrimaryKeyConstraint('chain_id', 'signer', 'nonce', 'transaction_id', name=op.f('pk_batch_member')),
    )
    op.create_index(op.f('ix_batch_member_transaction_id'), 'batch_member', ['transaction_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_batch_member_transaction_id'), table_name='batch_member')
    op.drop_table('batch_member')
