"""webhooks: endpoints, the registry consumer offset, events, deliveries and their attempt log

Revision ID: whk0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "whk0001"
down_revision = None
branch_labels = ("webhooks",)
depends_on = "idn0001"


def upgrade() -> None:
    op.create_table(
        "webhooks_endpoints",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("identity_participants.id"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary, nullable=False),
        sa.Column("secret_hint", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("since_seq", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_webhooks_endpoints_participant_id", "webhooks_endpoints", ["participant_id"])
    op.create_table(
        "webhooks_cursor",
        sa.Column("consumer", sa.String(32), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "webhooks_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "webhooks_deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("endpoint_id", sa.String(64), sa.ForeignKey("webhooks_endpoints.id"), nullable=False),
        sa.Column("participant_id", sa.String(64), nullable=False),
        sa.Column("event_seq", sa.BigInteger, sa.ForeignKey("webhooks_events.seq"), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("round_attempts", sa.Integer, nullable=False),
        sa.Column("next_trigger", sa.String(16), nullable=False),
        sa.Column("next_attempt_at", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.String(32), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("delivered_at", sa.String(32), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("endpoint_id", "event_seq", name="uq_webhooks_deliveries_endpoint_event"),
    )
    op.create_index("ix_webhooks_deliveries_due", "webhooks_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhooks_deliveries_participant_id", "webhooks_deliveries", ["participant_id"])
    op.create_index("ix_webhooks_deliveries_event_seq", "webhooks_deliveries", ["event_seq"])
    op.create_table(
        "webhooks_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), sa.ForeignKey("webhooks_deliveries.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("attempted_at", sa.String(32), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.UniqueConstraint("delivery_id", "number", name="uq_webhooks_attempts_delivery_number"),
    )


def downgrade() -> None:
    op.drop_table("webhooks_attempts")
    op.drop_index("ix_webhooks_deliveries_event_seq", "webhooks_deliveries")
    op.drop_index("ix_webhooks_deliveries_participant_id", "webhooks_deliveries")
    op.drop_index("ix_webhooks_deliveries_due", "webhooks_deliveries")
    op.drop_table("webhooks_deliveries")
    op.drop_table("webhooks_events")
    op.drop_table("webhooks_cursor")
    op.drop_index("ix_webhooks_endpoints_participant_id", "webhooks_endpoints")
    op.drop_table("webhooks_endpoints")
