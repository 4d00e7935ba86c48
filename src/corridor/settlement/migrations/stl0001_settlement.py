"""settlement: quotes, invoices, payment orders, approvals, exception requests, currency operations

Revision ID: stl0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "stl0001"
down_revision = None
branch_labels = ("settlement",)
depends_on = ("ctr0001", "cus0001")


def upgrade() -> None:
    op.create_table(
        "settlement_quotes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("sats", sa.BigInteger, nullable=False),
        sa.Column("price", sa.String(40), nullable=False),
        sa.Column("price_id", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("tolerance_sats", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "settlement_invoices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("quote_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("amount_rub_minor", sa.BigInteger, nullable=False),
        sa.Column("sats_due", sa.BigInteger, nullable=False),
        sa.Column("tolerance_sats", sa.BigInteger, nullable=False),
        sa.Column("wallet_id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(100), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exception", sa.String(16), nullable=True),
        sa.Column("paid_sats", sa.BigInteger, nullable=False),
        sa.Column("confirmed_sats", sa.BigInteger, nullable=False),
        sa.Column("vo_code", sa.String(5), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("settled_at", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_index("ix_settlement_invoices_participant_id", "settlement_invoices", ["participant_id"])
    op.create_index("ix_settlement_invoices_status", "settlement_invoices", ["status"])
    op.create_table(
        "settlement_payment_orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("quote_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("amount_rub_minor", sa.BigInteger, nullable=False),
        sa.Column("sats", sa.BigInteger, nullable=False),
        sa.Column("wallet_id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("beneficiary", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("approvals_required", sa.Integer, nullable=False),
        sa.Column("hold_id", sa.String(64), nullable=False),
        sa.Column("payout_id", sa.String(64), nullable=True),
        sa.Column("txid", sa.String(64), nullable=True),
        sa.Column("block_height", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("vo_code", sa.String(5), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("maker", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_settlement_payment_orders_participant_id", "settlement_payment_orders", ["participant_id"]
    )
    op.create_index("ix_settlement_payment_orders_state", "settlement_payment_orders", ["state"])
    op.create_table(
        "settlement_order_approvals",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("approver", sa.String(128), primary_key=True),
        sa.Column("approved_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "settlement_exception_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sats", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(200), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("resolved_at", sa.String(32), nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
    )
    op.create_index(
        "ix_settlement_exception_requests_invoice_id", "settlement_exception_requests", ["invoice_id"]
    )
    op.create_table(
        "settlement_operations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False, unique=True),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("unk", sa.String(22), nullable=True),
        sa.Column("vo_code", sa.String(5), nullable=False),
        sa.Column("operation_date", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("amount_rub_minor", sa.BigInteger, nullable=False),
        sa.Column("sats", sa.BigInteger, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("block_height", sa.Integer, nullable=True),
        sa.Column("price", sa.String(40), nullable=False),
        sa.Column("price_id", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("official_rate", sa.Text, nullable=False),
        sa.Column("registry_seq", sa.BigInteger, nullable=True),
        sa.Column("registry_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_settlement_operations_participant_id", "settlement_operations", ["participant_id"])


def downgrade() -> None:
    op.drop_table("settlement_operations")
    op.drop_table("settlement_exception_requests")
    op.drop_table("settlement_order_approvals")
    op.drop_table("settlement_payment_orders")
    op.drop_table("settlement_invoices")
    op.drop_table("settlement_quotes")
