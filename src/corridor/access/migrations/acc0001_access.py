"""access: users and API keys

Revision ID: acc0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "acc0001"
down_revision = None
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_users",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("disabled_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_access_users_participant_id", "access_users", ["participant_id"])
    op.create_table(
        "access_api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True),
        sa.Column("hash", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(64), sa.ForeignKey("access_users.id"), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_access_api_keys_user_id", "access_api_keys", ["user_id"])


def downgrade() -> None:
    op.drop_table("access_api_keys")
    op.drop_table("access_users")
