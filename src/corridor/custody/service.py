"""Custody use cases: wallets, address issuance and lookup, payout requests, treasury approvals.

The chain follower lives in :mod:`corridor.custody.follower`, the batcher in :mod:`corridor.custody.payouts`
and reconciliation in :mod:`corridor.custody.reconcile`; all share the wallet loading below.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.bitcoin.address import InvalidAddress, parse_address
from corridor.custody import store
from corridor.custody.descriptors import (
    CHANGE_BRANCH,
    DEFAULT_GAP_LIMIT,
    RECEIVE_BRANCH,
    DescriptorError,
    DescriptorWallet,
    HotWallet,
    open_seed,
    seal_seed,
)
from corridor.custody.fees import InputKind
from corridor.custody.model import WalletRole
from corridor.custody.psbt import PsbtError, extract_transaction, finalize_psbt, parse_psbt
from corridor.custody.state import (
    FEES_ACCOUNT,
    LEDGER_ASSET,
    RESERVATION_TIMEOUT_SECONDS,
    SUSPENSE_ACCOUNT,
    AddressPurpose,
    AddressRecord,
    BatchRecord,
    BatchState,
    LotRecord,
    PayoutRecord,
    PayoutState,
    WalletRecord,
    check_batch_move,
    custody_account_id,
    reservation_id,
)
from corridor.db import Database
from corridor.db.batch_reads import remembered
from corridor.errors import Conflict, NotFound, ValidationFailed
from corridor.ledger import service as ledger
from corridor.ledger.model import AccountSpec, TransferKind, TransferRequest
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now

Clock = Callable[[], datetime]
WALLET_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
PAYOUT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
NETWORKS = ("mainnet", "testnet", "signet", "regtest")

SpendWallet = DescriptorWallet | HotWallet


# --- wallets ------------------------------------------------------------------------------------------


def _check_wallet_id(wallet_id: str, network: str) -> None:
    if not WALLET_ID.match(wallet_id):
        raise ValidationFailed("invalid_wallet_id", "wallet id is 1-40 of a-z 0-9 _ - (lower case)")
    if network not in NETWORKS:
        raise ValidationFailed("invalid_network", f"network must be one of {', '.join(NETWORKS)}")


def _open_ledger_accounts_in(session: Session, actor: str, wallet_id: str) -> str:
    account_id = custody_account_id(wallet_id)
    ledger.open_account_in(session, actor, AccountSpec(account_id, LEDGER_ASSET, "custody_wallet"))
    ledger.open_account_in(session, actor, AccountSpec(FEES_ACCOUNT, LEDGER_ASSET, "network_fees"))
    ledger.open_account_in(session, actor, AccountSpec(SUSPENSE_ACCOUNT, LEDGER_ASSET, "custody_suspense"))
    return account_id


def _create_wallet(
    db: Database,
    principal: Principal,
    record: WalletRecord,
    hot_address: tuple[bytes, str] | None,
    clock: Clock,
) -> WalletRecord:
    authorize(principal, "custody.wallet.create")
    with db.transaction() as session:
        existing = store.get_wallet(session, record.id)
        if existing is not None:
            if existing.descriptor != record.descriptor or existing.role != record.role:
                raise Conflict("wallet_id_reused", f"wallet {record.id} exists with another descriptor")
            if (existing.sealed_secret is None) != (record.sealed_secret is None):
                raise Conflict("wallet_id_reused", f"wallet {record.id} exists with another key custody")
            return existing
        _open_ledger_accounts_in(session, principal.actor, record.id)
        now = format_time(clock())
        store.insert_wallet(session, record, now)
        if hot_address is not None:
            script, text = hot_address
            store.insert_address(
                session, AddressRecord(script, text, record.id, 0, 0, AddressPurpose.HOT, None, None), now
            )
        registry.append(
            session,
            principal.actor,
            "custody.wallet_created",
            f"wallet:{record.id}",
            {
                "id": record.id,
                "role": record.role,
                "network": record.network,
                "descriptor": record.descriptor,
                "signs_automatically": signs_automatically(record),
            },
            clock,
        )
    return record


def create_receive_wallet(
    db: Database,
    principal: Principal,
    wallet_id: str,
    account_key: str,
    network: str,
    *,
    taproot: bool = False,
    gap_limit: int = DEFAULT_GAP_LIMIT,
    kek_file: Path | None = None,
    clock: Clock = utc_now,
) -> WalletRecord:
    """A ``wpkh`` or ``tr`` wallet over an account key; the descriptor is stored public.

    Without ``kek_file`` the wallet is watch-only (a private key given is not kept). With it, the
    account key must be private (``[fingerprint/path]xprv``) and is kept sealed with AES-GCM under the
    KEK, like the hot wallet's: the batcher then signs its payouts and sweeps automatically.
    """
    _check_wallet_id(wallet_id, network)
    if not isinstance(gap_limit, int) or isinstance(gap_limit, bool) or not 1 <= gap_limit <= 1000:
        raise ValidationFailed("invalid_gap_limit", "gap limit is 1-1000 addresses")
    try:
        wallet = DescriptorWallet.receive(account_key, network, taproot=taproot)
    except DescriptorError as error:
        raise ValidationFailed("invalid_descriptor", str(error)) from None
    sealed = None
    if kek_file is not None:
        if not wallet.is_private:
            raise ValidationFailed(
                "private_key_required", "a spendable receive wallet needs the account's private key"
            )
        sealed = seal_seed(account_key.strip().encode("ascii"), kek_file, label=wallet_id)
    record = WalletRecord(
        wallet_id, WalletRole.RECEIVE.value, wallet.kind.value, network, wallet.descriptor, sealed,
        custody_account_id(wallet_id), 0, 0, gap_limit,
    )  # fmt: skip
    return _create_wallet(db, principal, record, None, clock)


def create_treasury_wallet(
    db: Database,
    principal: Principal,
    wallet_id: str,
    cosigner_keys: list[str],
    network: str,
    *,
    gap_limit: int = DEFAULT_GAP_LIMIT,
    clock: Clock = utc_now,
) -> WalletRecord:
    """2-of-3 ``wsh(sortedmulti)`` over the approvers' account xpubs; Corridor holds no treasury key."""
    _check_wallet_id(wallet_id, network)
    try:
        wallet = DescriptorWallet.treasury(cosigner_keys, network)
    except DescriptorError as error:
        raise ValidationFailed("invalid_descriptor", str(error)) from None
    record = WalletRecord(
        wallet_id, WalletRole.TREASURY.value, InputKind.P2WSH_2_OF_3.value, network, wallet.descriptor, None,
        custody_account_id(wallet_id), 0, 0, gap_limit,
    )  # fmt: skip
    return _create_wallet(db, principal, record, None, clock)


