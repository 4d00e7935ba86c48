"""screening: screened subjects, decisions on hits, alerts raised by re-screening

Revision ID: scr0002
Revises: scr0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "scr0002"
down_revision = "scr0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screening_subjects",
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("query_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("last_screening_id", sa.String(64), nullable=True),
        sa.Column("first_seen_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "screening_decisions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("screening_id", sa.String(64), sa.ForeignKey("screening_screenings.id"), nullable=False),
        sa.Column("entity_ref", sa.String(300), nullable=False),
        sa.Column("query_sha256", sa.String(64), nullable=False),
        sa.Column("entity_sha256", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("officer_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_screening_decisions_subject", "screening_decisions", ["subject"])
    op.create_table(
        "screening_alerts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("screening_id", sa.String(64), sa.ForeignKey("screening_screenings.id"), nullable=False),
        sa.Column("entity_ref", sa.String(300), nullable=False),
        sa.Column("caption", sa.Text, nullable=False),
        sa.Column("score", sa.String(16), nullable=False),
        sa.Column("query_sha256", sa.String(64), nullable=False),
        sa.Column("entity_sha256", sa.String(64), nullable=False),
        sa.Column("list_version_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raised_at", sa.String(32), nullable=False),
        sa.Column("raised_by", sa.String(100), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=True),
        sa.Column("resolved_at", sa.String(32), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
    )
    op.create_index("ix_screening_alerts_subject", "screening_alerts", ["subject"])
    op.create_index("ix_screening_alerts_status", "screening_alerts", ["status"])


def downgrade() -> None:
    op.drop_table("screening_alerts")
    op.drop_table("screening_decisions")
    op.drop_table("screening_subjects")
