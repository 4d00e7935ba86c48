"""Contracts, amendments, counterparty screening results, payments, shipments, document obligations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from corridor.contracts.model import ContractStatus, ContractType, Counterparty, Direction, Obligation
from corridor.db import metadata

contracts = Table(
    "contracts_contracts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), ForeignKey("identity_participants.id"), nullable=False, index=True),
    Column("number", String(100), nullable=False),
    Column("contract_type", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("contract_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("performance_deadline", Date, nullable=False),
    Column("goods_codes", Text, nullable=False),
    Column("incoterms", String(3), nullable=True),
    Column("cp_name", String(300), nullable=False),
    Column("cp_country", String(2), nullable=False),
    Column("cp_lei", String(20), nullable=True),
    Column("cp_bic", String(11), nullable=True),
    Column("cp_registration_number", String(64), nullable=True),
    Column("cp_vasp_name", String(300), nullable=True),
    Column("cp_vasp_lei", String(20), nullable=True),
    Column("cp_wallet_address", String(100), nullable=True),
    Column("registration_required", Boolean, nullable=False),
    Column("registration_assessed_on", Date, nullable=False),
    Column("amount_rub", String(40), nullable=False),
    Column("threshold_rub", String(40), nullable=False),
    Column("threshold_kind", String(8), nullable=False),
    Column("rate", String(40), nullable=False),
    Column("rate_source", String(100), nullable=False),
    Column("documents_required", Boolean, nullable=False),
    Column("unk", String(22), nullable=True, unique=True),
    Column("unk_registered_on", Date, nullable=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

amendments = Table(
    "contracts_amendments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contract_id", String(64), ForeignKey("contracts_contracts.id"), nullable=False, index=True),
    Column("amendment_date", Date, nullable=False),
    Column("changes", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

screenings = Table(
    "contracts_screenings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(64), ForeignKey("contracts_contracts.id"), nullable=False, index=True),
    Column("subject", String(32), nullable=False),
    Column("party_name", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

payments = Table(
    "contracts_payments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contract_id", String(64), ForeignKey("contracts_contracts.id"), nullable=False, index=True),
    Column("direction", String(16), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("amount_rub_minor", BigInteger, nullable=False),
    Column("vo_code", String(5), nullable=False),
    Column("txid", String(64), nullable=True),
    Column("reference", String(200), nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

shipments = Table(
    "contracts_shipments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contract_id", String(64), ForeignKey("contracts_contracts.id"), nullable=False, index=True),
    Column("shipped_on", Date, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

documents = Table(
    "contracts_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contract_id", String(64), ForeignKey("contracts_contracts.id"), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("uploaded_by", String(100), nullable=False),
    Column("uploaded_at", String(32), nullable=False),
)

obligations = Table(
    "contracts_document_obligations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("contract_id", String(64), ForeignKey("contracts_contracts.id"), nullable=False, index=True),
    Column("payment_id", String(64), ForeignKey("contracts_payments.id"), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("document_id", String(64), ForeignKey("contracts_documents.id"), nullable=True),
)


@dataclass(frozen=True)
class Contract:
    id: str
    participant_id: str
    number: str
    contract_type: ContractType
    direction: Direction
    status: ContractStatus
    contract_date: date
    currency: str
    amount_minor: int
    performance_deadline: date
    goods_codes: tuple[str, ...]
    incoterms: str | None
    counterparty: Counterparty
    registration_required: bool
    registration_assessed_on: date
    amount_rub: str
    threshold_rub: str
    threshold_kind: str
    rate: str
    rate_source: str
    documents_required: bool
    unk: str | None
    unk_registered_on: date | None
    created_by: str
    created_at: str
    updated_at: str


def _contract(row: Any) -> Contract:
    r = row._mapping
    return Contract(
        id=r["id"],
        participant_id=r["participant_id"],
        number=r["number"],
        contract_type=ContractType(r["contract_type"]),
        direction=Direction(r["direction"]),
        status=ContractStatus(r["status"]),
        contract_date=r["contract_date"],
        currency=r["currency"],
        amount_minor=int(r["amount_minor"]),
        performance_deadline=r["performance_deadline"],
        goods_codes=tuple(json.loads(r["goods_codes"])),
        incoterms=r["incoterms"],
        counterparty=Counterparty(
            name=r["cp_name"],
            country=r["cp_country"],
            lei=r["cp_lei"],
            bic=r["cp_bic"],
            registration_number=r["cp_registration_number"],
            vasp_name=r["cp_vasp_name"],
            vasp_lei=r["cp_vasp_lei"],
            wallet_address=r["cp_wallet_address"],
        ),
        registration_required=bool(r["registration_required"]),
        registration_assessed_on=r["registration_assessed_on"],
        amount_rub=r["amount_rub"],
        threshold_rub=r["threshold_rub"],
        threshold_kind=r["threshold_kind"],
        rate=r["rate"],
        rate_source=r["rate_source"],
        documents_required=bool(r["documents_required"]),
        unk=r["unk"],
        unk_registered_on=r["unk_registered_on"],
        created_by=r["created_by"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def counterparty_columns(counterparty: Counterparty) -> dict[str, Any]:
    return {
        "cp_name": counterparty.name,
        "cp_country": counterparty.country,
        "cp_lei": counterparty.lei,
        "cp_bic": counterparty.bic,
        "cp_registration_number": counterparty.registration_number,
        "cp_vasp_name": counterparty.vasp_name,
        "cp_vasp_lei": counterparty.vasp_lei,
        "cp_wallet_address": counterparty.wallet_address,
    }


def insert_contract(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(contracts), values)


def get_contract(session: Session, contract_id: str, *, lock: bool = False) -> Contract | None:
    query = select(contracts).where(contracts.c.id == contract_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    return None if row is None else _contract(row)


def list_contracts(session: Session, participant_id: str | None, limit: int) -> list[Contract]:
    query = select(contracts).order_by(contracts.c.created_at, contracts.c.id).limit(limit)
    if participant_id is not None:
        query = query.where(contracts.c.participant_id == participant_id)
    return [_contract(row) for row in session.execute(query)]


def unk_taken(session: Session, unk: str, contract_id: str) -> bool:
    found = session.execute(
        select(contracts.c.id).where(contracts.c.unk == unk, contracts.c.id != contract_id)
    ).first()
    return found is not None


def update_contract(session: Session, contract_id: str, values: dict[str, Any]) -> None:
    session.execute(update(contracts).where(contracts.c.id == contract_id), values)


def insert_amendment(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(amendments), values)


def amendments_of(session: Session, contract_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(amendments).where(amendments.c.contract_id == contract_id).order_by(amendments.c.created_at)
    )
    return [{**dict(r._mapping), "changes": json.loads(r.changes)} for r in rows]


def insert_screening(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(screenings), values)


def latest_screenings(session: Session, contract_id: str) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(screenings).where(screenings.c.contract_id == contract_id).order_by(screenings.c.id)
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest[row.subject] = dict(row._mapping)
    return latest


def get_payment(session: Session, payment_id: str) -> dict[str, Any] | None:
    row = session.execute(select(payments).where(payments.c.id == payment_id)).first()
    return None if row is None else dict(row._mapping)


def insert_payment(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(payments), values)


def insert_shipment(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(shipments), values)


def get_shipment(session: Session, shipment_id: str) -> dict[str, Any] | None:
    row = session.execute(select(shipments).where(shipments.c.id == shipment_id)).first()
    return None if row is None else dict(row._mapping)


def amounts(session: Session, table: Table, contract_id: str) -> list[int]:
    rows = session.execute(select(table.c.amount_minor).where(table.c.contract_id == contract_id))
    return [int(r[0]) for r in rows]


def paid_amounts(session: Session, contract_id: str) -> list[int]:
    return amounts(session, payments, contract_id)


def shipped_amounts(session: Session, contract_id: str) -> list[int]:
    return amounts(session, shipments, contract_id)


def insert_obligation(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(obligations), values)


def obligations_of(session: Session, contract_id: str) -> list[Obligation]:
    rows = session.execute(
        select(obligations).where(obligations.c.contract_id == contract_id).order_by(obligations.c.due_on)
    )
    return [Obligation(r.id, r.payment_id, r.due_on, r.document_id) for r in rows]


def fulfil_obligation(session: Session, obligation_id: str, contract_id: str, document_id: str) -> bool:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(obligations)
        .where(
            obligations.c.id == obligation_id,
            obligations.c.contract_id == contract_id,
            obligations.c.document_id.is_(None),
        )
        .values(document_id=document_id)
    )
    return bool(result.rowcount)


def insert_document(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(documents), values)


def documents_of(session: Session, contract_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            documents.c.id,
            documents.c.kind,
            documents.c.filename,
            documents.c.sha256,
            documents.c.size_bytes,
            documents.c.uploaded_by,
            documents.c.uploaded_at,
        )
        .where(documents.c.contract_id == contract_id)
        .order_by(documents.c.uploaded_at, documents.c.id)
    )
    return [dict(r._mapping) for r in rows]


def count_rows(session: Session, table: Table, contract_id: str) -> int:
    return int(session.execute(select(func.count()).where(table.c.contract_id == contract_id)).scalar_one())