def create_hot_wallet(
    db: Database,
    principal: Principal,
    wallet_id: str,
    network: str,
    kek_file: Path,
    *,
    secret: bytes | None = None,
    clock: Clock = utc_now,
) -> WalletRecord:
    """A single-key wallet; its secret is stored only sealed with AES-GCM under the KEK file."""
    _check_wallet_id(wallet_id, network)
    hot, fresh = (HotWallet(secret, network), secret) if secret is not None else HotWallet.generate(network)
    sealed = seal_seed(fresh, kek_file, label=wallet_id)
    record = WalletRecord(
        wallet_id, WalletRole.HOT.value, InputKind.P2WPKH.value, network, hot.descriptor, sealed,
        custody_account_id(wallet_id), 0, 0, 0,
    )  # fmt: skip
    return _create_wallet(db, principal, record, (hot.script_pubkey, hot.address), clock)


def watch_wallet(record: WalletRecord) -> DescriptorWallet | None:
    """The ranged descriptor wallet of a receive or treasury record (None for the single-key hot wallet)."""
    if record.role == WalletRole.HOT.value:
        return None
    return DescriptorWallet(
        record.descriptor, record.network, WalletRole(record.role), InputKind(record.input_kind)
    )


def signs_automatically(record: WalletRecord) -> bool:
    """The hot wallet and spendable receive wallets sign without a person; the treasury never does."""
    return record.role != WalletRole.TREASURY.value and record.sealed_secret is not None


