"""Coin selection: properties that must hold for any wallet state, and the branch-and-bound behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.custody.coinselect import InsufficientFunds, SelectionParams, select_coins
from corridor.custody.fees import InputKind, dust_threshold, fee_for, input_vsize, tx_vsize
from corridor.custody.model import Lot, Payout, Selection

from .conftest import fake_txid

P2WPKH = bytes.fromhex("0014" + "ab" * 20)
P2TR = bytes.fromhex("5120" + "cd" * 32)
CHANGE = bytes.fromhex("0014" + "ee" * 20)
KINDS = {
    InputKind.P2WPKH: P2WPKH,
    InputKind.P2TR_KEYPATH: P2TR,
    InputKind.P2WSH_2_OF_3: bytes.fromhex("0020" + "11" * 32),
}


def lot(value: int, n: int, kind: InputKind = InputKind.P2WPKH, origin: str = "") -> Lot:
    return Lot(fake_txid(f"lot{n}"), n % 3, value, KINDS[kind], kind, 0, n, origin)


def check_invariants(selection: Selection, payouts: list[Payout], params: SelectionParams) -> None:
    payout_total = sum(p.amount_sats for p in payouts)
    change = selection.change_sats or 0
    # No satoshi is created or lost.
    assert selection.input_sats == payout_total + change + selection.fee_sats
    # The fee pays at least the requested rate for the real size of the transaction.
    lens = [len(p.script_pubkey) for p in payouts] + ([len(CHANGE)] if selection.change_sats else [])
    vsize = tx_vsize([i.kind for i in selection.inputs], lens)
    assert selection.vsize == vsize
    assert selection.fee_sats >= fee_for(vsize, params.feerate_sat_per_kvb)
    # Change is worth keeping or absent.
    if selection.change_sats is not None:
        assert selection.change_sats >= dust_threshold(CHANGE)
    assert len({i.outpoint for i in selection.inputs}) == len(selection.inputs)
    if params.max_inputs is not None:
        assert len(selection.inputs) <= params.max_inputs
    if params.eligible is not None:
        assert all(params.eligible(i) for i in selection.inputs)


def assert_refusal_was_necessary(lots: list[Lot], payouts: list[Payout], params: SelectionParams) -> None:
    """Independent oracle: the best allowed inputs (top effective values) cannot pay payouts plus fee."""
    rate = params.feerate_sat_per_kvb
    allowed = [x for x in lots if params.eligible is None or params.eligible(x)]
    effective = sorted((x.value_sats - fee_for(input_vsize(x.kind), rate) for x in allowed), reverse=True)
    best = [e for e in effective if e > 0][: params.max_inputs or len(effective)]
    fixed_fee = fee_for(tx_vsize([], [len(p.script_pubkey) for p in payouts]), rate)
    # The selector also budgets the half-vbyte segwit marker; allow that one vbyte and a sat of rounding.
    slack = fee_for(1, rate) + 1
    assert sum(best) < sum(p.amount_sats for p in payouts) + fixed_fee + slack


lots_strategy = st.lists(
    st.tuples(st.integers(1, 5_000_000), st.sampled_from(list(InputKind))), min_size=1, max_size=40
)
payouts_strategy = st.lists(st.integers(1_000, 3_000_000), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    lot_specs=lots_strategy,
    amounts=payouts_strategy,
    rate=st.integers(1_000, 200_000),
    max_inputs=st.none() | st.integers(1, 10),
    origin_filter=st.booleans(),
)
def test_selection_invariants(
    lot_specs: list[tuple[int, InputKind]],
    amounts: list[int],
    rate: int,
    max_inputs: int | None,
    origin_filter: bool,
) -> None:
    lots = [
        lot(v, n, kind, origin="client-a" if n % 2 else "client-b") for n, (v, kind) in enumerate(lot_specs)
    ]
    payouts = [Payout(P2WPKH if i % 2 else P2TR, a) for i, a in enumerate(amounts)]
    params = SelectionParams(
        rate,
        CHANGE,
        max_inputs=max_inputs,
        eligible=(lambda x: x.origin == "client-a") if origin_filter else None,
    )
    try:
        selection = select_coins(lots, payouts, params)
    except InsufficientFunds:
        assert_refusal_was_necessary(lots, payouts, params)
        return
    check_invariants(selection, payouts, params)


def test_bnb_finds_an_exact_match_without_change() -> None:
    rate = 2_000
    payouts = [Payout(P2WPKH, 500_000)]
    spend = fee_for(68, rate)
    fixed = fee_for(tx_vsize([], [22]) + 1, rate)
    # Two lots whose effective values sum exactly to the target, hidden among bigger and smaller ones.
    exact_pair = [lot(300_000 + spend, 1), lot(200_000 + spend + fixed, 2)]
    noise = [lot(900_000, 3), lot(10_000, 4), lot(123_457, 5)]
    params = SelectionParams(rate, CHANGE)
    selection = select_coins(noise + exact_pair, payouts, params)
    assert selection.algorithm == "bnb"
    assert selection.change_sats is None
    assert {i.vout for i in selection.inputs} == {1, 2}
    check_invariants(selection, payouts, params)


def test_fallback_adds_change_when_no_exact_match() -> None:
    payouts = [Payout(P2WPKH, 250_000)]
    params = SelectionParams(5_000, CHANGE)
    selection = select_coins([lot(1_000_000, 1), lot(700_000, 2)], payouts, params)
    assert selection.algorithm == "largest_first" and selection.change_sats is not None
    assert [i.value_sats for i in selection.inputs] == [1_000_000]
    check_invariants(selection, payouts, params)


def test_dust_change_is_given_to_the_fee() -> None:
    rate = 1_000
    payouts = [Payout(P2WPKH, 100_000)]
    no_change_fee = fee_for(tx_vsize([InputKind.P2WPKH], [22]), rate)
    # Just above what BnB's window accepts, far below a useful change output.
    value = 100_000 + no_change_fee + 200
    params = SelectionParams(rate, CHANGE, long_term_feerate_sat_per_kvb=1_000)
    selection = select_coins([lot(value, 1)], payouts, params)
    assert selection.change_sats is None and selection.fee_sats == no_change_fee + 200
    check_invariants(selection, payouts, params)


def test_constraints_are_honoured_or_selection_fails() -> None:
    lots = [lot(100_000, n, origin="A" if n < 3 else "B") for n in range(6)]
    payouts = [Payout(P2WPKH, 250_000)]
    only_a = SelectionParams(1_000, CHANGE, eligible=lambda x: x.origin == "A")
    selection = select_coins(lots, payouts, only_a)
    assert {i.origin for i in selection.inputs} == {"A"}
    with pytest.raises(InsufficientFunds):
        select_coins(lots, payouts, SelectionParams(1_000, CHANGE, max_inputs=2))
    with pytest.raises(InsufficientFunds):
        select_coins(lots, [Payout(P2WPKH, 350_000)], only_a)


def test_uneconomic_lots_are_skipped() -> None:
    rate = 100_000  # 100 sat/vB: a 68 vB input costs 6,800 sats
    lots = [lot(5_000, 1), lot(1_000_000, 2)]
    selection = select_coins(lots, [Payout(P2WPKH, 20_000)], SelectionParams(rate, CHANGE))
    assert [i.vout for i in selection.inputs] == [lots[1].vout]


def test_duplicate_outpoints_count_once() -> None:
    twin = lot(100_000, 1)
    with pytest.raises(InsufficientFunds):
        select_coins([twin, twin], [Payout(P2WPKH, 150_000)], SelectionParams(1_000, CHANGE))
