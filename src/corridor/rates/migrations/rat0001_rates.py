"""rates: raw official-rate payloads, official rates with their validity, recorded market prices

Revision ID: rat0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "rat0001"
down_revision = None
branch_labels = ("rates",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rates_payloads",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(500), nullable=False),
        sa.Column("fetched_at", sa.String(32), nullable=False),
        sa.Column("first_published", sa.Date, nullable=False),
        sa.Column("last_published", sa.Date, nullable=False),
        sa.Column("publications", sa.Integer, nullable=False),
        sa.Column("rate_count", sa.Integer, nullable=False),
        sa.Column("stored", sa.Integer, nullable=False),
        sa.Column("already_known", sa.Integer, nullable=False),
        sa.Column("calendar", sa.String(200), nullable=False),
        sa.Column("loaded_by", sa.String(100), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "rates_official",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("base", sa.String(3), nullable=False),
        sa.Column("quote", sa.String(3), nullable=False),
        sa.Column("rate", sa.String(64), nullable=False),
        sa.Column("published_on", sa.Date, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=False),
        sa.Column("payload_sha256", sa.String(64), sa.ForeignKey("rates_payloads.sha256"), nullable=False),
        sa.UniqueConstraint("source", "base", "quote", "published_on", name="uq_rates_official_publication"),
    )
    op.create_index("ix_rates_official_valid_from", "rates_official", ["valid_from"])
    op.create_index("ix_rates_official_valid_to", "rates_official", ["valid_to"])
    op.create_index("ix_rates_official_payload_sha256", "rates_official", ["payload_sha256"])
    op.create_table(
        "rates_market_prices",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("pair", sa.String(16), nullable=False),
        sa.Column("price", sa.String(64), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("observed_at", sa.String(32), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("market_pair", sa.String(16), nullable=False),
        sa.Column("market_price", sa.String(64), nullable=False),
        sa.Column("official_rate", sa.String(64), nullable=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("payload_hashes", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rates_market_prices")
    op.drop_table("rates_official")
    op.drop_table("rates_payloads")