def spending_wallet(record: WalletRecord, kek_file: Path | None) -> SpendWallet:
    """The wallet the batcher builds PSBTs with; a sealed key is unsealed only here."""
    if record.role == WalletRole.HOT.value:
        if kek_file is None or record.sealed_secret is None:
            raise Conflict("kek_required", "the hot wallet signs only with its key-encryption key file")
        return HotWallet(open_seed(record.sealed_secret, kek_file, label=record.id), record.network)
    wallet = watch_wallet(record)
    assert wallet is not None
    if not signs_automatically(record):
        return wallet
    if kek_file is None:
        raise Conflict("kek_required", f"wallet {record.id} signs only with its key-encryption key file")
    account_key = open_seed(record.sealed_secret or b"", kek_file, label=record.id).decode("ascii")
    spendable = DescriptorWallet.receive(
        account_key, record.network, taproot=record.input_kind == InputKind.P2TR_KEYPATH.value
    )
    if spendable.descriptor != record.descriptor:
        raise Conflict("sealed_key_mismatch", f"the sealed key of {record.id} is not its descriptor's key")
    return spendable


def get_wallet_in(session: Session, wallet_id: str) -> WalletRecord:
    record = remembered(session, ("custody.wallet", wallet_id), lambda: store.get_wallet(session, wallet_id))
    if record is None:
        raise NotFound("wallet_not_found", f"no wallet {wallet_id}")
    return record


# --- addresses ----------------------------------------------------------------------------------------


def issue_address_in(
    session: Session,
    actor: str,
    wallet_id: str,
    purpose: AddressPurpose,
    record: str | None,
    credit_account_id: str | None,
    clock: Clock = utc_now,
) -> AddressRecord:
    """A fresh receive address of ``wallet_id`` for ``record`` (an invoice, a deposit), never reused."""
    if purpose not in (AddressPurpose.INVOICE, AddressPurpose.DEPOSIT):
        raise ValidationFailed("invalid_purpose", "addresses are issued for an invoice or a deposit")
    if record is not None and not 1 <= len(record) <= 100:
        raise ValidationFailed("invalid_record", "record is 1-100 characters")
    wallet_record = store.get_wallet(session, wallet_id, lock=True)
    if wallet_record is None:
        raise NotFound("wallet_not_found", f"no wallet {wallet_id}")
    wallet = watch_wallet(wallet_record)
    if wallet is None:
        raise ValidationFailed(
            "wallet_not_ranged", "the hot wallet has one address; issue from a ranged wallet"
        )
    if credit_account_id is not None and ledger.get_account_in(session, credit_account_id) is None:
        raise NotFound("account_not_found", f"no account {credit_account_id}")
    index = wallet_record.next_receive_index
    while store.address_by_script(session, wallet.derive(index).script_pubkey) is not None:
        index += 1  # a lookahead address the follower saw paid before we issued it
    derived = wallet.derive(index)
    address = AddressRecord(
        derived.script_pubkey,
        derived.address,
        wallet_id,
        RECEIVE_BRANCH,
        index,
        purpose,
        record,
        credit_account_id,
    )
    store.insert_address(session, address, format_time(clock()))
    store.set_wallet_indexes(session, wallet_id, index + 1, wallet_record.next_change_index)
    registry.append(
        session,
        actor,
        "custody.address_issued",
        f"wallet:{wallet_id}",
        {"address": derived.address, "index": index, "purpose": purpose.value, "record": record,
         "credit_account_id": credit_account_id},
        clock,
    )  # fmt: skip
    return address


def issue_address(
    db: Database,
    principal: Principal,
    wallet_id: str,
    purpose: AddressPurpose,
    record: str | None = None,
    credit_account_id: str | None = None,
) -> AddressRecord:
    authorize(principal, "custody.address.issue")
    with db.transaction() as session:
        return issue_address_in(session, principal.actor, wallet_id, purpose, record, credit_account_id)


def issue_change_address_in(session: Session, actor: str, wallet_record: WalletRecord) -> AddressRecord:
    """The next change address of a ranged wallet, registered so the follower recognises the change."""
    wallet = watch_wallet(wallet_record)
    assert wallet is not None
    index = wallet_record.next_change_index
    while store.address_by_script(session, wallet.derive(index, change=True).script_pubkey) is not None:
        index += 1
    derived = wallet.derive(index, change=True)
    address = AddressRecord(
        derived.script_pubkey, derived.address, wallet_record.id, CHANGE_BRANCH, index, AddressPurpose.CHANGE,
        None, None,
    )  # fmt: skip
    store.insert_address(session, address, format_time(utc_now()))
    store.set_wallet_indexes(session, wallet_record.id, wallet_record.next_receive_index, index + 1)
    return address


