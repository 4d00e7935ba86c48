"""Reads shared by the items of one batch: a batch of 100 payment orders under one contract checks the
same contract, participant, wallet, payee screening and accounts 100 times over.

A batch function opens :func:`batch_reads` around its items; inside it, :func:`remembered` answers a
lookup from what the first item read. Outside a batch, :func:`remembered` simply reads. What is remembered
must be something the batch's own items do not change (a contract's standing, a wallet, an account's
existence, a price quoted for the whole batch): the items of a batch of orders write orders, quotes, holds
and limit usage, never contracts or participants. Anything an item read or created inside a savepoint that
rolled back may be gone, so a rollback of any kind forgets everything and the next item reads afresh.

The difference from a cache: it lives for one batch in one transaction, under the transaction's own locks
and snapshot, so it can never serve another transaction's or an earlier batch's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

T = TypeVar("T")

_KEY = "corridor.db.batch_reads"


@contextmanager
def batch_reads(session: Session) -> Iterator[None]:
    """Share reads between the items of a batch for the duration of the block (nested blocks share one)."""
    if _KEY in session.info:
        yield
        return
    session.info[_KEY] = {}
    try:
        yield
    finally:
        session.info.pop(_KEY, None)


def remembered(session: Session, key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, or inside :func:`batch_reads` what it returned the first time for ``key``."""
    known: dict[Hashable, Any] | None = session.info.get(_KEY)
    if known is None:
        return read()
    if key not in known:
        known[key] = read()
    value: T = known[key]
    return value


def prefetch(session: Session, values: dict[Hashable, Any]) -> None:
    """Remember values read in bulk for the batch's items (one query for a chunk's orders instead of one
    per order); outside :func:`batch_reads` it does nothing and each item reads for itself."""
    known: dict[Hashable, Any] | None = session.info.get(_KEY)
    if known is not None:
        known.update(values)


def update_remembered(session: Session, key: Hashable, value: Any) -> None:
    """Keep a remembered value in step with a change the batch itself made (a running total)."""
    known: dict[Hashable, Any] | None = session.info.get(_KEY)
    if known is not None and key in known:
        known[key] = value


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    known: dict[Hashable, Any] | None = session.info.get(_KEY)
    if known is not None:
        known.clear()
