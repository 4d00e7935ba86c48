"""screening: list versions, their entities, screenings

Revision ID: scr0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "scr0001"
down_revision = None
branch_labels = ("screening",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screening_list_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("list_format", sa.String(32), nullable=False),
        sa.Column("published", sa.String(64), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("entity_count", sa.Integer, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("loaded_at", sa.String(32), nullable=False),
        sa.Column("loaded_by", sa.String(100), nullable=False),
        sa.Column("previous_id", sa.String(64), nullable=True),
        sa.Column("added", sa.Integer, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
        sa.Column("changed", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
    )
    op.create_index("ix_screening_list_versions_source", "screening_list_versions", ["source"])
    op.create_table(
        "screening_list_entities",
        sa.Column("version_id", sa.String(64), sa.ForeignKey("screening_list_versions.id"), primary_key=True),
        sa.Column("list_id", sa.String(200), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_table(
        "screening_screenings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("list_version_ids", sa.Text, nullable=False),
        sa.Column("algorithm", sa.String(64), nullable=False),
        sa.Column("algorithm_version", sa.String(64), nullable=False),
        sa.Column("threshold", sa.String(16), nullable=False),
        sa.Column("candidates", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_screening_screenings_subject", "screening_screenings", ["subject"])


def downgrade() -> None:
    op.drop_table("screening_screenings")
    op.drop_table("screening_list_entities")
    op.drop_table("screening_list_versions")
