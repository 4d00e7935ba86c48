"""Pure ledger rules: balance limits, two-phase arithmetic, request validation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.errors import Conflict, ValidationFailed
from corridor.ledger.model import (
    Account,
    AccountFlags,
    TransferKind,
    TransferRequest,
    apply_credit,
    apply_debit,
    post_pending,
    release_pending,
)
from corridor.registry.canonical import canonical_json

NO_NEGATIVE = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


def test_a_guarded_account_cannot_be_debited_below_zero() -> None:
    account = Account("client", "BTC", "available", "p1", NO_NEGATIVE, credits_posted=100)
    assert apply_debit(account, 100, pending=False).available == 0
    with pytest.raises(Conflict) as refused:
        apply_debit(account, 101, pending=False)
    assert refused.value.code == "exceeds_credits"


def test_pending_debits_count_against_the_limit() -> None:
    account = Account("client", "BTC", "available", "p1", NO_NEGATIVE, credits_posted=100)
    reserved = apply_debit(account, 70, pending=True)
    assert reserved.available == 30
    with pytest.raises(Conflict):
        apply_debit(reserved, 31, pending=False)


operations = st.lists(
    st.tuples(st.sampled_from(["debit", "credit", "reserve"]), st.integers(min_value=1, max_value=1_000)),
    max_size=60,
)


@given(operations)
def test_no_sequence_of_operations_takes_a_guarded_account_negative(ops: list[tuple[str, int]]) -> None:
    account = Account("a", "BTC", "available", None, NO_NEGATIVE)
    for op, amount in ops:
        try:
            if op == "credit":
                account = apply_credit(account, amount, pending=False)
            else:
                account = apply_debit(account, amount, pending=op == "reserve")
        except Conflict:
            pass
        assert account.available >= 0
        assert account.credit_balance >= 0


@given(st.integers(min_value=1, max_value=10**12), st.data())
def test_posting_moves_at_most_the_reserved_amount_and_releases_the_rest(
    reserved: int, data: st.DataObject
) -> None:
    posted = data.draw(st.integers(min_value=1, max_value=reserved))
    debit = Account("d", "BTC", "c", None, AccountFlags.NONE, debits_pending=reserved)
    credit = Account("c", "BTC", "c", None, AccountFlags.NONE, credits_pending=reserved)
    debit, credit = post_pending(debit, credit, reserved, posted)
    assert (debit.debits_pending, credit.credits_pending) == (0, 0)
    assert debit.debits_posted == credit.credits_posted == posted
    voided_debit, voided_credit = release_pending(
        Account("d", "BTC", "c", None, AccountFlags.NONE, debits_pending=reserved),
        Account("c", "BTC", "c", None, AccountFlags.NONE, credits_pending=reserved),
        reserved,
    )
    assert voided_debit.debits_posted == voided_credit.credits_posted == 0


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (
            TransferRequest("t1", debit_account_id="a", credit_account_id="a", amount=1),
            "accounts_must_be_different",
        ),
        (
            TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=0),
            "amount_must_be_positive",
        ),
        (
            TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=-5),
            "amount_must_be_positive",
        ),
        (
            TransferRequest("t 1", debit_account_id="a", credit_account_id="b", amount=5),
            "invalid_transfer_id",
        ),
        (TransferRequest("t1", kind=TransferKind.POST), "pending_id_required"),
        (TransferRequest("t1", kind=TransferKind.VOID, pending_id="p", amount=3), "invalid_amount"),
        (
            TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=5, timeout_seconds=9),
            "invalid_timeout",
        ),
    ],
)
def test_malformed_requests_name_the_rule(request_: TransferRequest, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        request_.validate()
    assert refused.value.code == code


def test_fingerprint_changes_with_any_field() -> None:
    base = TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=5)
    assert (
        base.fingerprint()
        == TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=5).fingerprint()
    )
    assert (
        base.fingerprint()
        != TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=6).fingerprint()
    )


texts = st.text(max_size=12)
metadata_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts | st.decimals(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)


@given(
    texts,
    st.sampled_from(list(TransferKind)),
    st.none() | texts,
    st.none() | st.integers(min_value=-(2**63), max_value=2**63),
    st.none() | st.integers(min_value=0, max_value=10**6),
    texts,
    st.dictionaries(texts, metadata_values, max_size=3),
)
def test_fingerprint_is_the_sha256_of_the_canonical_json_of_the_request(
    id_: str,
    kind: TransferKind,
    account: str | None,
    amount: int | None,
    timeout: int | None,
    reference: str,
    metadata: dict[str, object],
) -> None:
    # Stored fingerprints decide whether a retry is the same request, so the encoding may never drift.
    request = TransferRequest(
        id_,
        kind=kind,
        debit_account_id=account,
        credit_account_id=account,
        amount=amount,
        asset=account,
        pending_id=account,
        timeout_seconds=timeout,
        reference=reference,
        corrects=account,
        metadata=metadata,
    )
    body = {
        "id": id_,
        "kind": kind.value,
        "debit_account_id": account,
        "credit_account_id": account,
        "amount": amount,
        "asset": account,
        "pending_id": account,
        "timeout_seconds": timeout,
        "reference": reference,
        "corrects": account,
        "metadata": metadata,
    }
    assert request.fingerprint() == hashlib.sha256(canonical_json(body)).hexdigest()


def test_fingerprint_of_a_known_request_is_unchanged() -> None:
    request = TransferRequest("t1", debit_account_id="a", credit_account_id="b", amount=5, reference="ü")
    # Computed by the encoding that wrote the fingerprints already stored.
    assert request.fingerprint() == "c4c197ae7e52d3999613e0205f1bca30b7939c23ccdb4672d58bb1bda8323754"
