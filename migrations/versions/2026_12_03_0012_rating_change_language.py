"""rating_change_language: each kept state of a rating records the language it was given
in; a survey version keeps the warnings about translations its source changes left stale;
a staff account keeps the language of its pages

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place: rebuilding the append-only history (SQLite's batch mode) would drop
    # its triggers. States kept before this revision stay without a language (not recorded).
    with op.batch_alter_table('rating_changes', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))

    with op.batch_alter_table('survey_versions', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('translation_warnings', sa.JSON(), nullable=True))

    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')

    with op.batch_alter_table('survey_versions', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('translation_warnings')

    with op.batch_alter_table('rating_changes', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')
