"""An order's logs by (transaction id, chain, block, log index): read at a wake, asked in every relay's write.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = 'ix_chain_log_transaction_id_chain_id_block_number_log_index'


def upgrade() -> None:
    op.create_index(op.f(_NEW), 'chain_log', ['transaction_id', 'chain_id', 'block_number', 'log_index'], unique=False)
    op.drop_index(op.f('ix_chain_log_transaction_id'), table_name='chain_log')


def downgrade() -> None:
    op.create_index(op.f('ix_chain_log_transaction_id'), 'chain_log', ['transaction_id'], unique=False)
    op.drop_index(op.f(_NEW), table_name='chain_log')
