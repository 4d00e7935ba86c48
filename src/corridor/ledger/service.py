"""Ledger use cases. Each transfer and its registry entry commit in one transaction.

``*_in`` functions run inside a caller's transaction (a settlement service reserving funds together with
its own state change); the others open their own and check the principal's permission first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.db import Database
from corridor.db.batch_reads import remembered, update_remembered
from corridor.db.transaction_state import transaction_state
from corridor.errors import Conflict, CorridorError, NotFound, ValidationFailed
from corridor.ledger import store
from corridor.ledger.model import (
    Account,
    AccountSpec,
    PendingState,
    Transfer,
    TransferKind,
    TransferRequest,
    apply_credit,
    apply_debit,
    check_resolvable,
    ensure_same_content,
    post_pending,
    release_pending,
)
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import NewEntry, utc_now
from corridor.settings import get_settings

Clock = Callable[[], datetime]


# --- accounts ---------------------------------------------------------------------------------------


def open_account_in(session: Session, actor: str, spec: AccountSpec, clock: Clock = utc_now) -> Account:
    """Create the account, or return it if one with the same id and content exists (idempotent).

    Inside :func:`~corridor.db.batch_reads.batch_reads` the account is looked up once per batch, so its
    balances are those of the first lookup: read balances with :func:`get_account`."""
    spec.validate()
    key = ("ledger.account", spec.id)
    existing = remembered(session, key, lambda: store.get_account(session, spec.id))
    if existing is not None:
        if (existing.asset, existing.code, existing.owner, existing.flags) != (
            spec.asset,
            spec.code,
            spec.owner,
            spec.flags,
        ):
            raise Conflict("account_id_reused", f"account {spec.id} exists with different content")
        return existing
    account = Account(spec.id, spec.asset, spec.code, spec.owner, spec.flags)
    store.insert_account(session, account, format_time(clock()))
    update_remembered(session, key, account)
    registry.append(
        session,
        actor,
        "ledger.account_opened",
        f"account:{spec.id}",
        {
            "id": spec.id,
            "asset": spec.asset,
            "code": spec.code,
            "owner": spec.owner,
            "flags": int(spec.flags),
        },
        clock,
    )
    return account


def open_account(db: Database, principal: Principal, spec: AccountSpec) -> Account:
    authorize(principal, "ledger.account.create")
    with db.transaction() as session:
        return open_account_in(session, principal.actor, spec)


def get_account_in(session: Session, account_id: str) -> Account | None:
    """The account as the caller's transaction sees it (for other areas' services; no permission check)."""
    return store.get_account(session, account_id)


def get_account(db: Database, principal: Principal, account_id: str) -> Account:
    with db.transaction() as session:
        account = store.get_account(session, account_id)
    if account is None:
        authorize(principal, "ledger.account.read")
        raise NotFound("account_not_found", f"no account {account_id}")
    authorize(principal, "ledger.account.read", account.owner)
    return account


def list_account_transfers(
    db: Database, principal: Principal, account_id: str, after_id: str | None = None, limit: int = 100
) -> list[Transfer]:
    account = get_account(db, principal, account_id)
    with db.transaction() as session:
        return store.transfers_of_account(session, account.id, after_id, max(1, min(limit, 1000)))


# --- transfers ---------------------------------------------------------------------------------------


def transfer_in(session: Session, actor: str, request: TransferRequest, clock: Clock = utc_now) -> Transfer:
    """Apply one transfer inside the caller's transaction, with its registry entry."""
    return transfer_many_in(session, actor, [request], clock)[0]


def transfer_many_in(
    session: Session, actor: str, requests: Sequence[TransferRequest], clock: Clock = utc_now
) -> list[Transfer]:
    """Apply transfers in order, all or none, inside the caller's transaction.

    Batch-first like TigerBeetle: every pending transfer and account involved is locked once (pending
    transfers, then accounts, each in id order), rules run in memory, and the results are written with one
    statement per table. A single transfer is a batch of one.
    """
    index = 0  # which request failed, for the error; kept up to date by the loops below
    try:
        for index, request in enumerate(requests):  # noqa: B007 - index is read in the except clause
            request.validate()
        now = clock()
        batch = _Batch.load(session, requests)
        results = []
        for index, request in enumerate(requests):  # noqa: B007 - index is read in the except clause
            results.append(batch.apply(session, request, now))
    except CorridorError as error:
        if len(requests) > 1:
            error.extra["index"] = index
        raise
    batch.flush(session)
    registry.append_many(session, [_entry(actor, t) for t in batch.new_transfers], clock)
    return results


