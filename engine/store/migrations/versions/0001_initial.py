"""Initial schema: chain watching, orders and their decision trace, outbound transactions, operator state.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from engine.store import types as store_types

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bridge_order',
    sa.Column('transaction_id', store_types.Bytes32Hex(), nullable=False),
    sa.Column('request', sa.LargeBinary(), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('origin_chain_id', sa.BigInteger(), nullable=False),
    sa.Column('dest_chain_id', sa.BigInteger(), nullable=False),
    sa.Column('origin_sender', store_types.AddressHex(), nullable=False),
    sa.Column('dest_recipient', store_types.AddressHex(), nullable=False),
    sa.Column('origin_token', store_types.AddressHex(), nullable=False),
    sa.Column('dest_token', store_types.AddressHex(), nullable=False),
    sa.Column('origin_amount', store_types.Uint256(), nullable=False),
    sa.Column('dest_amount', store_types.Uint256(), nullable=False),
    sa.Column('origin_fee_amount', store_types.Uint256(), nullable=False),
    sa.Column('deadline', store_types.Uint256(), nullable=False),
    sa.Column('nonce', store_types.Uint256(), nullable=False),
    sa.Column('exclusivity_relayer', store_types.AddressHex(), nullable=True),
    sa.Column('exclusivity_end_time', store_types.Uint256(), nullable=True),
    sa.Column('zap_native', store_types.Uint256(), nullable=True),
    sa.Column('zap_data', sa.LargeBinary(), nullable=True),
    sa.Column('send_chain_gas', sa.Boolean(), nullable=False),
    sa.Column('origin_block_number', sa.BigInteger(), nullable=False),
    sa.Column('origin_block_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('origin_tx_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('origin_log_index', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('last_reason', sa.Text(), nullable=True),
    sa.Column('relay_tx_hash', store_types.Bytes32Hex(), nullable=True),
    sa.Column('prove_tx_hash', store_types.Bytes32Hex(), nullable=True),
    sa.Column('claim_tx_hash', store_types.Bytes32Hex(), nullable=True),
    sa.Column('created_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('updated_at', store_types.UtcDateTime(), nullable=False),
    sa.CheckConstraint('status BETWEEN 1 AND 14', name=op.f('ck_bridge_order_status_range')),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_bridge_order'))
    )
    op.create_index(op.f('ix_bridge_order_dest_chain_id_dest_token_status'), 'bridge_order', ['dest_chain_id', 'dest_token', 'status'])
    op.create_index(op.f('ix_bridge_order_status'), 'bridge_order', ['status'])
    op.create_index(op.f('ix_bridge_order_updated_at'), 'bridge_order', ['updated_at'])

    op.create_table('chain_cursor',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('updated_at', store_types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', name=op.f('pk_chain_cursor'))
    )
    op.create_table('chain_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=False),
    sa.Column('block_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('tx_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('log_index', sa.BigInteger(), nullable=False),
    sa.Column('address', store_types.AddressHex(), nullable=False),
    sa.Column('topic0', store_types.Bytes32Hex(), nullable=True),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('stored_at', store_types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_log')),
    sa.UniqueConstraint('chain_id', 'tx_hash', 'log_index', name=op.f('uq_chain_log_chain_id_tx_hash_log_index'))
    )
    op.create_index(op.f('ix_chain_log_chain_id_block_number'), 'chain_log', ['chain_id', 'block_number'])

    op.create_table('dead_letter',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('tx_hash', store_types.Bytes32Hex(), nullable=True),
    sa.Column('log_index', sa.BigInteger(), nullable=True),
    sa.Column('topic0', store_types.Bytes32Hex(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('created_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('resolved_at', store_types.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letter'))
    )
    op.create_index(op.f('ix_dead_letter_resolved_at'), 'dead_letter', ['resolved_at'])

    op.create_table('engine_flag',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', store_types.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_engine_flag'))
    )
    op.create_table('operator_journal',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', store_types.UtcDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('command', sa.String(length=64), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_journal'))
    )
    op.create_index(op.f('ix_operator_journal_at'), 'operator_journal', ['at'])

    op.create_table('recent_block',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('number', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('parent_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'number', name=op.f('pk_recent_block'))
    )
    op.create_table('signer_nonce',
    sa.Column('chain_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('signer', store_types.AddressHex(), nullable=False),
    sa.Column('next_nonce', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'signer', name=op.f('pk_signer_nonce'))
    )
    op.create_table('order_transition',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('transaction_id', store_types.Bytes32Hex(), nullable=False),
    sa.Column('from_status', sa.SmallInteger(), nullable=True),
    sa.Column('to_status', sa.SmallInteger(), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('chain_time', sa.BigInteger(), nullable=False),
    sa.Column('wall_time', store_types.UtcDateTime(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('tx_hash', store_types.Bytes32Hex(), nullable=True),
    sa.ForeignKeyConstraint(['transaction_id'], ['bridge_order.transaction_id'], name=op.f('fk_order_transition_transaction_id_bridge_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_transition'))
    )
    op.create_index(op.f('ix_order_transition_transaction_id_id'), 'order_transition', ['transaction_id', 'id'])

    op.create_table('outbound_tx',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('signer', store_types.AddressHex(), nullable=False),
    sa.Column('nonce', sa.BigInteger(), nullable=False),
    sa.Column('attempt', sa.SmallInteger(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('transaction_id', store_types.Bytes32Hex(), nullable=True),
    sa.Column('to_address', store_types.AddressHex(), nullable=False),
    sa.Column('value', store_types.Uint256(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('gas_limit', sa.BigInteger(), nullable=False),
    sa.Column('max_fee_per_gas', store_types.Uint256(), nullable=False),
    sa.Column('max_priority_fee_per_gas', store_types.Uint256(), nullable=False),
    sa.Column('raw_tx', sa.LargeBinary(), nullable=False),
    sa.Column('tx_hash', store_types.Bytes32Hex(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('receipt_status', sa.SmallInteger(), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('block_hash', store_types.Bytes32Hex(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('broadcast_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('mined_at', store_types.UtcDateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('relay', 'prove', 'claim', 'approve', 'cancel', 'self_transfer', 'rebalance')", name=op.f('ck_outbound_tx_purpose')),
    sa.CheckConstraint("state IN ('signed', 'broadcast', 'mined', 'failed', 'replaced', 'dropped')", name=op.f('ck_outbound_tx_state')),
    sa.ForeignKeyConstraint(['transaction_id'], ['bridge_order.transaction_id'], name=op.f('fk_outbound_tx_transaction_id_bridge_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_tx')),
    sa.UniqueConstraint('chain_id', 'signer', 'nonce', 'attempt', name=op.f('uq_outbound_tx_chain_id_signer_nonce_attempt')),
    sa.UniqueConstraint('chain_id', 'tx_hash', name=op.f('uq_outbound_tx_chain_id_tx_hash'))
    )
    op.create_index(op.f('ix_outbound_tx_state'), 'outbound_tx', ['state'])
    op.create_index(op.f('ix_outbound_tx_transaction_id'), 'outbound_tx', ['transaction_id'])


def downgrade() -> None:
    # Indexes and constraints go with their tables.
    op.drop_table('outbound_tx')
    op.drop_table('order_transition')
    op.drop_table('signer_nonce')
    op.drop_table('recent_block')
    op.drop_table('operator_journal')
    op.drop_table('engine_flag')
    op.drop_table('dead_letter')
    op.drop_table('chain_log')
    op.drop_table('chain_cursor')
    op.drop_table('bridge_order')
