"""personal data: consent texts, withdrawal, erasure

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "id", "rating_id", "response_id", "item_key", "dimension_key", "revision", "status",
    "value", "confidence", "share_rationale", "changed_by", "changed_at",
)
_REFUSED = (
    "rating_changes is append-only: a rationale may only be blanked (erasure), and the "
    "history deleted only of a withdrawn response"
)


def upgrade() -> None:
    op.create_table('consent_texts',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_consent_texts'))
    )
    with op.batch_alter_table('experts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))

    _drop_old_guard()
    _create_guard()


def _create_guard() -> None:
    # The history stays evidence of every answer, with two exceptions the data subject is
    # owed: a rationale (free text that may identify its author) may be blanked, and the
    # history of a response whose expert withdrew (or was erased) may be deleted.
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _COLUMNS)
        op.execute(
            "CREATE TRIGGER rating_changes_no_update BEFORE UPDATE ON rating_changes "
            f"WHEN NEW.rationale <> '' OR {changed} "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
        op.execute(
            "CREATE TRIGGER rating_changes_no_delete BEFORE DELETE ON rating_changes "  # noqa: S608
            "WHEN NOT EXISTS (SELECT 1 FROM responses WHERE responses.id = OLD.response_id "
            "AND responses.withdrawn_at IS NOT NULL) "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END"
        )
    else:
        new = ", ".join(f"NEW.{c}" for c in _COLUMNS)
        old = ", ".join(f"OLD.{c}" for c in _COLUMNS)
        op.execute(
            "CREATE FUNCTION guard_rating_changes() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
            "BEGIN "
            "IF TG_OP = 'UPDATE' THEN "
            f"IF NEW.rationale = '' AND ROW({new}) IS NOT DISTINCT FROM ROW({old}) THEN "
            "RETURN NEW; END IF; "
            "ELSIF EXISTS (SELECT 1 FROM responses WHERE responses.id = OLD.response_id "
            "AND responses.withdrawn_at IS NOT NULL) THEN RETURN OLD; "
            "END IF; "
            f"RAISE EXCEPTION '{_REFUSED}'; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER rating_changes_append_only BEFORE UPDATE OR DELETE ON rating_changes "
            "FOR EACH ROW EXECUTE FUNCTION guard_rating_changes()"
        )


def _drop_old_guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS rating_changes_no_update")
        op.execute("DROP TRIGGER IF EXISTS rating_changes_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS rating_changes_append_only ON rating_changes")


def _restore_strict_guard() -> None:
    # As revision 0001 made it: no update, no delete.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER rating_changes_no_{verb.lower()} BEFORE {verb} ON rating_changes "
                "BEGIN SELECT RAISE(ABORT, 'rating_changes is append-only'); END"
            )
    else:
        op.execute("DROP FUNCTION IF EXISTS guard_rating_changes()")
        op.execute(
            "CREATE TRIGGER rating_changes_append_only BEFORE UPDATE OR DELETE ON rating_changes "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
        )


def downgrade() -> None:
    _drop_old_guard()
    _restore_strict_guard()

    # Columns are dropped in place (SQLite 3.35+): rebuilding experts or responses would fail
    # on the rows that refer to them.
    with op.batch_alter_table('responses', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('withdrawn_at')
        batch_op.drop_column('consent_sha256')

    with op.batch_alter_table('experts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('erased_at')

    op.drop_table('consent_texts')
