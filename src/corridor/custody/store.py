"""Custody tables and queries (SQLAlchemy Core). Scripts are stored as lower-case hex."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from corridor.custody.state import (
    AddressPurpose,
    AddressRecord,
    BatchRecord,
    BatchState,
    LotRecord,
    LotState,
    PayoutRecord,
    PayoutState,
    WalletRecord,
)
from corridor.db import metadata

wallets = Table(
    "custody_wallets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("input_kind", String(16), nullable=False),
    Column("network", String(16), nullable=False),
    Column("descriptor", Text, nullable=False),
    Column("sealed_secret", LargeBinary, nullable=True),
    Column("ledger_account_id", String(64), nullable=False),
    Column("next_receive_index", Integer, nullable=False),
    Column("next_change_index", Integer, nullable=False),
    Column("gap_limit", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
)

addresses = Table(
    "custody_addresses",
    metadata,
    Column("script_pubkey", String(140), primary_key=True),
    Column("address", String(100), nullable=False, unique=True),
    Column("wallet_id", String(64), nullable=False),
    Column("branch", Integer, nullable=False),
    Column("derivation_index", Integer, nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("record", String(100), nullable=True),
    Column("credit_account_id", String(64), nullable=True),
    Column("created_at", String(32), nullable=False),
)

blocks = Table(
    "custody_blocks",
    metadata,
    Column("height", Integer, primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("prev_hash", String(64), nullable=False),
    Column("tx_count", Integer, nullable=False),
    Column("processed_at", String(32), nullable=False),
)

lots = Table(
    "custody_lots",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("vout", Integer, primary_key=True),
    Column("wallet_id", String(64), nullable=False),
    Column("script_pubkey", String(140), nullable=False),
    Column("value_sats", BigInteger, nullable=False),
    Column("origin", String(100), nullable=False),
    Column("credit_account_id", String(64), nullable=True),
    Column("coinbase", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("block_height", Integer, nullable=True),
    Column("block_hash", String(64), nullable=True),
    Column("spent_by", String(64), nullable=True),
    Column("spent_height", Integer, nullable=True),
    Column("reserved_by", String(64), nullable=True),
    Column("credit_transfer_id", String(64), nullable=True),
    Column("credit_count", Integer, nullable=False),
    Column("first_seen_at", String(32), nullable=False),
    Column("origins", Text, nullable=True),
    # JSON list of the root origins (invoice, deposit, miner payout) behind the lot; NULL means [origin]
)

lot_links = Table(
    "custody_lot_links",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("vout", Integer, primary_key=True),
    Column("parent_txid", String(64), primary_key=True),
    Column("parent_vout", Integer, primary_key=True),
    Column("parent_value_sats", BigInteger, nullable=False),
    Column("parent_origin", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

sweeps = Table(
    "custody_sweeps",
    metadata,
    Column("family_id", String(64), primary_key=True),
    Column("from_wallet_id", String(64), nullable=False),
    Column("to_wallet_id", String(64), nullable=False),
    Column("to_script_pubkey", String(140), nullable=False),
    Column("created_at", String(32), nullable=False),
)

mempool_seen = Table(
    "custody_mempool_seen",
    metadata,
    Column("txid", String(64), primary_key=True),
    Column("seen_at", String(32), nullable=False),
)

batches = Table(
    "custody_batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("wallet_id", String(64), nullable=False),
    Column("state", String(24), nullable=False),
    Column("psbt", Text, nullable=False),
    Column("raw_tx", Text, nullable=True),
    Column("txid", String(64), nullable=True, unique=True),
    Column("unsigned_txid", String(64), nullable=False),
    Column("fee_sats", BigInteger, nullable=False),
    Column("feerate_sat_per_kvb", BigInteger, nullable=False),
    Column("vsize", Integer, nullable=False),
    Column("change_sats", BigInteger, nullable=True),
    Column("change_index", Integer, nullable=True),
    Column("replaces", String(64), nullable=True),
    Column("confirmed_height", Integer, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

payouts = Table(
    "custody_payouts",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("wallet_id", String(64), nullable=False),
    Column("client_account_id", String(64), nullable=False),
    Column("address", String(100), nullable=False),
    Column("amount_sats", BigInteger, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("drop_reason", String(64), nullable=True),
    Column("family_id", String(64), nullable=True),
    Column("reservation_id", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

approvals = Table(
    "custody_approvals",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("approver", String(100), primary_key=True),
    Column("signer_keys", Text, nullable=False),
    Column("psbt", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

reconciliations = Table(
    "custody_reconciliations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("height", Integer, nullable=False),
    Column("block_hash", String(64), nullable=False),
    Column("balanced", Boolean, nullable=False),
    Column("report", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

LIVE_LOT_STATES = (LotState.UNCONFIRMED, LotState.AVAILABLE, LotState.RESERVED)


# --- wallets and addresses ------------------------------------------------------------------------------


def _wallet(row: RowMapping) -> WalletRecord:
    return WalletRecord(
        row["id"],
        row["role"],
        row["input_kind"],
        row["network"],
        row["descriptor"],
        row["sealed_secret"],
        row["ledger_account_id"],
        row["next_receive_index"],
        row["next_change_index"],
        row["gap_limit"],
    )


def insert_wallet(session: Session, wallet: WalletRecord, now: str) -> None:
    session.execute(
        insert(wallets),
        dict(
            id=wallet.id,
            role=wallet.role,
            input_kind=wallet.input_kind,
            network=wallet.network,
            descriptor=wallet.descriptor,
            sealed_secret=wallet.sealed_secret,
            ledger_account_id=wallet.ledger_account_id,
            next_receive_index=wallet.next_receive_index,
            next_change_index=wallet.next_change_index,
            gap_limit=wallet.gap_limit,
            created_at=now,
        ),
    )


def get_wallet(session: Session, wallet_id: str, *, lock: bool = False) -> WalletRecord | None:
    query = select(wallets).where(wallets.c.id == wallet_id)
    if lock:
        # FOR NO KEY UPDATE: serialises the wallet's own work (address indexes, building a batch) but not
        # the foreign-key checks of rows that name the wallet. With FOR UPDATE, an approval inserting a
        # payout (holding its ledger accounts) and the batcher (holding the wallet, then voiding a dropped
        # payout's reservation on those accounts) waited on each other: a deadlock seen under load.
        query = query.with_for_update(key_share=True)
    row = session.execute(query).mappings().first()
    return None if row is None else _wallet(row)


def all_wallets(session: Session) -> list[WalletRecord]:
    return [_wallet(r) for r in session.execute(select(wallets).order_by(wallets.c.id)).mappings()]


def set_wallet_indexes(session: Session, wallet_id: str, receive: int, change: int) -> None:
    session.execute(
        update(wallets).where(wallets.c.id == wallet_id),
        dict(next_receive_index=receive, next_change_index=change),
    )


def _address(row: RowMapping) -> AddressRecord:
    return AddressRecord(
        bytes.fromhex(row["script_pubkey"]),
        row["address"],
        row["wallet_id"],
        row["branch"],
        row["derivation_index"],
        AddressPurpose(row["purpose"]),
        row["record"],
        row["credit_account_id"],
    )


def insert_address(session: Session, address: AddressRecord, now: str) -> None:
    session.execute(
        insert(addresses),
        dict(
            script_pubkey=address.script_pubkey.hex(),
            address=address.address,
            wallet_id=address.wallet_id,
            branch=address.branch,
            derivation_index=address.index,
            purpose=address.purpose.value,
            record=address.record,
            credit_account_id=address.credit_account_id,
            created_at=now,
        ),
    )


def address_by_script(session: Session, script: bytes) -> AddressRecord | None:
    row = (
        session.execute(select(addresses).where(addresses.c.script_pubkey == script.hex())).mappings().first()
    )
    return None if row is None else _address(row)


def addresses_by_scripts(session: Session, scripts: Collection[bytes]) -> dict[bytes, AddressRecord]:
    if not scripts:
        return {}
    query = select(addresses).where(addresses.c.script_pubkey.in_([s.hex() for s in scripts]))
    return {r.script_pubkey: r for r in (_address(row) for row in session.execute(query).mappings())}


def all_address_scripts(session: Session) -> list[bytes]:
    return [bytes.fromhex(s) for s in session.execute(select(addresses.c.script_pubkey)).scalars()]


# --- followed blocks ------------------------------------------------------------------------------------


def last_block(session: Session) -> tuple[int, str] | None:
    row = session.execute(
        select(blocks.c.height, blocks.c.hash).order_by(blocks.c.height.desc()).limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


def block_hash_at(session: Session, height: int) -> str | None:
    value = session.execute(select(blocks.c.hash).where(blocks.c.height == height)).scalar()
    return None if value is None else str(value)


def insert_block(
    session: Session, height: int, block_hash: str, prev_hash: str, tx_count: int, now: str
) -> None:
    session.execute(
        insert(blocks),
        dict(height=height, hash=block_hash, prev_hash=prev_hash, tx_count=tx_count, processed_at=now),
    )


def delete_block(session: Session, height: int) -> None:
    session.execute(delete(blocks).where(blocks.c.height == height))


# --- lots ----------------------------------------------------------------------------------------------


def _lot(row: RowMapping) -> LotRecord:
    return LotRecord(
        row["txid"],
        row["vout"],
        row["wallet_id"],
        bytes.fromhex(row["script_pubkey"]),
        row["value_sats"],
        row["origin"],
        row["credit_account_id"],
        bool(row["coinbase"]),
        LotState(row["state"]),
        row["block_height"],
        row["spent_by"],
        row["spent_height"],
        row["reserved_by"],
        row["credit_transfer_id"],
        row["credit_count"],
    )


def insert_lot(
    session: Session,
    lot: LotRecord,
    block_hash: str | None,
    now: str,
    *,
    origins: Collection[str] | None = None,
) -> None:
    session.execute(
        insert(lots),
        dict(
            txid=lot.txid,
            vout=lot.vout,
            wallet_id=lot.wallet_id,
            script_pubkey=lot.script_pubkey.hex(),
            value_sats=lot.value_sats,
            origin=lot.origin,
            credit_account_id=lot.credit_account_id,
            coinbase=lot.coinbase,
            state=lot.state.value,
            block_height=lot.block_height,
            block_hash=block_hash,
            spent_by=lot.spent_by,
            spent_height=lot.spent_height,
            reserved_by=lot.reserved_by,
            credit_transfer_id=lot.credit_transfer_id,
            credit_count=lot.credit_count,
            first_seen_at=now,
            origins=json.dumps(sorted(set(origins if origins is not None else [lot.origin]))),
        ),
    )


def get_lot(session: Session, txid: str, vout: int) -> LotRecord | None:
    row = session.execute(select(lots).where(lots.c.txid == txid, lots.c.vout == vout)).mappings().first()
    return None if row is None else _lot(row)


def update_lot(session: Session, txid: str, vout: int, **values: Any) -> None:
    session.execute(update(lots).where(lots.c.txid == txid, lots.c.vout == vout), values)


def lots_where(session: Session, *conditions: Any, lock: bool = False) -> list[LotRecord]:
    query = select(lots).where(*conditions).order_by(lots.c.txid, lots.c.vout)
    if lock:
        query = query.with_for_update()
    return [_lot(row) for row in session.execute(query).mappings()]


def live_outpoints(session: Session) -> list[tuple[str, int]]:
    """Outputs we hold that are not known to be spent in the best chain (their spends are to be found)."""
    query = select(lots.c.txid, lots.c.vout).where(
        or_(lots.c.state.in_([s.value for s in LIVE_LOT_STATES]), lots.c.spent_height.is_(None))
    )
    return [(str(t), int(v)) for t, v in session.execute(query)]


def lots_to_credit(session: Session, max_height: int) -> list[LotRecord]:
    return lots_where(
        session,
        lots.c.block_height.is_not(None),
        lots.c.block_height <= max_height,
        lots.c.credit_transfer_id.is_(None),
        lots.c.credit_account_id.is_not(None),
    )


def lots_of_txid(session: Session, txid: str) -> list[LotRecord]:
    return lots_where(session, lots.c.txid == txid)


def wallet_lot_sum_at(session: Session, wallet_id: str, height: int) -> tuple[int, int]:
    """(sats, count) of the wallet's outputs confirmed at or below ``height`` and unspent at ``height``."""
    query = select(func.coalesce(func.sum(lots.c.value_sats), 0), func.count()).where(
        lots.c.wallet_id == wallet_id,
        lots.c.block_height.is_not(None),
        lots.c.block_height <= height,
        or_(lots.c.spent_height.is_(None), lots.c.spent_height > height),
    )
    row = session.execute(query).one()
    return int(row[0]), int(row[1])


