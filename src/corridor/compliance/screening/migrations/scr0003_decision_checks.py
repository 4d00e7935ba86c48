"""screening: maker-checker on decisions (a second officer confirms or rejects each decision)

Revision ID: scr0003
Revises: scr0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "scr0003"
down_revision = "scr0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Decisions recorded before this revision took effect at once: they stay in force as confirmed.
    with op.batch_alter_table("screening_decisions") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="confirmed"))
        batch.add_column(sa.Column("checked_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("checker_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("checked_at", sa.String(32), nullable=True))
        batch.add_column(sa.Column("check_reason", sa.Text, nullable=True))


def downgrade() -> None:
    # Before this revision every stored decision was in force: decisions never confirmed cannot stay.
    op.execute("DELETE FROM screening_decisions WHERE status <> 'confirmed'")
    with op.batch_alter_table("screening_decisions") as batch:
        for column in ("check_reason", "checked_at", "checker_name", "checked_by", "status"):
            batch.drop_column(column)
