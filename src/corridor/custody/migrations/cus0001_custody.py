"""custody: wallets, addresses, followed blocks, lots, payouts, batches, approvals, reconciliations

Revision ID: cus0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "cus0001"
down_revision = None
branch_labels = ("custody",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_wallets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("input_kind", sa.String(16), nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("descriptor", sa.Text, nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary, nullable=True),
        sa.Column("ledger_account_id", sa.String(64), nullable=False),
        sa.Column("next_receive_index", sa.Integer, nullable=False),
        sa.Column("next_change_index", sa.Integer, nullable=False),
        sa.Column("gap_limit", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "custody_addresses",
        sa.Column("script_pubkey", sa.String(140), primary_key=True),
        sa.Column("address", sa.String(100), nullable=False, unique=True),
        sa.Column("wallet_id", sa.String(64), sa.ForeignKey("custody_wallets.id"), nullable=False),
        sa.Column("branch", sa.Integer, nullable=False),
        sa.Column("derivation_index", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("record", sa.String(100), nullable=True),
        sa.Column("credit_account_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_custody_addresses_record", "custody_addresses", ["record"])
    op.create_table(
        "custody_blocks",
        sa.Column("height", sa.Integer, primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("tx_count", sa.Integer, nullable=False),
        sa.Column("processed_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "custody_lots",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("vout", sa.Integer, primary_key=True),
        sa.Column("wallet_id", sa.String(64), sa.ForeignKey("custody_wallets.id"), nullable=False),
        sa.Column("script_pubkey", sa.String(140), nullable=False),
        sa.Column("value_sats", sa.BigInteger, nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("credit_account_id", sa.String(64), nullable=True),
        sa.Column("coinbase", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("block_height", sa.Integer, nullable=True),
        sa.Column("block_hash", sa.String(64), nullable=True),
        sa.Column("spent_by", sa.String(64), nullable=True),
        sa.Column("spent_height", sa.Integer, nullable=True),
        sa.Column("reserved_by", sa.String(64), nullable=True),
        sa.Column("credit_transfer_id", sa.String(64), nullable=True),
        sa.Column("credit_count", sa.Integer, nullable=False),
        sa.Column("first_seen_at", sa.String(32), nullable=False),
        sa.CheckConstraint("value_sats > 0", name="ck_custody_lots_value_positive"),
    )
    op.create_index("ix_custody_lots_state", "custody_lots", ["state"])
    op.create_index("ix_custody_lots_block_height", "custody_lots", ["block_height"])
    op.create_index("ix_custody_lots_spent_height", "custody_lots", ["spent_height"])
    op.create_table(
        "custody_mempool_seen",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("seen_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "custody_batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(64), nullable=False),
        sa.Column("wallet_id", sa.String(64), sa.ForeignKey("custody_wallets.id"), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("psbt", sa.Text, nullable=False),
        sa.Column("raw_tx", sa.Text, nullable=True),
        sa.Column("txid", sa.String(64), nullable=True, unique=True),
        sa.Column("unsigned_txid", sa.String(64), nullable=False),
        sa.Column("fee_sats", sa.BigInteger, nullable=False),
        sa.Column("feerate_sat_per_kvb", sa.BigInteger, nullable=False),
        sa.Column("vsize", sa.Integer, nullable=False),
        sa.Column("change_sats", sa.BigInteger, nullable=True),
        sa.Column("change_index", sa.Integer, nullable=True),
        sa.Column("replaces", sa.String(64), nullable=True),
        sa.Column("confirmed_height", sa.Integer, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_custody_batches_family_id", "custody_batches", ["family_id"])
    op.create_index("ix_custody_batches_state", "custody_batches", ["state"])
    op.create_table(
        "custody_payouts",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("wallet_id", sa.String(64), sa.ForeignKey("custody_wallets.id"), nullable=False),
        sa.Column("client_account_id", sa.String(64), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("amount_sats", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("drop_reason", sa.String(64), nullable=True),
        sa.Column("family_id", sa.String(64), nullable=True),
        sa.Column("reservation_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint("amount_sats > 0", name="ck_custody_payouts_amount_positive"),
    )
    op.create_index("ix_custody_payouts_state", "custody_payouts", ["state"])
    op.create_index("ix_custody_payouts_family_id", "custody_payouts", ["family_id"])
    op.create_table(
        "custody_approvals",
        sa.Column("batch_id", sa.String(64), sa.ForeignKey("custody_batches.id"), primary_key=True),
        sa.Column("approver", sa.String(100), primary_key=True),
        sa.Column("signer_keys", sa.Text, nullable=False),
        sa.Column("psbt", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "custody_reconciliations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("block_hash", sa.String(64), nullable=False),
        sa.Column("balanced", sa.Boolean, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "custody_reconciliations",
        "custody_approvals",
        "custody_payouts",
        "custody_batches",
        "custody_mempool_seen",
        "custody_lots",
        "custody_blocks",
        "custody_addresses",
        "custody_wallets",
    ):
        op.drop_table(table)
