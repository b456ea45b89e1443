"""moderation: blocks and reports of young people's accounts, abuse counters (issue #8)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.storage.models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('conversation_id', sa.String(length=36), nullable=True),
    sa.Column('reported_by', sa.String(length=36), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('sealed_note', sa.Text(), nullable=True),
    sa.Column('site_key_version', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=36), nullable=True),
    sa.CheckConstraint("status IN ('open', 'dismissed', 'actioned')", name=op.f('ck_account_reports_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_reports_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_account_reports_conversation_id_conversations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reported_by'], ['accounts.id'], name=op.f('fk_account_reports_reported_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by'], ['accounts.id'], name=op.f('fk_account_reports_resolved_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_account_reports_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_reports'))
    )
    with op.batch_alter_table('account_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_reports_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_account_reports_site_status_created', ['site_id', 'status', 'created_at'], unique=False)

    op.create_table('conversation_blocks',
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('blocked_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_conversation_blocks_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocked_by'], ['accounts.id'], name=op.f('fk_conversation_blocks_blocked_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_blocks_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_conversation_blocks_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_conversation_blocks'))
    )
    with op.batch_alter_table('conversation_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_blocks_account_id'), ['account_id'], unique=False)

    op.create_table('site_blocks',
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('blocked_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_site_blocks_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['blocked_by'], ['accounts.id'], name=op.f('fk_site_blocks_blocked_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_blocks_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'account_id', name=op.f('pk_site_blocks'))
    )
    with op.batch_alter_table('site_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_blocks_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('site_blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_blocks_account_id'))

    op.drop_table('site_blocks')
    with op.batch_alter_table('conversation_blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_blocks_account_id'))

    op.drop_table('conversation_blocks')
    with op.batch_alter_table('account_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_account_reports_site_status_created')
        batch_op.drop_index(batch_op.f('ix_account_reports_account_id'))

    op.drop_table('account_reports')
