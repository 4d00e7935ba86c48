"""The screening gate every flow calls before money or admission moves.

``screen_party`` and ``screen_address`` are the only way onboarding, contracts and payments ask whether a
party or an address may proceed. The outcome is ``clear``, ``hit`` (an unresolved match: refuse) or
``pending`` (not screened yet: refuse too, and say so). There is deliberately no setting that skips it.

Both call ``corridor.compliance.screening.service`` in the caller's session. While no sanctions list has
been loaded, every party is ``pending`` ("no sanctions list loaded"), which blocks approval: never a silent
pass. A candidate at or above the threshold, or an exact identifier/address match, is a ``hit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session

from corridor.compliance.screening import service
from corridor.compliance.screening.model import EntitySchema, IdScheme, PartyQuery
from corridor.compliance.screening.normalize import make_identifier
from corridor.compliance.screening.store import StoredScreening

NO_LIST_REASON = "no sanctions list loaded"


class GateStatus(StrEnum):
    CLEAR = "clear"
    HIT = "hit"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class PartyToScreen:
    subject: str
    """What the result is about, as the caller names it (e.g. ``participant:ID``, ``owner:ID``)."""
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


def _outcome(recorded: StoredScreening | None, what: str) -> GateOutcome:
    if recorded is None:
        return GateOutcome(GateStatus.PENDING, None, NO_LIST_REASON)
    if recorded.outcome == service.OUTCOME_HIT:
        top = recorded.candidates[0]
        return GateOutcome(
            GateStatus.HIT,
            recorded.id,
            f"{what} matches {top['caption']} ({top['entity_ref']}, score {top['score']})",
        )
    return GateOutcome(GateStatus.CLEAR, recorded.id, f"no match at or above threshold {recorded.threshold}")


def screen_party(session: Session, actor: str, party: PartyToScreen) -> GateOutcome:
    """Screen ``party`` inside the caller's transaction and record the decision."""
    recorded = service.screen_party_in(session, actor, party.subject, _party_query(party))
    return _outcome(recorded, "party")


def screen_address(session: Session, actor: str, address: str, asset: str = "BTC") -> GateOutcome:
    """Screen a wallet address (exact match on the normalised address) and record the decision."""
    recorded = service.screen_address_in(session, actor, f"address:{address}", address, asset)
    return _outcome(recorded, "address")
