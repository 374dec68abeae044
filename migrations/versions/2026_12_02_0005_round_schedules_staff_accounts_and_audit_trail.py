"""round schedules, staff accounts and the audit trail

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('password_resets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_resets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_resets')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_resets_token_hash'))
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_resets_user_id'), ['user_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target_type', sa.String(length=30), nullable=False),
    sa.Column('target_id', sa.String(length=80), nullable=True),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_audit_log_round_id_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_round_id'), ['round_id'], unique=False)

    op.create_table('round_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_round_events_round_id_rounds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_round_events')),
    sa.UniqueConstraint('round_id', 'kind', name='uq_round_events_round_id_kind')
    )
    with op.batch_alter_table('round_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_events_round_id'), ['round_id'], unique=False)

    with op.batch_alter_table('rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opens_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminder_days', sa.JSON(), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))

    # The outbox also carries password-reset links now.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_kind'), type_='check')
        batch_op.create_check_constraint(
            'kind', "kind IN ('invitation', 'reminder', 'receipt', 'password_reset')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'password_reset'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_kind'), type_='check')
        batch_op.create_check_constraint('kind', "kind IN ('invitation', 'reminder', 'receipt')")

    # Columns are dropped in place (SQLite 3.35+): rebuilding users or rounds would fail on
    # the rows that refer to them.
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('totp_secret')

    with op.batch_alter_table('rounds', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('reminder_days')
        batch_op.drop_column('opens_at')

    with op.batch_alter_table('round_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_events_round_id'))

    op.drop_table('round_events')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_round_id'))
        batch_op.drop_index('ix_audit_log_at')

    op.drop_table('audit_log')
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_resets_user_id'))

    op.drop_table('password_resets')
