"""The screening gate every flow calls before money or admission moves.

``screen_party`` and ``screen_address`` are the only way onboarding, contracts and payments ask whether a
party or an address may proceed. The outcome is ``clear``, ``hit`` (an unresolved match: refuse) or
``pending`` (not screened yet: refuse too, and say so). There is deliberately no setting that skips it.

Both call ``corridor.compliance.screening.service`` in the caller's session. Every subject the gate
screens is remembered with its query, so a new list version re-screens it (``review.rescreen_all``) and
raises an alert for each new hit. The answer is the subject's *standing*: a match an officer has decided
to be a false positive no longer counts (for as long as neither the subject's data nor the listed record
changes); a confirmed match, an unresolved match or an open alert is a ``hit``. While no sanctions list has
been loaded, every party is ``pending`` ("no sanctions list loaded"), which blocks approval: never a
silent pass.

Areas that keep their own copy of a screening result (identity, contracts) ask :func:`reconcile` where the
screening area has since learned something their copy cannot show: an alert raised by re-screening, a
confirmed match, or a false-positive decision that clears a hit they recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session

from corridor.compliance.screening import service, store
from corridor.compliance.screening.model import EntitySchema, IdScheme, PartyQuery, Standing, canonical_sha256
from corridor.compliance.screening.normalize import make_identifier
from corridor.db.batch_reads import remembered


class GateStatus(StrEnum):
    CLEAR = "clear"
    HIT = "hit"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class PartyToScreen:
    subject: str
    """What the result is about, as the caller names it (e.g. ``participant:ID``, ``person:ID``)."""
    name: str
    schema: str = "Company"
    """FollowTheMoney schema: ``Company``, ``Organization``, ``LegalEntity`` or ``Person``."""
    country: str | None = None
    identifiers: dict[str, str] = field(default_factory=dict)
    """Typed identifiers: ``inn``, ``ogrn``, ``lei``, ``bic``, ``passport``, …"""
    birth_date: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GateOutcome:
    status: GateStatus
    screening_id: str | None
    reason: str

    @property
    def may_proceed(self) -> bool:
        return self.status is GateStatus.CLEAR


@dataclass(frozen=True, slots=True)
class Recorded:
    """A caller's own copy of a subject's screening result."""

    status: str
    """``clear``, ``hit`` or ``pending``."""
    manual: bool = False
    """An officer's manual clearance in the caller's area (it outranks a plain hit, not an alert)."""


def _party_query(party: PartyToScreen) -> PartyQuery:
    identifiers = []
    for key, value in party.identifiers.items():
        try:
            scheme = IdScheme(key.lower())
        except ValueError:
            scheme = IdScheme.OTHER
        made = make_identifier(scheme, value, country=party.country)
        if made is not None:
            identifiers.append(made)
    try:
        schema = EntitySchema(party.schema)
    except ValueError:
        schema = EntitySchema.LEGAL_ENTITY
    return PartyQuery(
        name=party.name,
        schema=schema,
        aliases=tuple(party.aliases),
        identifiers=tuple(identifiers),
        countries=(party.country.lower(),) if party.country else (),
        birth_date=party.birth_date,
    )


def _outcome(result: service.SubjectOutcome, what: str) -> GateOutcome:
    screening_id = result.screening.id if result.screening is not None else None
    status = GateStatus(result.standing.status.value)
    return GateOutcome(status, screening_id, _reason(status, result.standing.reason, what))


def _reason(status: GateStatus, reason: str, what: str) -> str:
    """A hit's reason names what matched: "address matches ..." rather than "matches ..."."""
    return f"{what} {reason}" if status is GateStatus.HIT and reason.startswith("matches ") else reason


def screen_party(session: Session, actor: str, party: PartyToScreen) -> GateOutcome:
    """Screen ``party`` inside the caller's transaction, record it, and answer the subject's standing."""
    result = service.screen_subject_party_in(session, actor, party.subject, _party_query(party))
    return _outcome(result, "party")


def screen_address(session: Session, actor: str, address: str, asset: str = "BTC") -> GateOutcome:
    """Screen a wallet address (exact match on the normalised address) and record the decision; an address
    already screened against the lists that are current now keeps that screening (see below). The items of
    a batch (orders to one supplier, outputs of one payout batch) share one answer per address."""
    return remembered(
        session, ("gate.address", address, asset), lambda: _screen_address(session, actor, address, asset)
    )


def _screen_address(session: Session, actor: str, address: str, asset: str) -> GateOutcome:
    subject = address_subject(address)
    kept = _standing_since_last_screening(session, subject, {"address": address, "asset": asset})
    if kept is not None:
        return kept
    result = service.screen_subject_address_in(session, actor, subject, address, asset)
    return _outcome(result, "address")


def _standing_since_last_screening(
    session: Session, subject: str, query: dict[str, object]
) -> GateOutcome | None:
    """The address's standing, if its last screening asked the same query of exactly the list versions that
    are current now; else None (screen again).

    An address lookup is an exact match on list content, so asking again would find the same records; what
    can change without a new list version (decisions, alerts) is already in the stored standing. A supplier
    paid a hundred times is screened once per list version, not a hundred times: that was most of the cost
    of a payment order and of each output the batcher adds. A new list version re-screens every subject
    anyway (``review.rescreen_all``)."""
    row = store.get_subject(session, subject)
    if row is None or row.kind != "address" or row.last_screening_id is None:
        return None
    if row.query_sha256 != canonical_sha256(query):
        return None
    last = store.get_screening(session, row.last_screening_id)
    current = sorted(v.id for v in store.current_versions(session))
    if last is None or not current or sorted(last.list_version_ids) != current:
        return None
    status = GateStatus(row.status)
    return GateOutcome(status, row.last_screening_id, _reason(status, row.reason, "address"))


def address_subject(address: str) -> str:
    """The subject under which :func:`screen_address` tracks an address."""
    return f"address:{address}"


def reconcile(session: Session, recorded: Mapping[str, Recorded]) -> dict[str, GateOutcome]:
    """The subjects whose standing now differs from the caller's recorded result, with the new answer.

    - an open alert or a confirmed match is a ``hit`` whatever the caller recorded (even a manual
      clearance: it is news the clearance could not have weighed);
    - an unresolved hit the caller has not recorded is a ``hit`` unless an officer cleared it manually;
    - a caller's ``hit`` or ``pending`` is ``clear`` once the screening area stands clear (a false
      positive decided, the record delisted, or a first screening that found nothing).
    Subjects the gate never screened, or that are still pending, are left as recorded.
    """
    changed: dict[str, GateOutcome] = {}
    for subject, row in service.standings_in(session, list(recorded)).items():
        mine = recorded[subject]
        standing = Standing(row.status)
        if standing is Standing.HIT and mine.status != GateStatus.HIT.value:
            if row.escalated or not mine.manual:
                changed[subject] = GateOutcome(GateStatus.HIT, row.last_screening_id, row.reason)
        elif standing is Standing.CLEAR and mine.status != GateStatus.CLEAR.value:
            changed[subject] = GateOutcome(GateStatus.CLEAR, row.last_screening_id, row.reason)
    return changed
