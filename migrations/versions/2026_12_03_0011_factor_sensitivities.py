"""factor sensitivities: which context factors would change an expert's rating of an item

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'factor_sensitivities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('item_key', sa.String(length=64), nullable=False),
        sa.Column('factors', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ['response_id'],
            ['responses.id'],
            name=op.f('fk_factor_sensitivities_response_id_responses'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_factor_sensitivities')),
        sa.UniqueConstraint(
            'response_id', 'item_key', name='uq_factor_sensitivities_response_item'
        ),
    )
    with op.batch_alter_table('factor_sensitivities', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_factor_sensitivities_response_id'), ['response_id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('factor_sensitivities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_factor_sensitivities_response_id'))
    op.drop_table('factor_sensitivities')