@dataclass(frozen=True, slots=True)
class AddressLookup:
    address: str
    wallet_id: str
    wallet_role: str
    branch: int
    index: int
    purpose: str
    record: str | None
    credit_account_id: str | None
    issued: bool


def find_address(db: Database, principal: Principal, address_or_script: str) -> AddressLookup:
    """From an address or a hex script: its wallet, purpose and the record it was issued for.

    A script not issued yet but inside a wallet's gap-limit window is reported as ours (``issued=False``).
    """
    authorize(principal, "custody.address.read")
    with db.transaction() as session:
        wallets = store.all_wallets(session)
        script = _script_of(address_or_script, {w.network for w in wallets})
        found = store.address_by_script(session, script)
        if found is not None:
            role = next(w.role for w in wallets if w.id == found.wallet_id)
            return AddressLookup(
                found.address, found.wallet_id, role, found.branch, found.index, found.purpose.value,
                found.record, found.credit_account_id, True,
            )  # fmt: skip
        for record in wallets:
            wallet = watch_wallet(record)
            if wallet is None:
                continue
            derived = wallet.find(
                script, next_unused=max(record.next_receive_index, record.next_change_index),
                gap_limit=record.gap_limit,
            )  # fmt: skip
            if derived is not None:
                return AddressLookup(
                    derived.address, record.id, record.role, derived.branch, derived.index,
                    AddressPurpose.LOOKAHEAD.value, None, None, False,
                )  # fmt: skip
    raise NotFound("address_not_ours", "no wallet of ours pays this address or script")


def _script_of(text: str, networks: set[str]) -> bytes:
    candidate = text.strip()
    if re.fullmatch(r"(?:[0-9a-f]{2}){2,42}", candidate):
        return bytes.fromhex(candidate)
    for network in sorted(networks):
        try:
            return parse_address(candidate, network).script_pubkey
        except (InvalidAddress, ValueError):
            continue
    raise ValidationFailed("invalid_address", "not an address of our networks nor a hex script")


# --- payout requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoutRequest:
    id: str
    wallet_id: str
    client_account_id: str
    address: str
    amount_sats: int
    reference: str = ""

    def fingerprint(self) -> str:
        body = json.dumps(
            [self.id, self.wallet_id, self.client_account_id, self.address, self.amount_sats, self.reference]
        )
        return hashlib.sha256(body.encode()).hexdigest()

    def validate(self) -> None:
        if not PAYOUT_ID.match(self.id):
            raise ValidationFailed("invalid_payout_id", "payout id is 1-48 of A-Z a-z 0-9 . _ -")
        if (
            isinstance(self.amount_sats, bool)
            or not isinstance(self.amount_sats, int)
            or self.amount_sats <= 0
        ):
            raise ValidationFailed("amount_must_be_positive", "amount is a positive integer of satoshis")
        if not 1 <= len(self.address) <= 100 or len(self.reference) > 200:
            raise ValidationFailed("invalid_payout", "address is 1-100 characters, reference at most 200")


def request_payout(db: Database, principal: Principal, request: PayoutRequest) -> PayoutRecord:
    """Queue a payout (idempotent by id). The address must be valid on the wallet's network."""
    authorize(principal, "custody.payout.create")
    request.validate()
    with db.transaction() as session:
        wallet = get_wallet_in(session, request.wallet_id)
        try:
            parse_address(request.address, wallet.network)
        except InvalidAddress as error:
            raise ValidationFailed("invalid_address", f"{request.address!r}: {error}") from None
        return queue_payout_in(session, principal.actor, request)