def origins_of(session: Session, outpoints: Collection[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
    """The root origins behind each lot: its own origin for a received output, the union of its inputs'
    origins for an output of our own transaction (change, a sweep)."""
    found: dict[tuple[str, int], list[str]] = {}
    wanted = set(outpoints)
    if not wanted:
        return found
    txids = sorted({txid for txid, _ in wanted})
    for start in range(0, len(txids), 500):
        query = select(lots.c.txid, lots.c.vout, lots.c.origin, lots.c.origins).where(
            lots.c.txid.in_(txids[start : start + 500])
        )
        for txid, vout, origin, origins in session.execute(query):
            if (txid, vout) in wanted:
                found[(str(txid), int(vout))] = json.loads(origins) if origins else [str(origin)]
    return found


def insert_lot_links(session: Session, txid: str, vout: int, parents: Sequence[LotRecord], now: str) -> None:
    if parents:
        session.execute(
            insert(lot_links),
            [
                {"txid": txid, "vout": vout, "parent_txid": p.txid, "parent_vout": p.vout,
                 "parent_value_sats": p.value_sats, "parent_origin": p.origin, "created_at": now}
                for p in parents
            ],
        )  # fmt: skip


def lot_parents(session: Session, txid: str, vout: int) -> list[tuple[str, int, int, str]]:
    """(txid, vout, value, origin) of the lots whose spending created this one."""
    query = (
        select(lot_links.c.parent_txid, lot_links.c.parent_vout, lot_links.c.parent_value_sats,
               lot_links.c.parent_origin)
        .where(lot_links.c.txid == txid, lot_links.c.vout == vout)
        .order_by(lot_links.c.parent_txid, lot_links.c.parent_vout)
    )  # fmt: skip
    return [(str(t), int(v), int(s), str(o)) for t, v, s, o in session.execute(query)]


def lot_children(session: Session, txid: str, vout: int) -> list[tuple[str, int]]:
    """Lots created by spending this one; a member of a replaced family that left the mempool is not."""
    query = (
        select(lot_links.c.txid, lot_links.c.vout)
        .join(lots, and_(lots.c.txid == lot_links.c.txid, lots.c.vout == lot_links.c.vout))
        .where(
            lot_links.c.parent_txid == txid,
            lot_links.c.parent_vout == vout,
            lots.c.state != LotState.DROPPED.value,
        )
        .order_by(lot_links.c.txid, lot_links.c.vout)
    )
    return [(str(t), int(v)) for t, v in session.execute(query)]


# --- mempool sightings -----------------------------------------------------------------------------------


def seen_txids(session: Session) -> set[str]:
    return {str(t) for t in session.execute(select(mempool_seen.c.txid)).scalars()}


def add_seen(session: Session, txids: Collection[str], now: str) -> None:
    if txids:
        session.execute(insert(mempool_seen), [{"txid": t, "seen_at": now} for t in sorted(txids)])


def forget_seen(session: Session, txids: Collection[str]) -> None:
    if txids:
        session.execute(delete(mempool_seen).where(mempool_seen.c.txid.in_(sorted(txids))))


# --- batches and payouts ---------------------------------------------------------------------------------


def _batch(row: RowMapping) -> BatchRecord:
    return BatchRecord(
        row["id"],
        row["family_id"],
        row["wallet_id"],
        BatchState(row["state"]),
        row["psbt"],
        row["raw_tx"],
        row["txid"],
        row["unsigned_txid"],
        row["fee_sats"],
        row["feerate_sat_per_kvb"],
        row["vsize"],
        row["change_sats"],
        row["change_index"],
        row["replaces"],
        row["confirmed_height"],
    )


def insert_batch(session: Session, batch: BatchRecord, now: str) -> None:
    session.execute(
        insert(batches),
        dict(
            id=batch.id,
            family_id=batch.family_id,
            wallet_id=batch.wallet_id,
            state=batch.state.value,
            psbt=batch.psbt,
            raw_tx=batch.raw_tx,
            txid=batch.txid,
            unsigned_txid=batch.unsigned_txid,
            fee_sats=batch.fee_sats,
            feerate_sat_per_kvb=batch.feerate_sat_per_kvb,
            vsize=batch.vsize,
            change_sats=batch.change_sats,
            change_index=batch.change_index,
            replaces=batch.replaces,
            confirmed_height=batch.confirmed_height,
            created_at=now,
            updated_at=now,
        ),
    )


def get_batch(session: Session, batch_id: str, *, lock: bool = False) -> BatchRecord | None:
    query = select(batches).where(batches.c.id == batch_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).mappings().first()
    return None if row is None else _batch(row)


def batch_by_txid(session: Session, txid: str) -> BatchRecord | None:
    row = session.execute(select(batches).where(batches.c.txid == txid)).mappings().first()
    return None if row is None else _batch(row)


def batches_where(session: Session, *conditions: Any, lock: bool = False) -> list[BatchRecord]:
    query = select(batches).where(*conditions).order_by(batches.c.created_at, batches.c.id)
    if lock:
        query = query.with_for_update()
    return [_batch(row) for row in session.execute(query).mappings()]


def update_batch(session: Session, batch_id: str, now: str, **values: Any) -> None:
    session.execute(update(batches).where(batches.c.id == batch_id), dict(updated_at=now, **values))


def _payout(row: RowMapping) -> PayoutRecord:
    return PayoutRecord(
        row["id"],
        row["wallet_id"],
        row["client_account_id"],
        row["address"],
        row["amount_sats"],
        row["reference"],
        PayoutState(row["state"]),
        row["drop_reason"],
        row["family_id"],
        row["reservation_id"],
    )


def insert_payout(session: Session, payout: PayoutRecord, fingerprint: str, now: str) -> None:
    session.execute(
        insert(payouts),
        dict(
            id=payout.id,
            wallet_id=payout.wallet_id,
            client_account_id=payout.client_account_id,
            address=payout.address,
            amount_sats=payout.amount_sats,
            reference=payout.reference,
            state=payout.state.value,
            drop_reason=payout.drop_reason,
            family_id=payout.family_id,
            reservation_id=payout.reservation_id,
            fingerprint=fingerprint,
            created_at=now,
            updated_at=now,
        ),
    )


def get_payout(session: Session, payout_id: str) -> tuple[PayoutRecord, str] | None:
    row = session.execute(select(payouts).where(payouts.c.id == payout_id)).mappings().first()
    return None if row is None else (_payout(row), str(row["fingerprint"]))


def payouts_where(session: Session, *conditions: Any, lock: bool = False) -> list[PayoutRecord]:
    query = select(payouts).where(*conditions).order_by(payouts.c.created_at, payouts.c.id)
    if lock:
        query = query.with_for_update()
    return [_payout(row) for row in session.execute(query).mappings()]


def update_payouts(session: Session, ids: Sequence[str], now: str, **values: Any) -> None:
    if ids:
        session.execute(update(payouts).where(payouts.c.id.in_(list(ids))), dict(updated_at=now, **values))


def insert_approval(session: Session, batch_id: str, approver: str, keys: str, psbt: str, now: str) -> None:
    session.execute(
        insert(approvals),
        dict(batch_id=batch_id, approver=approver, signer_keys=keys, psbt=psbt, created_at=now),
    )


def approvals_of(session: Session, batch_id: str) -> list[tuple[str, str, str]]:
    query = select(approvals.c.approver, approvals.c.signer_keys, approvals.c.psbt).where(
        approvals.c.batch_id == batch_id
    )
    return [(str(a), str(k), str(p)) for a, k, p in session.execute(query.order_by(approvals.c.created_at))]


def insert_sweep(
    session: Session, family_id: str, from_wallet_id: str, to_wallet_id: str, to_script: bytes, now: str
) -> None:
    session.execute(
        insert(sweeps), dict(
            family_id=family_id, from_wallet_id=from_wallet_id, to_wallet_id=to_wallet_id,
            to_script_pubkey=to_script.hex(), created_at=now,
        )
    )  # fmt: skip


def get_sweep(session: Session, family_id: str) -> tuple[str, str, bytes] | None:
    """(from wallet, to wallet, destination script) of a sweep family; None for a payout batch."""
    row = session.execute(select(sweeps).where(sweeps.c.family_id == family_id)).mappings().first()
    if row is None:
        return None
    return str(row["from_wallet_id"]), str(row["to_wallet_id"]), bytes.fromhex(row["to_script_pubkey"])


def insert_reconciliation(
    session: Session, height: int, block_hash: str, balanced: bool, report: str, now: str
) -> int:
    result = session.execute(
        insert(reconciliations)
        .values(height=height, block_hash=block_hash, balanced=balanced, report=report, created_at=now)
        .returning(reconciliations.c.id)
    )
    return int(result.scalar_one())


def spent_unconfirmed_by(session: Session, txid: str) -> list[LotRecord]:
    return lots_where(session, and_(lots.c.spent_by == txid, lots.c.spent_height.is_(None)))


def batch_pending_rebroadcast(session: Session, txid: str | None) -> bool:
    """Whether ``txid`` is one of our batches that the batcher keeps sending until it confirms."""
    if txid is None:
        return False
    batch = batch_by_txid(session, txid)
    return batch is not None and batch.state in (
        BatchState.SIGNED,
        BatchState.BROADCAST,
        BatchState.CONFIRMED,
    )


# --- for settlement ---


def lots_paid_to(session: Session, script: bytes) -> list[tuple[LotRecord, str]]:
    """Every output ever paid to ``script`` that is not dropped, with when the follower first saw it."""
    query = select(lots).where(lots.c.script_pubkey == script.hex(), lots.c.state != LotState.DROPPED.value)
    rows = session.execute(query.order_by(lots.c.first_seen_at, lots.c.txid, lots.c.vout)).mappings()
    return [(_lot(row), row["first_seen_at"]) for row in rows]


def address_by_text(session: Session, address: str) -> AddressRecord | None:
    row = session.execute(select(addresses).where(addresses.c.address == address)).mappings().first()
    return None if row is None else _address(row)


def addresses_where(session: Session, *conditions: Any) -> list[AddressRecord]:
    rows = session.execute(select(addresses).where(*conditions).order_by(addresses.c.created_at)).mappings()
    return [_address(row) for row in rows]