_DEFERRED_KEY = transaction_state("corridor.ledger.deferred")  # a rolled-back savepoint drops its transfers


@contextmanager
def deferring(session: Session, clock: Clock = utc_now) -> Iterator[None]:
    """Inside the block, :func:`transfers_soon_in` queues transfers; at its end they are applied in the
    order given as one ledger batch (each account locked once, and only from then until the commit).

    For a batch of many items on one hot account (a hundred payment orders of one importer): applied one by
    one, the first item locked the account for the whole batch and the settlement worker waited on it. All
    or none: if a queued transfer is refused, the block raises and the caller must roll its transaction
    back (and, say, run its items again one by one without deferring)."""
    if _DEFERRED_KEY in session.info:
        yield
        return
    queued: list[tuple[str, TransferRequest]] = []
    session.info[_DEFERRED_KEY] = queued
    try:
        yield
    finally:
        session.info.pop(_DEFERRED_KEY, None)
    for actor, requests in _runs_by_actor(queued):
        transfer_many_in(session, actor, requests, clock)


def transfers_soon_in(
    session: Session, actor: str, requests: Sequence[TransferRequest], clock: Clock = utc_now
) -> None:
    """Apply ``requests`` now as one batch, or at the end of the enclosing :func:`deferring` block."""
    queued: list[tuple[str, TransferRequest]] | None = session.info.get(_DEFERRED_KEY)
    if queued is None:
        transfer_many_in(session, actor, requests, clock)
        return
    for request in requests:
        request.validate()
    queued.extend((actor, request) for request in requests)


def _runs_by_actor(queued: Sequence[tuple[str, TransferRequest]]) -> list[tuple[str, list[TransferRequest]]]:
    runs: list[tuple[str, list[TransferRequest]]] = []
    for actor, request in queued:
        if runs and runs[-1][0] == actor:
            runs[-1][1].append(request)
        else:
            runs.append((actor, [request]))
    return runs


def _entry(actor: str, transfer: Transfer) -> NewEntry:
    return NewEntry(
        actor,
        f"ledger.transfer.{transfer.kind.value}",
        f"transfer:{transfer.id}",
        transfer.registry_payload(),
    )


def create_transfer(db: Database, principal: Principal, request: TransferRequest) -> Transfer:
    return create_transfers(db, principal, [request])[0]


def create_transfers(
    db: Database, principal: Principal, requests: Sequence[TransferRequest]
) -> list[Transfer]:
    authorize(principal, "ledger.transfer.create")
    if not 1 <= len(requests) <= 1000:
        raise ValidationFailed("batch_size", "a batch holds 1 to 1000 transfers")
    try:
        with db.transaction() as session:
            return transfer_many_in(session, principal.actor, requests)
    except IntegrityError:
        # Only a concurrent request writing the same new transfer id gets here (everything else is locked).
        raise Conflict(
            "transfer_conflict", "a concurrent request wrote the same transfer id; retry to get its result"
        ) from None


def get_transfer(db: Database, principal: Principal, transfer_id: str) -> Transfer:
    with db.transaction() as session:
        transfer = store.get_transfer(session, transfer_id)
        if transfer is None:
            authorize(principal, "ledger.transfer.read")
            raise NotFound("transfer_not_found", f"no transfer {transfer_id}")
        debit = store.get_account(session, transfer.debit_account_id)
        credit = store.get_account(session, transfer.credit_account_id)
    owners = {a.owner for a in (debit, credit) if a is not None and a.owner}
    scope = principal.participant_id if principal.participant_id in owners else next(iter(owners), None)
    authorize(principal, "ledger.transfer.read", scope)
    return transfer