def queue_payout_in(
    session: Session,
    actor: str,
    request: PayoutRequest,
    clock: Clock = utc_now,
    *,
    releasing: TransferRequest | None = None,
) -> PayoutRecord:
    """Reserve the amount on the client's account (PENDING) and queue the payout, in the caller's transaction.

    ``releasing``: a transfer the ledger applies first, in the same batch as the reservation (the caller's
    hold that this payout replaces): the accounts are locked and written once for both.

    The address is checked again, with screening and dust, when the batch is built: a payee that fails
    then is dropped from the batch with a reason and its reservation voided.
    """
    request.validate()
    existing = store.get_payout(session, request.id)
    if existing is not None:
        if existing[1] != request.fingerprint():
            raise Conflict("payout_id_reused", f"payout {request.id} exists with different content")
        if releasing is not None:
            ledger.transfers_soon_in(session, actor, [releasing], clock)  # idempotent by its id
        return existing[0]
    get_wallet_in(session, request.wallet_id)
    pending_id = reservation_id(request.id)
    ledger.transfers_soon_in(
        session,
        actor,
        [*([releasing] if releasing is not None else []), TransferRequest(
            id=pending_id,
            kind=TransferKind.PENDING,
            debit_account_id=request.client_account_id,
            credit_account_id=custody_account_id(request.wallet_id),
            amount=request.amount_sats,
            asset=LEDGER_ASSET,
            timeout_seconds=RESERVATION_TIMEOUT_SECONDS,
            reference=f"payout {request.id}",
        )],
        clock,
    )  # fmt: skip
    payout = PayoutRecord(
        request.id, request.wallet_id, request.client_account_id, request.address, request.amount_sats,
        request.reference, PayoutState.QUEUED, None, None, pending_id,
    )  # fmt: skip
    store.insert_payout(session, payout, request.fingerprint(), format_time(clock()))
    registry.append(
        session,
        actor,
        "custody.payout_queued",
        f"payout:{request.id}",
        {"wallet_id": request.wallet_id, "client_account_id": request.client_account_id,
         "address": request.address, "amount_sats": request.amount_sats, "reservation_id": pending_id},
        clock,
    )  # fmt: skip
    return payout


def get_payout(db: Database, principal: Principal, payout_id: str) -> PayoutRecord:
    authorize(principal, "custody.payout.read")
    with db.transaction() as session:
        found = store.get_payout(session, payout_id)
    if found is None:
        raise NotFound("payout_not_found", f"no payout {payout_id}")
    return found[0]


def get_batch(db: Database, principal: Principal, batch_id: str) -> BatchRecord:
    authorize(principal, "custody.batch.read")
    with db.transaction() as session:
        batch = store.get_batch(session, batch_id)
    if batch is None:
        raise NotFound("batch_not_found", f"no batch {batch_id}")
    return batch


# --- wallets and lots, read -------------------------------------------------------------------------


def get_wallet(db: Database, principal: Principal, wallet_id: str) -> WalletRecord:
    authorize(principal, "custody.wallet.read")
    with db.transaction() as session:
        return get_wallet_in(session, wallet_id)


@dataclass(frozen=True, slots=True)
class LotLink:
    txid: str
    vout: int
    value_sats: int
    origin: str


@dataclass(frozen=True, slots=True)
class LotLineage:
    lot: LotRecord
    origins: tuple[str, ...]
    """The root origins (receipts) behind the lot, through every change and sweep."""
    parents: tuple[LotLink, ...]
    """The lots our transaction spent to create this one (none for a received output)."""
    children: tuple[tuple[str, int], ...]
    """Lots of ours created by the transaction that spent this one."""


def lot_lineage(db: Database, principal: Principal, txid: str, vout: int) -> LotLineage:
    """One lot with where its value came from and where it went, for provenance."""
    authorize(principal, "custody.lot.read")
    with db.transaction() as session:
        lot = store.get_lot(session, txid, vout)
        if lot is None:
            raise NotFound("lot_not_found", f"no lot {txid}:{vout}")
        origins = store.origins_of(session, [(txid, vout)]).get((txid, vout), [lot.origin])
        parents = tuple(LotLink(*link) for link in store.lot_parents(session, txid, vout))
        children = tuple(store.lot_children(session, txid, vout))
    return LotLineage(lot, tuple(origins), parents, children)


# --- treasury approvals -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalResult:
    batch_id: str
    approvers: tuple[str, ...]
    signer_keys: tuple[str, ...]
    required: int
    state: BatchState


TREASURY_QUORUM = 2


