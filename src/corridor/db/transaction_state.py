"""Work a transaction keeps in ``session.info`` for its end: taken back with a rolled-back savepoint and
dropped when the transaction ends, as the database does with rows.

The registry keeps the entries it will chain at commit and the head it locked; the ledger keeps the
transfers a batch defers to its end. A savepoint that rolls back must take back what was added inside it
(and, for the registry, forget a head lock PostgreSQL released with the savepoint), and nothing may
outlive the transaction. An area names its keys once with :func:`transaction_state`; this module does the
rest for all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEYS: list[str] = []
_MARKS = "corridor.db.transaction_state.savepoints"
_ABSENT = object()


def transaction_state(key: str) -> str:
    """Declare ``session.info[key]`` as transaction state; returns ``key``. Lists are restored in place, so
    a holder of the list sees the restored content."""
    if key not in _KEYS:
        _KEYS.append(key)
    return key


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        snapshot = {key: _copy(session.info.get(key, _ABSENT)) for key in _KEYS}
        session.info.setdefault(_MARKS, {})[id(transaction)] = snapshot


@event.listens_for(Session, "after_soft_rollback")
def _restore_at_savepoint_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    snapshot = session.info.get(_MARKS, {}).pop(id(previous_transaction), None)
    if not previous_transaction.nested or snapshot is None:
        return
    for key, value in snapshot.items():
        current = session.info.get(key)
        if value is _ABSENT:
            session.info.pop(key, None)
        elif isinstance(value, list) and isinstance(current, list):
            current[:] = value
        else:
            session.info[key] = _copy(value)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    # A savepoint's snapshot stays until the outer end: the rollback event comes after its end event, and a
    # later savepoint reusing the same id() replaces it first.
    if transaction.parent is None and not transaction.nested:
        for key in (*_KEYS, _MARKS):
            session.info.pop(key, None)


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value
