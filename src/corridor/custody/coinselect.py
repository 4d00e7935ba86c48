"""Coin selection: branch-and-bound for a change-free match, then largest-first with change.

Branch-and-bound follows Bitcoin Core's ``SelectCoinsBnB`` (after Murch's thesis, "An Evaluation of
Coin Selection Strategies"): a depth-first search over lots sorted by effective value (value minus the
fee to spend it) for a set whose total lands in ``[target, target + cost_of_change]``, minimising waste.
When no such set exists, largest-first accumulates lots and adds a change output if it is not dust.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from corridor.custody.fees import (
    DEFAULT_DUST_RELAY_SAT_PER_KVB,
    InputKind,
    dust_threshold,
    fee_for,
    input_vsize,
    output_bytes,
    tx_vsize,
)
from corridor.custody.model import Lot, Payout, Selection

BNB_MAX_TRIES: Final = 100_000
# Core's -consolidatefeerate default: the rate at which spending an input later is assumed to cost.
DEFAULT_LONG_TERM_SAT_PER_KVB: Final = 10_000


class InsufficientFunds(ValueError):
    def __init__(self, needed_sats: int, available_sats: int) -> None:
        super().__init__(f"need {needed_sats} sats (effective), eligible lots provide {available_sats}")
        self.needed_sats = needed_sats
        self.available_sats = available_sats


@dataclass(frozen=True, slots=True)
class SelectionParams:
    feerate_sat_per_kvb: int
    change_script_pubkey: bytes
    change_input_kind: InputKind = InputKind.P2WPKH
    long_term_feerate_sat_per_kvb: int = DEFAULT_LONG_TERM_SAT_PER_KVB
    max_inputs: int | None = None
    eligible: Callable[[Lot], bool] | None = None
    dust_relay_sat_per_kvb: int = DEFAULT_DUST_RELAY_SAT_PER_KVB
    bnb_max_tries: int = BNB_MAX_TRIES


@dataclass(frozen=True, slots=True)
class _Candidate:
    lot: Lot
    effective: int
    waste: int  # fee now minus fee at the long-term rate: what spending it today costs extra


def select_coins(lots: Sequence[Lot], payouts: Sequence[Payout], params: SelectionParams) -> Selection:
    """Choose inputs paying ``payouts`` at ``params.feerate``; raises :class:`InsufficientFunds`."""
    if not payouts:
        raise ValueError("nothing to pay")
    candidates = _candidates(lots, params)
    payout_sats = sum(p.amount_sats for p in payouts)
    script_lens = [len(p.script_pubkey) for p in payouts]
    target = payout_sats + _fee_without_inputs(script_lens, params.feerate_sat_per_kvb)
    exact = _branch_and_bound(candidates, target, _cost_of_change(params), params)
    if exact is not None:
        selection = _without_change(exact, payout_sats, script_lens, params, "bnb")
        if selection is not None:
            return selection
    return _largest_first(candidates, target, payout_sats, script_lens, params)


def _candidates(lots: Sequence[Lot], params: SelectionParams) -> list[_Candidate]:
    seen: set[tuple[str, int]] = set()
    pool: list[_Candidate] = []
    for lot in lots:
        if lot.outpoint in seen or (params.eligible is not None and not params.eligible(lot)):
            continue
        seen.add(lot.outpoint)
        spend_vsize = input_vsize(lot.kind)
        fee_now = fee_for(spend_vsize, params.feerate_sat_per_kvb)
        effective = lot.value_sats - fee_now
        # A lot that costs more to spend than it holds only makes the payout more expensive.
        if effective > 0:
            waste = fee_now - fee_for(spend_vsize, params.long_term_feerate_sat_per_kvb)
            pool.append(_Candidate(lot, effective, waste))
    pool.sort(key=lambda c: (-c.effective, c.lot.outpoint))
    return pool


def _fee_without_inputs(script_lens: Sequence[int], rate: int) -> int:
    # An input-less transaction prices version, counts, outputs, locktime and the segwit marker.
    return fee_for(tx_vsize([], script_lens) + 1, rate)


def _cost_of_change(params: SelectionParams) -> int:
    create = fee_for(output_bytes(len(params.change_script_pubkey)), params.feerate_sat_per_kvb)
    spend_later = fee_for(input_vsize(params.change_input_kind), params.long_term_feerate_sat_per_kvb)
    return create + spend_later


def _branch_and_bound(
    pool: list[_Candidate], target: int, cost_of_change: int, params: SelectionParams
) -> list[_Candidate] | None:
    available = sum(c.effective for c in pool)
    if available < target:
        return None
    max_inputs = params.max_inputs if params.max_inputs is not None else len(pool)
    selected: list[int] = []
    value = waste = 0
    best: list[int] | None = None
    best_waste = 0
    fees_rising = bool(pool) and pool[0].waste > 0
    index = 0
    for _ in range(params.bnb_max_tries):
        if (
            value + available < target
            or value > target + cost_of_change
            or len(selected) > max_inputs
            or (best is not None and waste > best_waste and fees_rising)
        ):
            backtrack = True
        elif value >= target:
            total = waste + value - target
            if best is None or total <= best_waste:
                best, best_waste = list(selected), total
            backtrack = True
        else:
            backtrack = False

        if backtrack:
            if not selected:
                break
            index -= 1
            while index > selected[-1]:
                available += pool[index].effective
                index -= 1
            dropped = pool[selected.pop()]
            value -= dropped.effective
            waste -= dropped.waste
        else:
            candidate = pool[index]
            available -= candidate.effective
            previous_excluded = bool(selected) and selected[-1] != index - 1
            same_as_previous = (
                index > 0
                and candidate.effective == pool[index - 1].effective
                and candidate.waste == pool[index - 1].waste
            )
            # Excluding an equal twin already explored this branch; skip the duplicate search.
            if not (previous_excluded and same_as_previous) or not selected:
                selected.append(index)
                value += candidate.effective
                waste += candidate.waste
        index += 1
    return None if best is None else [pool[i] for i in best]


def _without_change(
    chosen: Sequence[_Candidate],
    payout_sats: int,
    script_lens: Sequence[int],
    params: SelectionParams,
    name: str,
) -> Selection | None:
    inputs = tuple(c.lot for c in chosen)
    vsize = tx_vsize([lot.kind for lot in inputs], script_lens)
    fee = sum(lot.value_sats for lot in inputs) - payout_sats
    if fee < fee_for(vsize, params.feerate_sat_per_kvb):
        return None
    waste = sum(c.waste for c in chosen) + fee - fee_for(vsize, params.feerate_sat_per_kvb)
    return Selection(inputs, payout_sats, None, fee, vsize, name, waste)


def _largest_first(
    pool: list[_Candidate], target: int, payout_sats: int, script_lens: Sequence[int], params: SelectionParams
) -> Selection:
    change_script = params.change_script_pubkey
    min_change = dust_threshold(change_script, params.dust_relay_sat_per_kvb)
    with_change_lens = [*script_lens, len(change_script)]
    limit = params.max_inputs if params.max_inputs is not None else len(pool)
    chosen: list[_Candidate] = []
    for candidate in pool[:limit]:
        chosen.append(candidate)
        if sum(c.effective for c in chosen) < target:
            continue
        inputs = tuple(c.lot for c in chosen)
        kinds = [lot.kind for lot in inputs]
        total = sum(lot.value_sats for lot in inputs)
        vsize_change = tx_vsize(kinds, with_change_lens)
        change = total - payout_sats - fee_for(vsize_change, params.feerate_sat_per_kvb)
        if change >= min_change:
            fee = total - payout_sats - change
            return Selection(inputs, payout_sats, change, fee, vsize_change, "largest_first")
        no_change = _without_change(chosen, payout_sats, script_lens, params, "largest_first")
        if no_change is not None:
            return no_change
    available = sum(c.effective for c in pool[:limit])
    raise InsufficientFunds(target, available)