@dataclass
class _Batch:
    """The locked working set of one batch, changed in memory and written once at the end."""

    accounts: dict[str, Account]
    pendings: dict[str, Transfer]
    stored: dict[str, Transfer]
    new_transfers: list[Transfer] = field(default_factory=list)
    created: dict[str, Transfer] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    pending_moves: list[tuple[str, PendingState]] = field(default_factory=list)
    corrected_in_batch: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, requests: Sequence[TransferRequest]) -> _Batch:
        pendings = store.get_transfers(session, {r.pending_id for r in requests if r.pending_id}, lock=True)
        account_ids = {a for r in requests for a in (r.debit_account_id, r.credit_account_id) if a}
        account_ids |= {a for p in pendings.values() for a in (p.debit_account_id, p.credit_account_id)}
        accounts = store.lock_accounts(session, account_ids)
        # Read after the locks, so a concurrent twin of a request has either committed or not started.
        stored = store.get_transfers(session, {r.id for r in requests})
        return cls(accounts, pendings, stored)

    def apply(self, session: Session, request: TransferRequest, now: datetime) -> Transfer:
        prior = self.stored.get(request.id) or self.created.get(request.id)
        if prior is not None:
            ensure_same_content(prior.fingerprint, request)
            return prior
        if request.kind in (TransferKind.POST, TransferKind.VOID):
            transfer = self._resolve(request, now)
        else:
            transfer = self._move(session, request, now)
        self.created[transfer.id] = transfer
        self.new_transfers.append(transfer)
        return transfer

    def _move(self, session: Session, request: TransferRequest, now: datetime) -> Transfer:
        assert request.debit_account_id and request.credit_account_id and request.amount
        debit, credit = _pair(self.accounts, request.debit_account_id, request.credit_account_id)
        asset = _common_asset(debit, credit, request.asset)
        if request.corrects is not None:
            self._check_correction(session, request, debit, credit)
        pending = request.kind is TransferKind.PENDING
        self._update(
            apply_debit(debit, request.amount, pending), apply_credit(credit, request.amount, pending)
        )
        timeout_at = None
        if pending:
            seconds = request.timeout_seconds or get_settings().ledger_pending_timeout_seconds
            timeout_at = format_time(now + timedelta(seconds=seconds))
        transfer = Transfer(
            id=request.id,
            kind=request.kind,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            asset=asset,
            amount=request.amount,
            pending_id=None,
            timeout_at=timeout_at,
            state=PendingState.PENDING if pending else None,
            reference=request.reference,
            corrects=request.corrects,
            fingerprint=request.fingerprint(),
            created_at=format_time(now),
            metadata=request.metadata,
        )
        if pending:
            self.pendings[transfer.id] = transfer
        return transfer

    def _resolve(self, request: TransferRequest, now: datetime) -> Transfer:
        assert request.pending_id
        pending = self.pendings.get(request.pending_id)
        if pending is None:
            raise NotFound("pending_transfer_not_found", f"no pending transfer {request.pending_id}")
        amount = check_resolvable(pending, request, format_time(now))
        debit, credit = _pair(self.accounts, pending.debit_account_id, pending.credit_account_id)
        if request.kind is TransferKind.POST:
            self._update(*post_pending(debit, credit, pending.amount, amount))
            outcome = PendingState.POSTED
        else:
            self._update(*release_pending(debit, credit, pending.amount))
            outcome, amount = PendingState.VOIDED, pending.amount
        self.pendings[pending.id] = replace(pending, state=outcome)
        self.pending_moves.append((pending.id, outcome))
        return Transfer(
            id=request.id,
            kind=request.kind,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            asset=pending.asset,
            amount=amount,
            pending_id=pending.id,
            timeout_at=None,
            state=None,
            reference=request.reference,
            corrects=None,
            fingerprint=request.fingerprint(),
            created_at=format_time(now),
            metadata=request.metadata,
        )

    def _update(self, *accounts: Account) -> None:
        for account in accounts:
            self.accounts[account.id] = account
            self.changed.add(account.id)

    def _check_correction(
        self, session: Session, request: TransferRequest, debit: Account, credit: Account
    ) -> None:
        """A correction reverses (part of) a posted movement: opposite direction, at most what is left."""
        assert request.corrects is not None and request.amount is not None
        original = self.created.get(request.corrects) or store.get_transfer(session, request.corrects)
        if original is None:
            raise NotFound("corrected_transfer_not_found", f"no transfer {request.corrects} to correct")
        if request.kind is not TransferKind.SINGLE or original.kind not in (
            TransferKind.SINGLE,
            TransferKind.POST,
        ):
            raise ValidationFailed(
                "not_correctable", "only a posted movement can be corrected, by a single transfer"
            )
        if (debit.id, credit.id) != (original.credit_account_id, original.debit_account_id):
            raise ValidationFailed(
                "correction_direction", "a correction debits the original credit account and vice versa"
            )
        already = store.corrected_total(session, original.id) + self.corrected_in_batch.get(original.id, 0)
        if already + request.amount > original.amount:
            raise Conflict(
                "correction_exceeds_original",
                f"only {original.amount - already} of {original.id} is left to correct",
            )
        self.corrected_in_batch[original.id] = self.corrected_in_batch.get(original.id, 0) + request.amount

    def flush(self, session: Session) -> None:
        store.save_balances(session, [self.accounts[a] for a in sorted(self.changed)])
        store.insert_transfers(session, self.new_transfers)
        store.set_pending_states(session, self.pending_moves)


