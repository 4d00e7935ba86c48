"""Contract use cases: registration with the threshold check, amendments, UNK, counterparty screening,
payments and shipments against the contract, supporting documents and the bank-control statement.

``get_contract_for_settlement`` and ``record_contract_payment_in`` run inside a payment flow's transaction:
the flow checks purpose binding and records the settled payment in the same commit that moves money.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.compliance.gate import (
    GateOutcome,
    PartyToScreen,
    Recorded,
    address_subject,
    reconcile,
    screen_address,
    screen_party,
)
from corridor.contracts import store
from corridor.contracts.model import (
    ContractIn,
    ContractStatus,
    Direction,
    RegistrationAssessment,
    Statement,
    SuppliedRate,
    assess_registration,
    build_statement,
    check_counterparty,
    check_terms,
    check_txid,
    check_unk,
    check_vo_code,
    direction_of,
)
from corridor.contracts.store import Contract
from corridor.db import Database
from corridor.db.batch_reads import remembered
from corridor.errors import Conflict, NotFound, PolicyRefused, ValidationFailed
from corridor.identity import service as identity
from corridor.identity.model import (
    RESIDENT_COUNTRY,
    DocumentIn,
    ParticipantRole,
    Residency,
    ScreeningStatus,
    check_document,
    require_reason,
)
from corridor.profiles.loader import load_configured_profile
from corridor.profiles.model import JurisdictionProfile
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now


@lru_cache(maxsize=1)
def _profile() -> JurisdictionProfile:
    return load_configured_profile()


def _now() -> str:
    return format_time(utc_now())


def _today() -> date:
    return utc_now().date()


def _subject(contract_id: str) -> str:
    return f"contract:{contract_id}"


@dataclass(frozen=True)
class ContractView:
    contract: Contract
    screening: dict[str, dict[str, Any]]
    amendments: list[dict[str, Any]]
    documents: list[dict[str, Any]]


@dataclass(frozen=True)
class AmendmentIn:
    amendment_date: date
    amount_minor: int | None = None
    performance_deadline: date | None = None
    rate: SuppliedRate | None = None


@dataclass(frozen=True)
class PaymentIn:
    id: str
    direction: Direction
    paid_on: date
    amount_minor: int
    amount_rub_minor: int
    vo_code: str
    txid: str | None = None
    reference: str = ""


@dataclass(frozen=True)
class ShipmentIn:
    id: str
    shipped_on: date
    amount_minor: int
    reference: str


def _load(session: Session, contract_id: str, *, lock: bool = False) -> Contract:
    contract = store.get_contract(session, contract_id, lock=lock)
    if contract is None:
        raise NotFound("contract_not_found", f"no contract {contract_id}")
    return contract


def _load_authorized(
    session: Session, principal: Principal, contract_id: str, action: str, *, lock: bool = False
) -> Contract:
    contract = store.get_contract(session, contract_id, lock=lock)
    if contract is None:
        authorize(principal, action)
        raise NotFound("contract_not_found", f"no contract {contract_id}")
    authorize(principal, action, contract.participant_id)
    return contract


def _view(session: Session, contract_id: str) -> ContractView:
    return ContractView(
        _load(session, contract_id),
        _screenings_now(session, contract_id),
        store.amendments_of(session, contract_id),
        store.documents_of(session, contract_id),
    )


def _assessment_columns(assessment: RegistrationAssessment) -> dict[str, Any]:
    return {
        "registration_required": assessment.required,
        "registration_assessed_on": assessment.on,
        "amount_rub": format(assessment.amount_rub, "f"),
        "threshold_rub": format(assessment.threshold_rub, "f"),
        "threshold_kind": assessment.threshold_kind,
        "rate": format(assessment.rate, "f"),
        "rate_source": assessment.rate_source,
        "documents_required": assessment.documents_required,
    }


def _assessment_payload(assessment: RegistrationAssessment) -> dict[str, Any]:
    return {
        "required": assessment.required,
        "on": assessment.on,
        "amount_rub": assessment.amount_rub,
        "threshold_rub": assessment.threshold_rub,
        "threshold_kind": assessment.threshold_kind,
        "rate": assessment.rate,
        "rate_source": assessment.rate_source,
    }


# --- registration ------------------------------------------------------------------------------------


def _ensure_client_may_contract(session: Session, contract: ContractIn, direction: Direction) -> Any:
    participant = identity.participant_in(session, contract.participant_id)
    if participant.residency is not Residency.RESIDENT:
        raise PolicyRefused("participant_not_resident", "the contract's client must be the resident party")
    identity.ensure_admitted(session, contract.participant_id, _today())
    needed = ParticipantRole.EXPORTER if direction is Direction.INCOMING else ParticipantRole.IMPORTER
    if needed not in participant.roles:
        raise PolicyRefused("participant_role_mismatch", f"the participant is not admitted as an {needed}")
    return participant


def register_contract(db: Database, principal: Principal, contract: ContractIn) -> ContractView:
    """Register a contract of an admitted resident client with a non-resident counterparty."""
    authorize(principal, "contracts.contract.create", contract.participant_id)
    direction = direction_of(contract.contract_type, contract.direction)
    check_terms(contract)
    values = _profile().on(contract.contract_date)
    counterparty = check_counterparty(contract.counterparty, values)
    assessment = assess_registration(
        contract.contract_type,
        direction,
        contract.amount_minor,
        contract.currency,
        contract.contract_date,
        contract.rate,
        values,
    )
    contract_id = uuid.uuid4().hex
    with db.transaction() as session:
        participant = _ensure_client_may_contract(session, contract, direction)
        unk = None
        if contract.unk is not None:
            unk = check_unk(
                contract.unk,
                contract.contract_type,
                direction,
                participant.kind,
                contract.contract_date,
                contract.unk_registered_on,
            ).value
            _ensure_unk_free(session, unk, contract_id)
        now = _now()
        store.insert_contract(
            session,
            {
                "id": contract_id,
                "participant_id": contract.participant_id,
                "number": contract.number.strip(),
                "contract_type": contract.contract_type.value,
                "direction": direction.value,
                "status": ContractStatus.ACTIVE.value,
                "contract_date": contract.contract_date,
                "currency": contract.currency,
                "amount_minor": contract.amount_minor,
                "performance_deadline": contract.performance_deadline,
                "goods_codes": json.dumps(list(contract.goods_codes)),
                "incoterms": contract.incoterms,
                **store.counterparty_columns(counterparty),
                **_assessment_columns(assessment),
                "unk": unk,
                "unk_registered_on": contract.unk_registered_on if unk else None,
                "created_by": principal.actor,
                "created_at": now,
                "updated_at": now,
            },
        )
        registry.append(
            session,
            principal.actor,
            "contracts.contract_registered",
            _subject(contract_id),
            {
                "id": contract_id,
                "participant_id": contract.participant_id,
                "number": contract.number.strip(),
                "type": contract.contract_type.value,
                "direction": direction.value,
                "contract_date": contract.contract_date,
                "currency": contract.currency,
                "amount_minor": contract.amount_minor,
                "performance_deadline": contract.performance_deadline,
                "counterparty": {
                    "name": counterparty.name,
                    "country": counterparty.country,
                    "lei": counterparty.lei,
                },
                "registration": _assessment_payload(assessment),
                "unk": unk,
            },
        )
        _screen_counterparty_in(session, principal.actor, _load(session, contract_id))
        return _view(session, contract_id)


def _ensure_unk_free(session: Session, unk: str, contract_id: str) -> None:
    if store.unk_taken(session, unk, contract_id):
        raise Conflict("unk_taken", f"UNK {unk} belongs to another contract")


# --- counterparty screening --------------------------------------------------------------------------


def _parties(contract: Contract) -> list[tuple[str, str, PartyToScreen | None]]:
    cp = contract.counterparty
    ids = {k: v for k, v in (("lei", cp.lei), ("bic", cp.bic), ("registration", cp.registration_number)) if v}
    parties: list[tuple[str, str, PartyToScreen | None]] = [
        (
            "counterparty",
            cp.name,
            PartyToScreen(f"{_subject(contract.id)}:counterparty", cp.name, "Company", cp.country, ids),
        )
    ]
    if cp.vasp_name:
        vasp_ids = {"lei": cp.vasp_lei} if cp.vasp_lei else {}
        parties.append(
            (
                "vasp",
                cp.vasp_name,
                PartyToScreen(f"{_subject(contract.id)}:vasp", cp.vasp_name, "Company", None, vasp_ids),
            )
        )
    if cp.wallet_address:
        parties.append(("wallet", cp.wallet_address, None))
    return parties


def _screen_counterparty_in(session: Session, actor: str, contract: Contract) -> None:
    """Screen the counterparty, its VASP and its wallet; parties already clear are not asked again."""
    latest = store.latest_screenings(session, contract.id)
    results = {}
    for subject, name, party in _parties(contract):
        if latest.get(subject, {}).get("status") == ScreeningStatus.CLEAR.value:
            continue
        outcome: GateOutcome = (
            screen_party(session, actor, party) if party is not None else screen_address(session, actor, name)
        )
        _record_screening(
            session, contract.id, subject, name, outcome.status.value, "gate", outcome.reason, actor
        )
        results[subject] = outcome.status.value
    if results:
        registry.append(
            session, actor, "contracts.counterparty_screened", _subject(contract.id), {"results": results}
        )


def _record_screening(
    session: Session,
    contract_id: str,
    subject: str,
    name: str,
    status: str,
    source: str,
    reason: str,
    actor: str,
) -> None:
    store.insert_screening(
        session,
        {
            "contract_id": contract_id,
            "subject": subject,
            "party_name": name,
            "status": status,
            "source": source,
            "reason": reason,
            "actor": actor,
            "created_at": _now(),
        },
    )


def rescreen_counterparty(db: Database, principal: Principal, contract_id: str) -> ContractView:
    with db.transaction() as session:
        contract = _load_authorized(session, principal, contract_id, "contracts.contract.amend", lock=True)
        _screen_counterparty_in(session, principal.actor, contract)
        return _view(session, contract_id)


def clear_counterparty(
    db: Database, principal: Principal, contract_id: str, subject: str, reason: str
) -> ContractView:
    """A named compliance officer's manual clearance of the counterparty, VASP or wallet, with a reason."""
    authorize(principal, "contracts.counterparty.clear")
    why = require_reason(reason)
    with db.transaction() as session:
        _load(session, contract_id, lock=True)
        current = store.latest_screenings(session, contract_id).get(subject)
        if current is None:
            raise NotFound("party_not_found", f"{subject} is not screened for this contract")
        if current["status"] == ScreeningStatus.CLEAR.value:
            raise Conflict("already_clear", f"{subject} is already clear")
        _record_screening(
            session,
            contract_id,
            subject,
            current["party_name"],
            "clear",
            "manual_clearance",
            why,
            principal.actor,
        )
        registry.append(
            session,
            principal.actor,
            "contracts.counterparty_cleared_manually",
            _subject(contract_id),
            {
                "party": subject,
                "previous_status": current["status"],
                "officer": principal.actor,
                "officer_name": principal.name,
                "reason": why,
            },
        )
        return _view(session, contract_id)


