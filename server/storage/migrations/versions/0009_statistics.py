"""statistics: the enquiry's age group and an index on created_at, for statistics (issue #9)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_group', sa.String(length=8), nullable=True))
        batch_op.create_index('ix_conversations_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_created_at')
        batch_op.drop_column('age_group')
