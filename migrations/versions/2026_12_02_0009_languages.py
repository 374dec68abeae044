"""languages: the invitation's language and the language each rating was given in

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place: rebuilding these tables (SQLite's batch mode) would drop the
    # triggers and fail on the rows that refer to them.
    with op.batch_alter_table('invitations', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))

    with op.batch_alter_table('ratings', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ratings', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')

    with op.batch_alter_table('invitations', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')
