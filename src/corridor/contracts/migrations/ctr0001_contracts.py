"""contracts: foreign-trade contracts, amendments, counterparty screening, payments, shipments, documents

Revision ID: ctr0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "ctr0001"
down_revision = None
branch_labels = ("contracts",)
depends_on = "idn0001"


def _contract_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("contract_id", sa.String(64), sa.ForeignKey("contracts_contracts.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "contracts_contracts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("identity_participants.id"), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("contract_type", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("contract_date", sa.Date, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("performance_deadline", sa.Date, nullable=False),
        sa.Column("goods_codes", sa.Text, nullable=False),
        sa.Column("incoterms", sa.String(3), nullable=True),
        sa.Column("cp_name", sa.String(300), nullable=False),
        sa.Column("cp_country", sa.String(2), nullable=False),
        sa.Column("cp_lei", sa.String(20), nullable=True),
        sa.Column("cp_bic", sa.String(11), nullable=True),
        sa.Column("cp_registration_number", sa.String(64), nullable=True),
        sa.Column("cp_vasp_name", sa.String(300), nullable=True),
        sa.Column("cp_vasp_lei", sa.String(20), nullable=True),
        sa.Column("cp_wallet_address", sa.String(100), nullable=True),
        sa.Column("registration_required", sa.Boolean, nullable=False),
        sa.Column("registration_assessed_on", sa.Date, nullable=False),
        sa.Column("amount_rub", sa.String(40), nullable=False),
        sa.Column("threshold_rub", sa.String(40), nullable=False),
        sa.Column("threshold_kind", sa.String(8), nullable=False),
        sa.Column("rate", sa.String(40), nullable=False),
        sa.Column("rate_source", sa.String(100), nullable=False),
        sa.Column("documents_required", sa.Boolean, nullable=False),
        sa.Column("unk", sa.String(22), nullable=True),
        sa.Column("unk_registered_on", sa.Date, nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_contracts_contracts_amount_positive"),
    )
    op.create_index("ix_contracts_contracts_participant_id", "contracts_contracts", ["participant_id"])
    op.create_index("ux_contracts_contracts_unk", "contracts_contracts", ["unk"], unique=True)
    op.create_table(
        "contracts_amendments",
        sa.Column("id", sa.String(64), primary_key=True),
        _contract_fk(),
        sa.Column("amendment_date", sa.Date, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "contracts_screenings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _contract_fk(),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("party_name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "contracts_payments",
        sa.Column("id", sa.String(64), primary_key=True),
        _contract_fk(),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("amount_rub_minor", sa.BigInteger, nullable=False),
        sa.Column("vo_code", sa.String(5), nullable=False),
        sa.Column("txid", sa.String(64), nullable=True),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint(
            "amount_minor > 0 AND amount_rub_minor > 0", name="ck_contracts_payments_positive"
        ),
    )
    op.create_table(
        "contracts_shipments",
        sa.Column("id", sa.String(64), primary_key=True),
        _contract_fk(),
        sa.Column("shipped_on", sa.Date, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_contracts_shipments_positive"),
    )
    op.create_table(
        "contracts_documents",
        sa.Column("id", sa.String(64), primary_key=True),
        _contract_fk(),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "contracts_document_obligations",
        sa.Column("id", sa.String(64), primary_key=True),
        _contract_fk(),
        sa.Column("payment_id", sa.String(64), sa.ForeignKey("contracts_payments.id"), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("document_id", sa.String(64), sa.ForeignKey("contracts_documents.id"), nullable=True),
    )
    for table in (
        "contracts_amendments",
        "contracts_screenings",
        "contracts_payments",
        "contracts_shipments",
        "contracts_documents",
        "contracts_document_obligations",
    ):
        op.create_index(f"ix_{table}_contract_id", table, ["contract_id"])


def downgrade() -> None:
    for table in (
        "contracts_document_obligations",
        "contracts_documents",
        "contracts_shipments",
        "contracts_payments",
        "contracts_screenings",
        "contracts_amendments",
        "contracts_contracts",
    ):
        op.drop_table(table)
