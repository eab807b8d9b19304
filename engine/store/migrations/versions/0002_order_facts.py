"""Order facts: chain_log rows keyed by the order they speak of; retry count and proof time per order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from engine.store import types as store_types

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('chain_log') as batch:
        batch.add_column(sa.Column('transaction_id', store_types.Bytes32Hex(), nullable=True))
    # Every bridge event carries the order's transactionId as its first indexed topic.
    chain_log = sa.table('chain_log', sa.column('id', sa.Integer), sa.column('topics', sa.JSON),
                         sa.column('transaction_id', sa.String))
    conn = op.get_bind()
    for row_id, topics in conn.execute(sa.select(chain_log.c.id, chain_log.c.topics)).all():
        if topics and len(topics) > 1:
            conn.execute(chain_log.update().where(chain_log.c.id == row_id)
                         .values(transaction_id=str(topics[1]).lower()))
    op.create_index(op.f('ix_chain_log_transaction_id'), 'chain_log', ['transaction_id'])
    with op.batch_alter_table('bridge_order') as batch:
        batch.add_column(sa.Column('failures', sa.SmallInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('proof_time', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bridge_order') as batch:
        batch.drop_column('proof_time')
        batch.drop_column('failures')
    op.drop_index(op.f('ix_chain_log_transaction_id'), table_name='chain_log')
    with op.batch_alter_table('chain_log') as batch:
        batch.drop_column('transaction_id')