def _pair(locked: dict[str, Account], debit_id: str, credit_id: str) -> tuple[Account, Account]:
    for account_id in (debit_id, credit_id):
        if account_id not in locked:
            raise NotFound("account_not_found", f"no account {account_id}")
    return locked[debit_id], locked[credit_id]


def _common_asset(debit: Account, credit: Account, requested: str | None) -> str:
    if debit.asset != credit.asset:
        raise ValidationFailed(
            "asset_mismatch", f"{debit.id} holds {debit.asset} but {credit.id} holds {credit.asset}"
        )
    if requested is not None and requested != debit.asset:
        raise ValidationFailed("asset_mismatch", f"the accounts hold {debit.asset}, not {requested}")
    return debit.asset


def correct_transfer(
    db: Database, principal: Principal, original_id: str, correction_id: str, amount: int | None, reason: str
) -> Transfer:
    """Reverse ``amount`` (default: all that is left) of a posted transfer with a new transfer."""
    authorize(principal, "ledger.transfer.create")
    if not reason.strip():
        raise ValidationFailed("reason_required", "a correction needs a reason")
    with db.transaction() as session:
        original = store.get_transfer(session, original_id)
        if original is None:
            raise NotFound("corrected_transfer_not_found", f"no transfer {original_id} to correct")
        left = original.amount - store.corrected_total(session, original_id)
        request = TransferRequest(
            id=correction_id,
            debit_account_id=original.credit_account_id,
            credit_account_id=original.debit_account_id,
            amount=amount if amount is not None else left,
            asset=original.asset,
            reference=reason[:200],
            corrects=original_id,
        )
        return transfer_in(session, principal.actor, request)


# --- expiry and invariants ---------------------------------------------------------------------------


def expire_pending(db: Database, clock: Clock = utc_now, limit: int = 500) -> int:
    """Void every pending transfer whose timeout has passed; returns how many were expired."""
    now_text = format_time(clock())
    with db.transaction() as session:
        ids = store.expired_pending_ids(session, now_text, limit)
        pendings = store.get_transfers(session, ids, lock=True)
        live = [p for p in pendings.values() if p.state is PendingState.PENDING]
        accounts = store.lock_accounts(
            session, {a for p in live for a in (p.debit_account_id, p.credit_account_id)}
        )
        for pending in live:
            debit, credit = release_pending(
                accounts[pending.debit_account_id], accounts[pending.credit_account_id], pending.amount
            )
            accounts[debit.id], accounts[credit.id] = debit, credit
        changed = {a for p in live for a in (p.debit_account_id, p.credit_account_id)}
        store.save_balances(session, [accounts[a] for a in sorted(changed)])
        store.set_pending_states(session, [(p.id, PendingState.EXPIRED) for p in live])
        registry.append_many(
            session,
            [
                NewEntry(
                    "system:ledger",
                    "ledger.transfer.expired",
                    f"transfer:{p.id}",
                    {"id": p.id, "amount": p.amount},
                )
                for p in live
            ],
            clock,
        )
    return len(live)


@dataclass(frozen=True, slots=True)
class AssetTotals:
    asset: str
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def balanced(self) -> bool:
        return self.debits_posted == self.credits_posted and self.debits_pending == self.credits_pending


def totals(db: Database) -> list[AssetTotals]:
    """Sums over every account per asset: double entry means debits equal credits in each."""
    with db.transaction() as session:
        sums = store.sums_per_asset(session)
    return [AssetTotals(asset, *values) for asset, values in sorted(sums.items())]
