"""handover: handover proposals, conversation moves between sites, reassignment audit (issue #6)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.storage.models.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('handover_proposals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('conversation_id', sa.String(length=36), nullable=False),
    sa.Column('from_site_id', sa.String(length=36), nullable=False),
    sa.Column('to_site_id', sa.String(length=36), nullable=False),
    sa.Column('proposed_by', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note_sealed', sa.Text(), nullable=True),
    sa.Column('note_site_key_version', sa.Integer(), nullable=True),
    sa.Column('allow_history', sa.Boolean(), nullable=True),
    sa.Column('created_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'declined', 'expired', 'cancelled')", name=op.f('ck_handover_proposals_status')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_handover_proposals_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_site_id'], ['sites.id'], name=op.f('fk_handover_proposals_from_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposed_by'], ['accounts.id'], name=op.f('fk_handover_proposals_proposed_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['to_site_id'], ['sites.id'], name=op.f('fk_handover_proposals_to_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handover_proposals'))
    )
    with op.batch_alter_table('handover_proposals', schema=None) as batch_op:
        batch_op.create_index('ix_handover_proposals_conversation_status', ['conversation_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('handover_proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_handover_proposals_conversation_status')

    op.drop_table('handover_proposals')
