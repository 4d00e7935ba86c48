"""The screening gate every flow calls before money or admission moves.

``screen_party`` and ``screen_address`` are the only way onboarding, contracts and payments ask whether a
party or an address may proceed. The outcome is ``clear``, ``hit`` (an unresolved match: refuse) or
``pending`` (not screened yet: refuse too, and say so). There is deliberately no setting that skips it.

Until the screening service is wired in (``corridor.compliance.screening.service``), every party is
``pending``, which blocks approval: never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session


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


def screen_party(session: Session, actor: str, party: PartyToScreen) -> GateOutcome:
    """Screen ``party`` inside the caller's transaction and record the decision."""
    return GateOutcome(
        GateStatus.PENDING, None, "awaiting screening: the screening service is not wired in yet"
    )


def screen_address(session: Session, actor: str, address: str, asset: str = "BTC") -> GateOutcome:
    """Screen a wallet address (exact match on the normalised address) and record the decision."""
    return GateOutcome(
        GateStatus.PENDING, None, "awaiting screening: the screening service is not wired in yet"
    )
