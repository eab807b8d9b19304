"""An index for a signer's live attempts (read at every send).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('ix_outbound_tx_chain_id_signer_state'), 'outbound_tx', ['chain_id', 'signer', 'state'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_outbound_tx_chain_id_signer_state'), table_name='outbound_tx')
