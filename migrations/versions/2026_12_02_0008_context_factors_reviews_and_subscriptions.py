"""context factors, rubric reviews and subscriptions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('factor_observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('factor_key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.Column('observed_on', sa.Date(), nullable=False),
    sa.Column('source_url', sa.String(length=2000), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_factor_observations_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_factor_observations'))
    )
    with op.batch_alter_table('factor_observations', schema=None) as batch_op:
        batch_op.create_index('ix_factor_observations_survey_factor', ['survey_id', 'factor_key', 'observed_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_factor_observations_survey_id'), ['survey_id'], unique=False)

    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_webhook_subscriptions_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions'))
    )
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscriptions_survey_id'), ['survey_id'], unique=False)

    op.create_table('rubric_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rubric_version_id', sa.Integer(), nullable=False),
    sa.Column('trigger_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('factor_key', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('observation_id', sa.Integer(), nullable=True),
    sa.Column('item_keys', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=320), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('assumption', 'review_date', 'indicator')", name=op.f('ck_rubric_reviews_kind')),
    sa.ForeignKeyConstraint(['observation_id'], ['factor_observations.id'], name=op.f('fk_rubric_reviews_observation_id_factor_observations')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_rubric_reviews_round_id_rounds')),
    sa.ForeignKeyConstraint(['rubric_version_id'], ['rubric_versions.id'], name=op.f('fk_rubric_reviews_rubric_version_id_rubric_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_reviews')),
    sa.UniqueConstraint('rubric_version_id', 'trigger_key', name='uq_rubric_reviews_version_trigger')
    )
    with op.batch_alter_table('rubric_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubric_reviews_observation_id'), ['observation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rubric_reviews_round_id'), ['round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rubric_reviews_rubric_version_id'), ['rubric_version_id'], unique=False)

    op.create_table('rubric_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('rubric_version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('published', 'under_review', 'review_closed')", name=op.f('ck_rubric_events_kind')),
    sa.ForeignKeyConstraint(['review_id'], ['rubric_reviews.id'], name=op.f('fk_rubric_events_review_id_rubric_reviews')),
    sa.ForeignKeyConstraint(['rubric_version_id'], ['rubric_versions.id'], name=op.f('fk_rubric_events_rubric_version_id_rubric_versions')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_rubric_events_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rubric_events'))
    )
    with op.batch_alter_table('rubric_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rubric_events_review_id'), ['review_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rubric_events_rubric_version_id'), ['rubric_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rubric_events_survey_id'), ['survey_id'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name=op.f('ck_webhook_deliveries_status')),
    sa.ForeignKeyConstraint(['event_id'], ['rubric_events.id'], name=op.f('fk_webhook_deliveries_event_id_rubric_events')),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('subscription_id', 'event_id', name='uq_webhook_deliveries_subscription_event')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_subscription_id'), ['subscription_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_subscription_id'))
        batch_op.drop_index('ix_webhook_deliveries_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_event_id'))

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('rubric_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubric_events_survey_id'))
        batch_op.drop_index(batch_op.f('ix_rubric_events_rubric_version_id'))
        batch_op.drop_index(batch_op.f('ix_rubric_events_review_id'))

    op.drop_table('rubric_events')
    with op.batch_alter_table('rubric_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rubric_reviews_rubric_version_id'))
        batch_op.drop_index(batch_op.f('ix_rubric_reviews_round_id'))
        batch_op.drop_index(batch_op.f('ix_rubric_reviews_observation_id'))

    op.drop_table('rubric_reviews')
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscriptions_survey_id'))

    op.drop_table('webhook_subscriptions')
    with op.batch_alter_table('factor_observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_factor_observations_survey_id'))
        batch_op.drop_index('ix_factor_observations_survey_factor')

    op.drop_table('factor_observations')
