"""Double-entry ledger rules (pure): accounts, transfers, two-phase transfers, balance limits.

Modelled on TigerBeetle: an account keeps four running sums (debits/credits, pending/posted) in integer
minor units of one asset; a transfer moves an amount from a debit account to a credit account of the same
asset, so postings per asset always sum to zero. Transfers are never changed or deleted: a mistake is
fixed by a correcting transfer, a reservation by posting or voiding its pending transfer exactly once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from enum import IntFlag, StrEnum
from typing import Any

from corridor.errors import Conflict, ValidationFailed
from corridor.registry.canonical import to_json_value

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
ASSET_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
MAX_AMOUNT = 2**62  # far above 21e14 sats or any fiat amount in minor units; keeps sums inside BIGINT
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""The settings of :func:`corridor.registry.canonical.canonical_json`, built once."""


class AccountFlags(IntFlag):
    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    """A credit-normal account (a client's balance) that must never go negative."""
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2
    """A debit-normal account (custody holdings) that must never go negative."""


class TransferKind(StrEnum):
    SINGLE = "single"
    PENDING = "pending"
    POST = "post"
    VOID = "void"


class PendingState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    asset: str
    code: str
    owner: str | None
    flags: AccountFlags
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def credit_balance(self) -> int:
        """Posted credits minus posted debits: what a credit-normal account holds."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """Credit balance less what pending debits have reserved."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def debit_balance(self) -> int:
        return self.debits_posted - self.credits_posted


@dataclass(frozen=True, slots=True)
class AccountSpec:
    id: str
    asset: str
    code: str
    owner: str | None = None
    flags: AccountFlags = AccountFlags.NONE

    def validate(self) -> None:
        validate_id(self.id, "account")
        if not ASSET_PATTERN.match(self.asset):
            raise ValidationFailed(
                "invalid_asset", f"asset {self.asset!r} must be 2-10 upper-case letters or digits"
            )
        if not self.code or len(self.code) > 64:
            raise ValidationFailed("invalid_account_code", "account code must be 1-64 characters")