def submit_approval(
    db: Database, principal: Principal, batch_id: str, psbt_text: str, clock: Clock = utc_now
) -> ApprovalResult:
    """An approver's signed PSBT for a treasury batch. At two distinct keys on every input, the batch is
    finalised and becomes ``signed`` (the batcher broadcasts it).

    Each signature is checked against the transaction's sighash before it counts, and one approver
    (one user) counts once, for one key no other approver was counted for: an approver may pass on a
    PSBT that already carries a colleague's signature (BIP174 sequential signing), but replaying a
    colleague's PSBT alone adds nothing and is refused. A fee bump is a new transaction: its
    replacement batch needs its own quorum.
    """
    authorize(principal, "custody.batch.approve")
    try:
        signed = parse_psbt(psbt_text)
    except PsbtError as error:
        raise ValidationFailed("invalid_psbt", str(error)) from None
    with db.transaction() as session:
        batch = store.get_batch(session, batch_id, lock=True)
        if batch is None:
            raise NotFound("batch_not_found", f"no batch {batch_id}")
        wallet = get_wallet_in(session, batch.wallet_id)
        if wallet.role != WalletRole.TREASURY.value:
            raise ValidationFailed("not_a_treasury_batch", "only treasury batches take approvals")
        if batch.state is not BatchState.BUILT:
            raise Conflict(f"batch_{batch.state.value}", f"batch {batch_id} is {batch.state.value}")
        original = parse_psbt(batch.psbt)
        if signed.tx.txid() != original.tx.txid():
            raise ValidationFailed("psbt_mismatch", "the PSBT is for another transaction than this batch")
        keys = set(_signatures_on_every_input(signed, original))
        if not keys:
            raise ValidationFailed(
                "no_valid_signature", "the PSBT carries no valid signature for every input"
            )
        prior = store.approvals_of(session, batch_id)
        if any(approver == principal.actor for approver, _, _ in prior):
            raise Conflict("already_approved", f"{principal.actor} already approved batch {batch_id}")
        fresh = sorted(keys - _distinct_keys(prior))
        if not fresh:
            raise Conflict(
                "signer_already_counted",
                "every key that signed this PSBT already counts for another approver",
            )
        # The key credited to this approver goes first: that is the one the quorum counts.
        stored_keys = ",".join([fresh[0], *sorted(keys - {fresh[0]})])
        now = format_time(clock())
        store.insert_approval(session, batch_id, principal.actor, stored_keys, _b64(signed), now)
        registry.append(
            session, principal.actor, "custody.batch_approved", f"batch:{batch_id}",
            {"signer_keys": sorted(keys), "counted_key": fresh[0]}, clock,
        )  # fmt: skip
        approvals = [*prior, (principal.actor, stored_keys, _b64(signed))]
        signer_keys = _distinct_keys(approvals)
        state: BatchState = batch.state
        if len(signer_keys) >= TREASURY_QUORUM:
            _finalise_treasury_batch(session, principal.actor, batch, approvals, now, clock)
            state = BatchState.SIGNED
    return ApprovalResult(
        batch_id, tuple(a for a, _, _ in approvals), tuple(sorted(signer_keys)), TREASURY_QUORUM, state
    )


def _distinct_keys(approvals: list[tuple[str, str, str]]) -> set[str]:
    # One approver counts once: for the key credited to them, stored first.
    return {keys.split(",")[0] for _, keys, _ in approvals}


def _finalise_treasury_batch(
    session: Session,
    actor: str,
    batch: BatchRecord,
    approvals: list[tuple[str, str, str]],
    now: str,
    clock: Clock,
) -> None:
    """Finalise from the batch's own PSBT plus the verified signatures of the counted keys only, so
    nothing else an approver's PSBT carries (unknown fields, a final witness) reaches the transaction."""
    counted = _distinct_keys(approvals)
    base: Any = parse_psbt(batch.psbt)
    for _, _, text in approvals:
        for fingerprint, per_input in _signatures_on_every_input(parse_psbt(text), base).items():
            if fingerprint in counted:
                for scope, (pub, sig) in zip(base.inputs, per_input, strict=True):
                    scope.partial_sigs[pub] = sig
    try:
        raw = extract_transaction(finalize_psbt(base))
    except PsbtError as error:
        raise Conflict("cannot_finalise", str(error)) from None
    txid = base.tx.txid().hex()
    check_batch_move(batch.state, BatchState.SIGNED)
    store.update_batch(session, batch.id, now, state=BatchState.SIGNED.value, raw_tx=raw.hex(), txid=txid)
    registry.append(session, actor, "custody.batch_signed", f"batch:{batch.id}", {"txid": txid}, clock)


