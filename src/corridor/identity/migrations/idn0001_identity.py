"""identity: participants, owners and directors, documents, screening results, limit usage

Revision ID: idn0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "idn0001"
down_revision = None
branch_labels = ("identity",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_participants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("residency", sa.String(16), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("industry", sa.String(100), nullable=False),
        sa.Column("inn", sa.String(12), nullable=True),
        sa.Column("kpp", sa.String(9), nullable=True),
        sa.Column("ogrn", sa.String(13), nullable=True),
        sa.Column("ogrnip", sa.String(15), nullable=True),
        sa.Column("lei", sa.String(20), nullable=True),
        sa.Column("bic", sa.String(11), nullable=True),
        sa.Column("registration_number", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("risk_score", sa.Integer, nullable=False),
        sa.Column("risk_tier", sa.String(16), nullable=False),
        sa.Column("risk_factors", sa.Text, nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("reviewed_by", sa.String(100), nullable=True),
        sa.Column("review_notes", sa.Text, nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("admission_reference", sa.String(100), nullable=True),
        sa.Column("admitted_on", sa.Date, nullable=True),
        sa.Column("admission_valid_to", sa.Date, nullable=True),
        sa.Column("per_transaction_limit_rub_minor", sa.BigInteger, nullable=True),
        sa.Column("per_period_limit_rub_minor", sa.BigInteger, nullable=True),
        sa.Column("next_review_on", sa.Date, nullable=True),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "kind IN ('legal_entity', 'individual_entrepreneur')", name="ck_identity_participants_no_retail"
        ),
    )
    op.create_index("ix_identity_participants_inn", "identity_participants", ["inn"])
    op.create_index("ix_identity_participants_lei", "identity_participants", ["lei"])
    op.create_table(
        "identity_persons",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("identity_participants.id"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=True),
        sa.Column("inn", sa.String(12), nullable=True),
        sa.Column("ownership_percent", sa.String(8), nullable=True),
    )
    op.create_index("ix_identity_persons_participant_id", "identity_persons", ["participant_id"])
    op.create_table(
        "identity_documents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("identity_participants.id"), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_identity_documents_participant_id", "identity_documents", ["participant_id"])
    op.create_table(
        "identity_screenings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("identity_participants.id"), nullable=False),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("party_name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("screening_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_identity_screenings_participant_id", "identity_screenings", ["participant_id"])
    op.create_table(
        "identity_limit_usage",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("identity_participants.id"), nullable=False),
        sa.Column("on_date", sa.Date, nullable=False),
        sa.Column("amount_rub_minor", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint("amount_rub_minor > 0", name="ck_identity_limit_usage_positive"),
    )
    op.create_index(
        "ix_identity_limit_usage_participant_id", "identity_limit_usage", ["participant_id", "on_date"]
    )


def downgrade() -> None:
    for table in ("identity_limit_usage", "identity_screenings", "identity_documents", "identity_persons"):
        op.drop_table(table)
    op.drop_table("identity_participants")