@dataclass(frozen=True, slots=True)
class TransferRequest:
    id: str
    kind: TransferKind = TransferKind.SINGLE
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    amount: int | None = None
    """Minor units. For POST it may be less than the pending amount (default: all of it)."""
    asset: str | None = None
    pending_id: str | None = None
    timeout_seconds: int | None = None
    reference: str = ""
    corrects: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Hash of everything the caller asked for: a retry must present the same one.

        The canonical JSON of these fields. Only ``metadata`` can hold values that need converting; the
        other fields are already plain strings, integers or None, so encoding them directly gives the
        same bytes as :func:`canonical_json` in about half the time.
        """
        body = {
            "id": self.id,
            "kind": self.kind.value,
            "debit_account_id": self.debit_account_id,
            "credit_account_id": self.credit_account_id,
            "amount": self.amount,
            "asset": self.asset,
            "pending_id": self.pending_id,
            "timeout_seconds": self.timeout_seconds,
            "reference": self.reference,
            "corrects": self.corrects,
            "metadata": to_json_value(self.metadata),
        }
        return hashlib.sha256(_CANONICAL.encode(body).encode()).hexdigest()

    def validate(self) -> None:
        validate_id(self.id, "transfer")
        if self.kind in (TransferKind.SINGLE, TransferKind.PENDING):
            self._validate_movement()
        else:
            self._validate_resolution()
        if len(self.reference) > 200:
            raise ValidationFailed("invalid_reference", "reference is at most 200 characters")

    def _validate_movement(self) -> None:
        if not self.debit_account_id or not self.credit_account_id:
            raise ValidationFailed("accounts_required", "a transfer needs a debit and a credit account")
        if self.debit_account_id == self.credit_account_id:
            raise ValidationFailed("accounts_must_be_different", "debit and credit account are the same")
        if self.amount is None or self.amount <= 0 or self.amount > MAX_AMOUNT:
            raise ValidationFailed(
                "amount_must_be_positive", "amount must be a positive integer of minor units"
            )
        if self.pending_id is not None:
            raise ValidationFailed(
                "pending_id_not_allowed", f"a {self.kind} transfer does not take pending_id"
            )
        if self.timeout_seconds is not None and (
            self.kind is TransferKind.SINGLE or self.timeout_seconds <= 0
        ):
            raise ValidationFailed(
                "invalid_timeout", "timeout is a positive number of seconds on pending transfers"
            )

    def _validate_resolution(self) -> None:
        if not self.pending_id:
            raise ValidationFailed(
                "pending_id_required", f"a {self.kind} transfer names the pending transfer"
            )
        if self.amount is not None and (self.amount <= 0 or self.kind is TransferKind.VOID):
            raise ValidationFailed("invalid_amount", "a void takes no amount; a post takes a positive amount")
        if self.corrects is not None:
            raise ValidationFailed(
                "corrects_not_allowed", "only single transfers can correct another transfer"
            )


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    kind: TransferKind
    debit_account_id: str
    credit_account_id: str
    asset: str
    amount: int
    pending_id: str | None
    timeout_at: str | None
    state: PendingState | None
    """Only pending transfers have a state; it moves once from ``pending`` to posted/voided/expired."""
    reference: str
    corrects: str | None
    fingerprint: str
    created_at: str
    metadata: dict[str, Any]

    def registry_payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "debit_account_id": self.debit_account_id,
            "credit_account_id": self.credit_account_id,
            "asset": self.asset,
            "amount": self.amount,
            "pending_id": self.pending_id,
            "timeout_at": self.timeout_at,
            "reference": self.reference,
            "corrects": self.corrects,
        }


def validate_id(value: str, what: str) -> None:
    if not ID_PATTERN.match(value or ""):
        raise ValidationFailed(f"invalid_{what}_id", f"{what} id must be 1-64 of A-Z a-z 0-9 . _ : - ")


def ensure_same_content(existing_fingerprint: str, request: TransferRequest) -> None:
    if existing_fingerprint != request.fingerprint():
        raise Conflict("transfer_id_reused", f"transfer {request.id} exists with different content")


def apply_debit(account: Account, amount: int, pending: bool) -> Account:
    """The account after a debit of ``amount``, or an error if its flags forbid it."""
    if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
        if account.debits_pending + account.debits_posted + amount > account.credits_posted:
            raise Conflict(
                "exceeds_credits", f"account {account.id} would go below zero (available {account.available})"
            )
    if pending:
        return replace(account, debits_pending=account.debits_pending + amount)
    return replace(account, debits_posted=account.debits_posted + amount)


def apply_credit(account: Account, amount: int, pending: bool) -> Account:
    if account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
        if account.credits_pending + account.credits_posted + amount > account.debits_posted:
            raise Conflict("exceeds_debits", f"account {account.id} would go below zero")
    if pending:
        return replace(account, credits_pending=account.credits_pending + amount)
    return replace(account, credits_posted=account.credits_posted + amount)


def release_pending(debit: Account, credit: Account, pending_amount: int) -> tuple[Account, Account]:
    return (
        replace(debit, debits_pending=debit.debits_pending - pending_amount),
        replace(credit, credits_pending=credit.credits_pending - pending_amount),
    )


def post_pending(
    debit: Account, credit: Account, pending_amount: int, posted: int
) -> tuple[Account, Account]:
    """Release the whole reservation and post ``posted`` (at most the reserved amount)."""
    return (
        replace(
            debit,
            debits_pending=debit.debits_pending - pending_amount,
            debits_posted=debit.debits_posted + posted,
        ),
        replace(
            credit,
            credits_pending=credit.credits_pending - pending_amount,
            credits_posted=credit.credits_posted + posted,
        ),
    )


def check_resolvable(pending: Transfer, request: TransferRequest, now_text: str) -> int:
    """Return the amount a post/void moves, or raise if the pending transfer cannot be resolved."""
    if pending.kind is not TransferKind.PENDING or pending.state is None:
        raise Conflict("not_a_pending_transfer", f"transfer {pending.id} is not a pending transfer")
    if pending.state is not PendingState.PENDING:
        raise Conflict(
            f"pending_transfer_already_{pending.state.value}", f"transfer {pending.id} is {pending.state}"
        )
    if pending.timeout_at is not None and pending.timeout_at <= now_text:
        raise Conflict("pending_transfer_expired", f"transfer {pending.id} expired at {pending.timeout_at}")
    if request.asset is not None and request.asset != pending.asset:
        raise ValidationFailed("asset_mismatch", "the asset differs from the pending transfer's")
    amount = pending.amount if request.amount is None else request.amount
    if amount > pending.amount:
        raise ValidationFailed(
            "post_exceeds_pending", f"cannot post {amount}; only {pending.amount} is pending"
        )
    return amount
