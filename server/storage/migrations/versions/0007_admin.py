"""admin: admin settings (retention overrides), topics/canned management (issues #4, #9)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.storage.models.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('admin_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_admin_settings'))
    )
    op.create_table('topic_name_overrides',
    sa.Column('topic_key', sa.String(length=40), nullable=False),
    sa.Column('locale', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('updated_at', server.storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['topic_key'], ['topics.key'], name=op.f('fk_topic_name_overrides_topic_key_topics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('topic_key', 'locale', name=op.f('pk_topic_name_overrides'))
    )


def downgrade() -> None:
    op.drop_table('topic_name_overrides')
    op.drop_table('admin_settings')