def _signatures_on_every_input(signed: Any, original: Any) -> dict[str, list[tuple[Any, bytes]]]:
    """Cosigners (master key fingerprints, hex) with a valid SIGHASH_ALL signature on every input of
    ``signed``, each with its (pubkey, signature) per input.

    Each input is signed by a different derived key, so a cosigner is recognised by the key origin the
    batch's own PSBT recorded for that input, never by anything the submitted PSBT claims.
    """
    from embit import ec
    from embit.script import Script
    from embit.transaction import SIGHASH

    found: list[dict[str, tuple[Any, bytes]]] = []
    for index, scope in enumerate(signed.inputs):
        base = original.inputs[index]
        utxo, script, origins = base.witness_utxo, base.witness_script, base.bip32_derivations
        if utxo is None or script is None:
            return {}
        digest = original.tx.sighash_segwit(index, Script(script.data), utxo.value, SIGHASH.ALL)
        valid: dict[str, tuple[Any, bytes]] = {}
        for pub, sig in scope.partial_sigs.items():
            origin = origins.get(pub)
            if origin is None or not sig or sig[-1] != SIGHASH.ALL:
                continue
            try:
                if pub.verify(ec.Signature.parse(sig[:-1]), digest):
                    valid[origin.fingerprint.hex()] = (pub, bytes(sig))
            except Exception:  # embit raises several types for malformed signatures
                continue
        found.append(valid)
    if not found:
        return {}
    common = set.intersection(*(set(valid) for valid in found))
    return {key: [valid[key] for valid in found] for key in sorted(common)}


def _b64(psbt: object) -> str:
    return str(psbt.to_string())  # type: ignore[attr-defined]


# --- for settlement ---


@dataclass(frozen=True, slots=True)
class PaidOutput:
    txid: str
    vout: int
    sats: int
    first_seen_at: str
    confirmations: int
    """0 while unconfirmed."""


def outputs_paid_to_in(session: Session, address: str) -> list[PaidOutput]:
    """What the best chain and the mempool show paid to one of our addresses (dropped outputs left out)."""
    record = store.address_by_text(session, address)
    if record is None:
        raise NotFound("address_not_found", f"{address} is not one of our addresses")
    tip = followed_height_in(session)
    return [
        PaidOutput(
            lot.txid, lot.vout, lot.value_sats, first_seen, 0 if tip is None else lot.confirmations(tip)
        )
        for lot, first_seen in store.lots_paid_to(session, record.script_pubkey)
    ]


def followed_height_in(session: Session) -> int | None:
    """The height of the last block the chain follower processed."""
    last = store.last_block(session)
    return None if last is None else last[0]


@dataclass(frozen=True, slots=True)
class PayoutProgress:
    state: PayoutState
    drop_reason: str | None
    txid: str | None
    """The transaction of the batch that carries it now (the confirmed one once paid)."""
    vout: int | None
    confirmed_height: int | None


def payout_progress_in(session: Session, payout_id: str) -> PayoutProgress:
    found = payouts_progress_in(session, [payout_id]).get(payout_id)
    if found is None:
        raise NotFound("payout_not_found", f"no payout {payout_id}")
    return found


def _live_batch(family: Sequence[BatchRecord]) -> BatchRecord | None:
    """The family's transaction that counts: the confirmed one, else the latest broadcast, else none."""
    live = [b for b in family if b.state is BatchState.CONFIRMED] or [
        b for b in family if b.state is BatchState.BROADCAST
    ]
    return live[-1] if live else None


@dataclass(frozen=True, slots=True)
class PayoutGlance:
    state: PayoutState
    txid: str | None
    """The live transaction's id (see :func:`_live_batch`), None while there is none."""


def payouts_at_a_glance_in(session: Session, payout_ids: Sequence[str]) -> dict[str, PayoutGlance]:
    """State and live txid of many payouts in two reads: enough for a follower of many payouts to tell
    which changed since it last looked, before it reads those in full with :func:`payout_progress_in`."""
    return {
        payout.id: PayoutGlance(payout.state, live.txid if live is not None else None)
        for payout, live in _payouts_with_live_batch(session, payout_ids)
    }


