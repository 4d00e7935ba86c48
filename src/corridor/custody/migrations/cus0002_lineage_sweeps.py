"""custody: lot lineage (input lots -> output lots), flattened origins per lot, sweeps

Revision ID: cus0002
Revises: cus0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "cus0002"
down_revision = "cus0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("custody_lots") as batch:
        batch.add_column(sa.Column("origins", sa.Text, nullable=True))
    op.create_table(
        "custody_lot_links",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("vout", sa.Integer, primary_key=True),
        sa.Column("parent_txid", sa.String(64), primary_key=True),
        sa.Column("parent_vout", sa.Integer, primary_key=True),
        sa.Column("parent_value_sats", sa.BigInteger, nullable=False),
        sa.Column("parent_origin", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_custody_lot_links_parent", "custody_lot_links", ["parent_txid", "parent_vout"])
    op.create_table(
        "custody_sweeps",
        sa.Column("family_id", sa.String(64), primary_key=True),
        sa.Column("from_wallet_id", sa.String(64), sa.ForeignKey("custody_wallets.id"), nullable=False),
        sa.Column("to_wallet_id", sa.String(64), sa.ForeignKey("custody_wallets.id"), nullable=False),
        sa.Column("to_script_pubkey", sa.String(140), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("custody_sweeps")
    op.drop_index("ix_custody_lot_links_parent", table_name="custody_lot_links")
    op.drop_table("custody_lot_links")
    with op.batch_alter_table("custody_lots") as batch:
        batch.drop_column("origins")
