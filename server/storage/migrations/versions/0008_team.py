"""team: site membership changes and site key rotation state (issues #3, #9)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.storage.models.base

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('team_profiles',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('deactivated_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_team_profiles_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_team_profiles'))
    )
    op.create_table('team_invitations',
    sa.Column('invitation_id', sa.String(length=36), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('invited_by', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_team_invitations_invitation_id_invitations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by'], ['accounts.id'], name=op.f('fk_team_invitations_invited_by_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('invitation_id', name=op.f('pk_team_invitations'))
    )
    op.create_table('site_key_rotations',
    sa.Column('site_id', sa.String(length=36), nullable=False),
    sa.Column('due_since', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cause', sa.String(length=32), nullable=False),
    sa.Column('stale_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_key_rotations_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', name=op.f('pk_site_key_rotations'))
    )


def downgrade() -> None:
    op.drop_table('site_key_rotations')
    op.drop_table('team_invitations')
    op.drop_table('team_profiles')