# --- amendments and UNK ------------------------------------------------------------------------------


def amend_contract(
    db: Database, principal: Principal, contract_id: str, amendment: AmendmentIn
) -> ContractView:
    """Change the amount or the performance deadline; a new amount is re-assessed at the amendment date."""
    if amendment.amount_minor is None and amendment.performance_deadline is None:
        raise ValidationFailed(
            "amendment.empty", "an amendment changes the amount or the performance deadline"
        )
    with db.transaction() as session:
        contract = _load_authorized(session, principal, contract_id, "contracts.contract.amend", lock=True)
        _ensure_active(contract)
        if amendment.amendment_date < contract.contract_date:
            raise ValidationFailed("amendment.date", "an amendment cannot predate the contract")
        changes: dict[str, Any] = {}
        values: dict[str, Any] = {"updated_at": _now()}
        if amendment.performance_deadline is not None:
            if amendment.performance_deadline < contract.contract_date:
                raise ValidationFailed(
                    "performance_deadline.before_contract", "deadline before the contract date"
                )
            changes["performance_deadline"] = amendment.performance_deadline
            values["performance_deadline"] = amendment.performance_deadline
        if amendment.amount_minor is not None:
            if amendment.amount_minor <= 0:
                raise ValidationFailed("amount.invalid", "the contract amount must be positive")
            assessment = assess_registration(
                contract.contract_type,
                contract.direction,
                amendment.amount_minor,
                contract.currency,
                amendment.amendment_date,
                amendment.rate,
                _profile().on(amendment.amendment_date),
            )
            changes["amount_minor"] = amendment.amount_minor
            changes["registration"] = _assessment_payload(assessment)
            values.update({"amount_minor": amendment.amount_minor, **_assessment_columns(assessment)})
        store.update_contract(session, contract_id, values)
        store.insert_amendment(
            session,
            {
                "id": uuid.uuid4().hex,
                "contract_id": contract_id,
                "amendment_date": amendment.amendment_date,
                "changes": json.dumps({k: _jsonable(v) for k, v in changes.items()}),
                "recorded_by": principal.actor,
                "created_at": _now(),
            },
        )
        registry.append(
            session,
            principal.actor,
            "contracts.contract_amended",
            _subject(contract_id),
            {"amendment_date": amendment.amendment_date, "changes": changes},
        )
        return _view(session, contract_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


def register_unk(
    db: Database, principal: Principal, contract_id: str, unk: str, registered_on: date
) -> ContractView:
    """Store the bank's unique contract number after checking it against the contract."""
    with db.transaction() as session:
        contract = _load_authorized(session, principal, contract_id, "contracts.contract.amend", lock=True)
        _ensure_active(contract)
        if contract.unk is not None:
            raise Conflict("unk_already_set", f"the contract is registered under {contract.unk}")
        participant = identity.participant_in(session, contract.participant_id)
        checked = check_unk(
            unk,
            contract.contract_type,
            contract.direction,
            participant.kind,
            contract.contract_date,
            registered_on,
        )
        _ensure_unk_free(session, checked.value, contract_id)
        store.update_contract(
            session,
            contract_id,
            {"unk": checked.value, "unk_registered_on": registered_on, "updated_at": _now()},
        )
        registry.append(
            session,
            principal.actor,
            "contracts.unk_registered",
            _subject(contract_id),
            {"unk": checked.value, "registered_on": registered_on, "bank": checked.bank_registration_number},
        )
        return _view(session, contract_id)


def close_contract(db: Database, principal: Principal, contract_id: str, reason: str) -> ContractView:
    why = require_reason(reason)
    with db.transaction() as session:
        contract = _load_authorized(session, principal, contract_id, "contracts.contract.close", lock=True)
        _ensure_active(contract)
        store.update_contract(
            session, contract_id, {"status": ContractStatus.CLOSED.value, "updated_at": _now()}
        )
        registry.append(
            session, principal.actor, "contracts.contract_closed", _subject(contract_id), {"reason": why}
        )
        return _view(session, contract_id)


def _ensure_active(contract: Contract) -> None:
    if contract.status is not ContractStatus.ACTIVE:
        raise PolicyRefused("contract_closed", f"contract {contract.id} is closed")


# --- settlement preconditions ------------------------------------------------------------------------


def get_contract_for_settlement(
    session: Session, contract_id: str, direction: Direction, on: date | None = None
) -> Contract:
    """The contract, if money may move under it in ``direction`` on ``on`` (default today): active, one
    resident and one non-resident party, registered when required (before ``on``), counterparty screened
    clear, client admitted. Otherwise a PolicyRefused naming the rule."""
    day = on or _today()
    contract = _load(session, contract_id)
    _ensure_active(contract)
    if contract.direction is not direction:
        raise PolicyRefused(
            "contract_direction_mismatch", f"the contract is {contract.direction}, not {direction}"
        )
    profile = _profile().on(day)
    if contract.counterparty.country == RESIDENT_COUNTRY and not profile.domestic_settlement_allowed:
        raise PolicyRefused("resident_counterparty", "resident-to-resident settlement is refused")
    if day < contract.contract_date:
        raise PolicyRefused("settlement_before_contract", "the settlement predates the contract")
    if contract.registration_required and (contract.unk is None or contract.unk_registered_on is None):
        raise PolicyRefused(
            "contract_not_registered", "the contract must be registered with the bank (UNK) first"
        )
    if contract.unk_registered_on is not None and day < contract.unk_registered_on:
        raise PolicyRefused("settlement_before_registration", "the settlement predates the registration")
    _ensure_counterparty_clear(session, contract_id)
    identity.ensure_admitted(session, contract.participant_id, day)
    return contract


def _screenings_now(session: Session, contract_id: str) -> dict[str, dict[str, Any]]:
    """The latest result per party, with what screening has learned since it was recorded: an alert raised
    by re-screening against a new list version, a confirmed match, or a false-positive decision."""
    latest = store.latest_screenings(session, contract_id)
    local = {
        address_subject(row["party_name"]) if name == "wallet" else f"{_subject(contract_id)}:{name}": name
        for name, row in latest.items()
    }
    recorded = {
        gate_subject: Recorded(latest[name]["status"], latest[name]["source"] == "manual_clearance")
        for gate_subject, name in local.items()
    }
    for gate_subject, outcome in reconcile(session, recorded).items():
        name = local[gate_subject]
        latest[name] = {
            **latest[name],
            "status": outcome.status.value,
            "source": "gate",
            "reason": outcome.reason,
        }
    return latest


def _ensure_counterparty_clear(session: Session, contract_id: str) -> None:
    latest = _screenings_now(session, contract_id)
    hits = sorted(s for s, row in latest.items() if row["status"] == ScreeningStatus.HIT.value)
    if hits:
        raise PolicyRefused("counterparty_screening_hit", "unresolved screening hits", parties=hits)
    pending = sorted(s for s, row in latest.items() if row["status"] != ScreeningStatus.CLEAR.value)
    if pending or not latest:
        raise PolicyRefused(
            "counterparty_screening_pending", "the counterparty is not screened clear", parties=pending
        )


def record_contract_payment_in(
    session: Session, actor: str, contract_id: str, payment: PaymentIn
) -> dict[str, Any]:
    """Record a settled payment under the contract in the caller's transaction: purpose binding and the
    client's limits are checked, the limit is used up, and a supporting-documents deadline is set.
    Idempotent by payment id (same content: the stored payment; other content: 409)."""
    return _record_payment_in(session, actor, contract_id, payment, accepted_earlier=False)


def record_settled_payment_in(
    session: Session, actor: str, contract_id: str, payment: PaymentIn
) -> dict[str, Any]:
    """Record a payment that Corridor's own settlement accepted earlier, under the settlement checks of that
    moment, and whose money has now moved: the record must be written even if the contract was closed or a
    party re-screened since (the chain will not take the payment back). Limits were taken at acceptance
    under the same usage id, so they are not counted twice."""
    return _record_payment_in(session, actor, contract_id, payment, accepted_earlier=True)


def _record_payment_in(
    session: Session, actor: str, contract_id: str, payment: PaymentIn, accepted_earlier: bool
) -> dict[str, Any]:
    existing = store.get_payment(session, payment.id)
    if existing is not None:
        if (existing["contract_id"], existing["amount_minor"], existing["paid_on"]) != (
            contract_id,
            payment.amount_minor,
            payment.paid_on,
        ):
            raise Conflict("payment_id_reused", f"payment {payment.id} exists with different content")
        return existing
    if payment.amount_minor <= 0 or payment.amount_rub_minor <= 0:
        raise ValidationFailed("amount.invalid", "payment amounts must be positive")
    vo_code = check_vo_code(payment.vo_code)
    txid = check_txid(payment.txid)
    if accepted_earlier:  # the worker records a batch's payments under a few contracts
        contract = remembered(
            session, ("contracts.contract", contract_id), lambda: _load(session, contract_id)
        )
    else:
        contract = get_contract_for_settlement(session, contract_id, payment.direction, payment.paid_on)
    if contract.currency == "RUB" and payment.amount_rub_minor != payment.amount_minor:
        raise ValidationFailed("amount_rub.mismatch", "a RUB payment's ruble amount is its amount")
    identity.consume_limit_in(
        session,
        actor,
        contract.participant_id,
        payment.amount_rub_minor,
        payment.paid_on,
        usage_id=f"contract_payment:{payment.id}",
        reference=f"contract {contract_id} payment {payment.id}",
    )
    values = {
        "id": payment.id,
        "contract_id": contract_id,
        "direction": payment.direction.value,
        "paid_on": payment.paid_on,
        "amount_minor": payment.amount_minor,
        "amount_rub_minor": payment.amount_rub_minor,
        "vo_code": vo_code,
        "txid": txid,
        "reference": payment.reference[:200],
        "recorded_by": actor,
        "created_at": _now(),
    }
    store.insert_payment(session, values)
    due_on = None
    if contract.documents_required:
        due_on = _profile().documents_deadline(payment.paid_on)
        store.insert_obligation(
            session,
            {"id": uuid.uuid4().hex, "contract_id": contract_id, "payment_id": payment.id, "due_on": due_on},
        )
    registry.append(
        session,
        actor,
        "contracts.payment_recorded",
        _subject(contract_id),
        {
            **{k: v for k, v in values.items() if k not in ("created_at", "recorded_by")},
            "documents_due_on": due_on,
        },
    )
    return values


def record_payment(
    db: Database, principal: Principal, contract_id: str, payment: PaymentIn
) -> dict[str, Any]:
    with db.transaction() as session:
        _load_authorized(session, principal, contract_id, "contracts.payment.record")
        return record_contract_payment_in(session, principal.actor, contract_id, payment)


def record_shipment(
    db: Database, principal: Principal, contract_id: str, shipment: ShipmentIn
) -> dict[str, Any]:
    """Goods delivered or services rendered under the contract (from the customs declaration or act)."""
    if shipment.amount_minor <= 0:
        raise ValidationFailed("amount.invalid", "the shipment amount must be positive")
    with db.transaction() as session:
        contract = _load_authorized(session, principal, contract_id, "contracts.shipment.record", lock=True)
        _ensure_active(contract)
        existing = store.get_shipment(session, shipment.id)
        if existing is not None:
            if existing["contract_id"] != contract_id or existing["amount_minor"] != shipment.amount_minor:
                raise Conflict("shipment_id_reused", f"shipment {shipment.id} exists with different content")
            return existing
        if shipment.shipped_on < contract.contract_date:
            raise ValidationFailed("shipment.date", "a shipment cannot predate the contract")
        values = {
            "id": shipment.id,
            "contract_id": contract_id,
            "shipped_on": shipment.shipped_on,
            "amount_minor": shipment.amount_minor,
            "reference": shipment.reference[:200],
            "recorded_by": principal.actor,
            "created_at": _now(),
        }
        store.insert_shipment(session, values)
        registry.append(
            session,
            principal.actor,
            "contracts.shipment_recorded",
            _subject(contract_id),
            {k: v for k, v in values.items() if k not in ("created_at", "recorded_by")},
        )
        return values


# --- documents and statement -------------------------------------------------------------------------


def add_document(
    db: Database,
    principal: Principal,
    contract_id: str,
    document: DocumentIn,
    obligation_id: str | None = None,
) -> dict[str, Any]:
    """Attach a supporting document (SHA-256 computed here); naming an obligation fulfils it."""
    checked = check_document(document)
    document_id = uuid.uuid4().hex
    with db.transaction() as session:
        _load_authorized(session, principal, contract_id, "contracts.document.add", lock=True)
        store.insert_document(
            session,
            {
                "id": document_id,
                "contract_id": contract_id,
                "kind": checked.kind,
                "filename": checked.filename,
                "sha256": checked.sha256,
                "size_bytes": checked.size,
                "content": checked.content,
                "uploaded_by": principal.actor,
                "uploaded_at": _now(),
            },
        )
        if obligation_id is not None and not store.fulfil_obligation(
            session, obligation_id, contract_id, document_id
        ):
            raise NotFound(
                "obligation_not_found", f"no open document obligation {obligation_id} on this contract"
            )
        registry.append(
            session,
            principal.actor,
            "contracts.document_added",
            _subject(contract_id),
            {
                "id": document_id,
                "kind": checked.kind,
                "sha256": checked.sha256,
                "obligation_id": obligation_id,
            },
        )
    return {"id": document_id, "kind": checked.kind, "filename": checked.filename, "sha256": checked.sha256}


def statement(db: Database, principal: Principal, contract_id: str, as_of: date | None = None) -> Statement:
    """Payments against shipments, what is outstanding, repatriation status, document deadlines."""
    with db.transaction() as session:
        contract = _load_authorized(session, principal, contract_id, "contracts.contract.read")
        obligations = store.obligations_of(session, contract_id)
        result = build_statement(
            contract_id,
            as_of or _today(),
            contract.currency,
            contract.amount_minor,
            contract.direction,
            contract.performance_deadline,
            store.paid_amounts(session, contract_id),
            store.shipped_amounts(session, contract_id),
            obligations,
        )
    return result


# --- reads -------------------------------------------------------------------------------------------


def get_contract(db: Database, principal: Principal, contract_id: str) -> ContractView:
    with db.transaction() as session:
        _load_authorized(session, principal, contract_id, "contracts.contract.read")
        return _view(session, contract_id)


def list_contracts(
    db: Database, principal: Principal, participant_id: str | None = None, limit: int = 100
) -> list[Contract]:
    """A client sees its own participant's contracts only; others may filter by participant."""
    scope = principal.participant_id if principal.participant_id is not None else participant_id
    authorize(principal, "contracts.contract.read", scope)
    with db.transaction() as session:
        return store.list_contracts(session, scope, max(1, min(limit, 1000)))


def contract_summary_in(session: Session, contract_id: str) -> dict[str, Any]:
    """What a settlement's currency-control record and statement cite about the contract."""
    contract = _load(session, contract_id)
    return {
        "id": contract.id,
        "participant_id": contract.participant_id,
        "number": contract.number,
        "contract_date": contract.contract_date.isoformat(),
        "contract_type": contract.contract_type.value,
        "currency": contract.currency,
        "unk": contract.unk,
        "counterparty_name": contract.counterparty.name,
        "counterparty_country": contract.counterparty.country,
    }
