"""quantile answers: the experts' 5/50/95% quantiles of quantity questions, and their history

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSED = "quantile_answer_changes is append-only"


def upgrade() -> None:
    op.create_table('quantile_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('question_key', sa.String(length=64), nullable=False),
    sa.Column('q05', sa.Float(), nullable=False),
    sa.Column('q50', sa.Float(), nullable=False),
    sa.Column('q95', sa.Float(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.CheckConstraint('q05 < q50 AND q50 < q95', name=op.f('ck_quantile_answers_increasing')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_quantile_answers_response_id_responses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quantile_answers')),
    sa.UniqueConstraint('response_id', 'question_key', name='uq_quantile_answers_response_question')
    )
    with op.batch_alter_table('quantile_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quantile_answers_response_id'), ['response_id'], unique=False)

    op.create_table('quantile_answer_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('question_key', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('q05', sa.Float(), nullable=False),
    sa.Column('q50', sa.Float(), nullable=False),
    sa.Column('q95', sa.Float(), nullable=False),
    sa.Column('changed_by', sa.String(length=20), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['quantile_answers.id'], name=op.f('fk_quantile_answer_changes_answer_id_quantile_answers')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_quantile_answer_changes_response_id_responses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quantile_answer_changes'))
    )
    with op.batch_alter_table('quantile_answer_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quantile_answer_changes_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quantile_answer_changes_response_id'), ['response_id'], unique=False)

    # Like the rating history: never edited; deleted only with a withdrawn response.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER quantile_answer_changes_no_update BEFORE UPDATE ON "
            f"quantile_answer_changes BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
        op.execute(
            "CREATE TRIGGER quantile_answer_changes_no_delete BEFORE DELETE ON "  # noqa: S608
            "quantile_answer_changes WHEN NOT EXISTS (SELECT 1 FROM responses WHERE "
            "responses.id = OLD.response_id AND responses.withdrawn_at IS NOT NULL) "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
    else:
        op.execute(
            "CREATE FUNCTION guard_quantile_answer_changes() RETURNS trigger "  # noqa: S608
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM responses WHERE "
            "responses.id = OLD.response_id AND responses.withdrawn_at IS NOT NULL) THEN "
            f"RETURN OLD; END IF; RAISE EXCEPTION '{_REFUSED}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER quantile_answer_changes_append_only BEFORE UPDATE OR DELETE ON "
            "quantile_answer_changes FOR EACH ROW EXECUTE FUNCTION guard_quantile_answer_changes()"
        )
        op.execute(
            "CREATE TRIGGER quantile_answer_changes_no_truncate BEFORE TRUNCATE ON "
            "quantile_answer_changes FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS quantile_answer_changes_no_update")
        op.execute("DROP TRIGGER IF EXISTS quantile_answer_changes_no_delete")
    else:
        op.execute(
            "DROP TRIGGER IF EXISTS quantile_answer_changes_append_only ON quantile_answer_changes"
        )
        op.execute(
            "DROP TRIGGER IF EXISTS quantile_answer_changes_no_truncate ON quantile_answer_changes"
        )
        op.execute("DROP FUNCTION IF EXISTS guard_quantile_answer_changes()")
    with op.batch_alter_table('quantile_answer_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quantile_answer_changes_response_id'))
        batch_op.drop_index(batch_op.f('ix_quantile_answer_changes_answer_id'))

    op.drop_table('quantile_answer_changes')
    with op.batch_alter_table('quantile_answers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quantile_answers_response_id'))

    op.drop_table('quantile_answers')
