"""conversations: enquiries, key shares, members, messages, notes, canned responses,
counsellor status

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 08:30:00

Messages are stored as ciphertext envelopes (JSON) with a gap-free sequence number per
conversation (primary key (conversation_id, seq)) and a unique client message id per
conversation (a resend never becomes a second row).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import server.storage.models.base

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('canned_responses',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.String(length=36), nullable=True),
    sa.Column('owner_id', sa.String(length=36), nullable=True),
    sa.Column('site_key_version', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(site_id IS NULL) <> (owner_id IS NULL)', name=op.f('ck_canned_responses_site_xor_owner')),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id'], name=op.f('fk_canned_responses_created_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['accounts.id'], name=op.f('fk_canned_responses_owner_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_canned_responses_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_responses'))
    )
    with op.batch_alter_table('canned_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canned_responses_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_canned_responses_site_id'), ['site_id'], unique=False)

    op.create_table('conversations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('young_person_id', sa.String(length=36), nullable=True),
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('counsellor_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('route_reason', sa.JSON(), nullable=False),
    sa.Column('postcode_prefix', sa.String(length=2), nullable=True),
    sa.Column('current_epoch', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_activity_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('handed_over_from_site_id', sa.String(length=36), nullable=True),
    sa.CheckConstraint("status IN ('waiting', 'active', 'closed')", name=op.f('ck_conversations_status')),
    sa.ForeignKeyConstraint(['counsellor_id'], ['accounts.id'], name=op.f('fk_conversations_counsellor_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['handed_over_from_site_id'], ['sites.id'], name=op.f('fk_conversations_handed_over_from_site_id_sites'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_conversations_site_id_sites')),
    sa.ForeignKeyConstraint(['young_person_id'], ['accounts.id'], name=op.f('fk_conversations_young_person_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_counsellor_status', ['counsellor_id', 'status'], unique=False)
        batch_op.create_index('ix_conversations_site_status_created', ['site_id', 'status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversations_young_person_id'), ['young_person_id'], unique=False)

    op.create_table('counsellor_status',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('absent_until', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_claim_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_counsellor_status_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_counsellor_status'))
    )
    op.create_table('conversation_keys',
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('recipient_kind', sa.String(length=8), nullable=False),
    sa.Column('recipient_id', sa.String(length=36), nullable=False),
    sa.Column('site_key_version', sa.Integer(), nullable=True),
    sa.Column('sealed', sa.JSON(), nullable=False),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_keys_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', 'epoch', 'recipient_kind', 'recipient_id', name=op.f('pk_conversation_keys'))
    )
    op.create_table('conversation_members',
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('from_epoch', sa.Integer(), nullable=False),
    sa.Column('until_epoch', sa.Integer(), nullable=True),
    sa.Column('last_read_seq', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('joined_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_conversation_members_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_members_conversation_id_conversations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', 'account_id', name=op.f('pk_conversation_members'))
    )
    with op.batch_alter_table('conversation_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_members_account_id'), ['account_id'], unique=False)

    op.create_table('conversation_notes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('site_key_version', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.String(length=36), nullable=True),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['accounts.id'], name=op.f('fk_conversation_notes_author_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_notes_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_conversation_notes_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes'))
    )
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_notes_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('messages',
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('mid', sa.String(length=36), nullable=False),
    sa.Column('sender_id', sa.String(length=36), nullable=True),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('envelope', sa.JSON(), nullable=True),
    sa.Column('system_code', sa.String(length=32), nullable=True),
    sa.Column('system_params', sa.JSON(), nullable=True),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('message', 'system')", name=op.f('ck_messages_kind')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['accounts.id'], name=op.f('fk_messages_sender_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('conversation_id', 'seq', name=op.f('pk_messages')),
    sa.UniqueConstraint('conversation_id', 'mid', name='uq_messages_conversation_id_mid')
    )


def downgrade() -> None:
    op.drop_table('messages')
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_notes_conversation_id'))

    op.drop_table('conversation_notes')
    with op.batch_alter_table('conversation_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_members_account_id'))

    op.drop_table('conversation_members')
    op.drop_table('conversation_keys')
    op.drop_table('counsellor_status')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversations_young_person_id'))
        batch_op.drop_index('ix_conversations_site_status_created')
        batch_op.drop_index('ix_conversations_counsellor_status')

    op.drop_table('conversations')
    with op.batch_alter_table('canned_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_canned_responses_site_id'))
        batch_op.drop_index(batch_op.f('ix_canned_responses_owner_id'))

    op.drop_table('canned_responses')
