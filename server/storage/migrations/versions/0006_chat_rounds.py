"""chat_rounds: scheduled group chats (chat rounds): rounds, participants, group key epochs (issue #9)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 11:20:00

Three tables besides the round itself: participants (with a per-round pseudonymous member id),
signed epoch-key shares (opaque) and message envelopes (ciphertext) with a gap-free seq.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.storage.models.base import UTCDateTime

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('chat_rounds',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('topic', sa.String(length=120), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('starts_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('max_participants', sa.Integer(), nullable=False),
    sa.Column('current_epoch', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('rekey_needed', sa.Boolean(), nullable=False),
    sa.Column('departure_pending', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('purged_at', UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('max_participants >= 1', name=op.f('ck_chat_rounds_max_participants')),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id'], name=op.f('fk_chat_rounds_created_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_chat_rounds_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_rounds'))
    )
    op.create_index('ix_chat_rounds_language_ends_at', 'chat_rounds', ['language', 'ends_at'], unique=False)
    op.create_index(op.f('ix_chat_rounds_site_id'), 'chat_rounds', ['site_id'], unique=False)
    op.create_table('round_keys',
    sa.Column('round_id', sa.String(length=36), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('sealed', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_round_keys_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['chat_rounds.id'], name=op.f('fk_round_keys_round_id_chat_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'epoch', 'account_id', name=op.f('pk_round_keys'))
    )
    op.create_table('round_messages',
    sa.Column('round_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('mid', sa.String(length=36), nullable=False),
    sa.Column('sender_member_id', sa.String(length=36), nullable=True),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('envelope', sa.JSON(), nullable=True),
    sa.Column('system_code', sa.String(length=32), nullable=True),
    sa.Column('system_params', sa.JSON(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('message', 'system')", name=op.f('ck_round_messages_kind')),
    sa.ForeignKeyConstraint(['round_id'], ['chat_rounds.id'], name=op.f('fk_round_messages_round_id_chat_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'seq', name=op.f('pk_round_messages')),
    sa.UniqueConstraint('round_id', 'mid', name='uq_round_messages_round_id_mid')
    )
    op.create_table('round_participants',
    sa.Column('round_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('member_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('from_epoch', sa.Integer(), nullable=False),
    sa.Column('until_epoch', sa.Integer(), nullable=True),
    sa.Column('muted', sa.Boolean(), nullable=False),
    sa.Column('rules_accepted_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('joined_at', UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('waiting', 'admitted', 'left', 'removed')", name=op.f('ck_round_participants_state')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_round_participants_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['chat_rounds.id'], name=op.f('fk_round_participants_round_id_chat_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'account_id', name=op.f('pk_round_participants')),
    sa.UniqueConstraint('round_id', 'member_id', name='uq_round_participants_round_id_member')
    )
    op.create_index(op.f('ix_round_participants_account_id'), 'round_participants', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_round_participants_account_id'), table_name='round_participants')
    op.drop_table('round_participants')
    op.drop_table('round_messages')
    op.drop_table('round_keys')
    op.drop_index(op.f('ix_chat_rounds_site_id'), table_name='chat_rounds')
    op.drop_index('ix_chat_rounds_language_ends_at', table_name='chat_rounds')
    op.drop_table('chat_rounds')