def payouts_progress_in(session: Session, payout_ids: Sequence[str]) -> dict[str, PayoutProgress]:
    """:func:`payout_progress_in` of many payouts in two reads."""
    progress = {}
    for payout, live in _payouts_with_live_batch(session, payout_ids):
        if live is None:
            progress[payout.id] = PayoutProgress(payout.state, payout.drop_reason, None, None, None)
        else:
            vout = _payout_vout(session, live, payout)
            progress[payout.id] = PayoutProgress(payout.state, payout.drop_reason, live.txid, vout,
                                                 live.confirmed_height)  # fmt: skip
    return progress


def _payouts_with_live_batch(
    session: Session, payout_ids: Sequence[str]
) -> list[tuple[PayoutRecord, BatchRecord | None]]:
    if not payout_ids:
        return []
    found = store.payouts_where(session, store.payouts.c.id.in_(list(payout_ids)))
    families = sorted({p.family_id for p in found if p.family_id is not None})
    by_family: dict[str, list[BatchRecord]] = {}
    if families:
        for batch in store.batches_where(session, store.batches.c.family_id.in_(families)):
            by_family.setdefault(batch.family_id, []).append(batch)
    return [
        (p, _live_batch(by_family.get(p.family_id, [])) if p.family_id is not None else None) for p in found
    ]


def _payout_vout(session: Session, batch: BatchRecord, payout: PayoutRecord) -> int | None:
    if batch.raw_tx is None or batch.txid is None:
        return None
    # Kept for the transaction: the settlement worker follows many payouts of one batch per transaction,
    # and a batch of n payouts is then parsed once rather than once per payout.
    known: dict[tuple[str, str], dict[str, int]] = session.info.setdefault("custody.vouts", {})
    key = (batch.family_id, batch.txid)
    if key not in known:
        known[key] = _family_vouts(session, batch)
    return known[key].get(payout.id)


def _family_vouts(session: Session, batch: BatchRecord) -> dict[str, int]:
    """Which output pays which payout: the batcher writes one output per payout in the family's order, so
    two payouts of the same amount to the same address still get their own outputs. Each is checked."""
    from embit.transaction import Transaction

    assert batch.raw_tx is not None
    network = get_wallet_in(session, batch.wallet_id).network
    outputs = Transaction.parse(bytes.fromhex(batch.raw_tx)).vout
    family = store.payouts_where(session, store.payouts.c.family_id == batch.family_id)
    found: dict[str, int] = {}
    for index, payout in enumerate(family):
        script = parse_address(payout.address, network).script_pubkey
        if index < len(outputs) and (outputs[index].script_pubkey.data, outputs[index].value) == (
            script,
            payout.amount_sats,
        ):
            found[payout.id] = index
    return found


def cancel_queued_payout_in(session: Session, actor: str, payout_id: str, reason: str) -> PayoutRecord:
    """Take a payout out of the queue before any batch holds it, voiding its reservation once."""
    found = store.payouts_where(session, store.payouts.c.id == payout_id, lock=True)
    if not found:
        raise NotFound("payout_not_found", f"no payout {payout_id}")
    payout = found[0]
    if payout.state is PayoutState.DROPPED:
        return payout
    if payout.state is not PayoutState.QUEUED:
        raise Conflict(
            "payout_in_flight", f"payout {payout_id} is {payout.state}; it can no longer be cancelled"
        )
    from corridor.custody.payouts import drop_payout_in  # payouts imports this module

    drop_payout_in(session, actor, payout, reason, utc_now)
    return store.payouts_where(session, store.payouts.c.id == payout_id)[0]


def hot_address_in(session: Session, wallet_id: str) -> str:
    """The single address of a hot wallet (where the operator's float is topped up)."""
    found = store.addresses_where(session, store.addresses.c.wallet_id == wallet_id)
    hot = [a.address for a in found if a.purpose is AddressPurpose.HOT]
    if not hot:
        raise NotFound("wallet_not_hot", f"wallet {wallet_id} has no hot address")
    return hot[0]
