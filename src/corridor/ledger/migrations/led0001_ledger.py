"""ledger: accounts and transfers

Revision ID: led0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "led0001"
down_revision = None
branch_labels = ("ledger",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("asset", sa.String(10), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("debits_pending", sa.BigInteger, nullable=False),
        sa.Column("debits_posted", sa.BigInteger, nullable=False),
        sa.Column("credits_pending", sa.BigInteger, nullable=False),
        sa.Column("credits_posted", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
            name="ck_ledger_accounts_sums_non_negative",
        ),
    )
    op.create_index("ix_ledger_accounts_owner", "ledger_accounts", ["owner"])
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("debit_account_id", sa.String(64), sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("credit_account_id", sa.String(64), sa.ForeignKey("ledger_accounts.id"), nullable=False),
        sa.Column("asset", sa.String(10), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("pending_id", sa.String(64), nullable=True),
        sa.Column("timeout_at", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("corrects", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
    )
    op.create_index("ix_ledger_transfers_debit_account_id", "ledger_transfers", ["debit_account_id"])
    op.create_index("ix_ledger_transfers_credit_account_id", "ledger_transfers", ["credit_account_id"])
    # One post or void per pending transfer, also enforced by the database (NULLs do not collide).
    op.create_index("ux_ledger_transfers_pending_id", "ledger_transfers", ["pending_id"], unique=True)
    op.create_index("ix_ledger_transfers_state", "ledger_transfers", ["state"])
    op.create_index("ix_ledger_transfers_corrects", "ledger_transfers", ["corrects"])


def downgrade() -> None:
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
