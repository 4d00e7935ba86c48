"""settlement: refund payouts of invoice exception requests

Revision ID: stl0002
Revises: stl0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "stl0002"
down_revision = "stl0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_refunds",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("sats", sa.BigInteger, nullable=False),
        sa.Column("wallet_id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("beneficiary", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("txid", sa.String(64), nullable=True),
        sa.Column("vout", sa.Integer, nullable=True),
        sa.Column("block_height", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        # One payout per attempt of a request: a second writer of the same attempt fails here at worst.
        sa.UniqueConstraint("request_id", "attempt", name="uq_settlement_refunds_request_attempt"),
    )
    op.create_index("ix_settlement_refunds_state", "settlement_refunds", ["state"])


def downgrade() -> None:
    op.drop_table("settlement_refunds")
