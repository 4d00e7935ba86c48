"""Size, fee-rate, dust and replacement rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.custody.fees import (
    FeeRateBounds,
    InputKind,
    OutputKind,
    ReplacementRefused,
    TxOutputSpec,
    bumped_change,
    check_fee_bump,
    dust_threshold,
    fee_for,
    input_vsize,
    is_dust,
    min_replacement_fee,
    output_kind_bytes,
    tx_vsize,
)


def test_input_and_output_sizes_match_the_well_known_figures() -> None:
    # P2WPKH 68 vB, P2TR key path 57.5 vB, P2WSH 2-of-3 104.5 vB (rounded up per input here).
    assert [input_vsize(k) for k in InputKind] == [68, 58, 105]
    assert {k: output_kind_bytes(k) for k in OutputKind} == {
        OutputKind.P2PKH: 34, OutputKind.P2SH: 32, OutputKind.P2WPKH: 31, OutputKind.P2WSH: 43, OutputKind.P2TR: 43,
    }  # fmt: skip
    # 1-in-2-out P2WPKH: the textbook 141 vB.
    assert tx_vsize([InputKind.P2WPKH], [22, 22]) == 141


def test_dust_thresholds_are_cores() -> None:
    assert dust_threshold(bytes.fromhex("76a914" + "00" * 20 + "88ac")) == 546
    assert dust_threshold(bytes.fromhex("a914" + "00" * 20 + "87")) == 540
    assert dust_threshold(bytes.fromhex("0014" + "00" * 20)) == 294
    assert dust_threshold(bytes.fromhex("0020" + "00" * 32)) == 330
    assert dust_threshold(bytes.fromhex("5120" + "00" * 32)) == 330
    assert dust_threshold(bytes.fromhex("6a0401020304")) == 0
    assert is_dust(293, bytes.fromhex("0014" + "00" * 20)) and not is_dust(
        294, bytes.fromhex("0014" + "00" * 20)
    )


def test_fee_rounds_up_and_rejects_negative() -> None:
    assert fee_for(141, 1_000) == 141
    assert fee_for(141, 1_001) == 142
    assert fee_for(0, 5_000) == 0
    with pytest.raises(ValueError):
        fee_for(-1, 1_000)


@given(rate=st.none() | st.integers(0, 10**7), floor=st.integers(1, 50_000), span=st.integers(0, 10**6))
def test_clamp_stays_within_profile_bounds(rate: int | None, floor: int, span: int) -> None:
    bounds = FeeRateBounds(floor, floor + span)
    clamped = bounds.clamp(rate)
    assert floor <= clamped <= floor + span
    if rate is not None and floor <= rate <= floor + span:
        assert clamped == rate


def test_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        FeeRateBounds(2_000, 1_000)
    with pytest.raises(ValueError):
        FeeRateBounds(0, 1_000)


PAYEE_A = bytes.fromhex("0014" + "aa" * 20)
PAYEE_B = bytes.fromhex("5120" + "bb" * 32)
CHANGE = bytes.fromhex("0014" + "cc" * 20)


def test_bip125_minimum_and_bump_out_of_change() -> None:
    assert min_replacement_fee(1_410, 141) == 1_410 + 141
    change, fee = bumped_change(50_000, original_fee_sats=1_410, replacement_vsize=141, target_rate_sat_per_kvb=20_000,
                                change_script=CHANGE)  # fmt: skip
    assert fee == 2_820 and change == 50_000 - (2_820 - 1_410)
    # A tiny target still has to beat the old fee by the incremental relay fee.
    change, fee = bumped_change(50_000, original_fee_sats=1_410, replacement_vsize=141, target_rate_sat_per_kvb=1_000,
                                change_script=CHANGE)  # fmt: skip
    assert fee == 1_551 and change == 49_859
    with pytest.raises(ReplacementRefused, match="dust"):
        bumped_change(400, original_fee_sats=1_410, replacement_vsize=141, target_rate_sat_per_kvb=1_000,
                      change_script=CHANGE)  # fmt: skip


def test_fee_bump_must_keep_every_payee_output() -> None:
    original = [TxOutputSpec(PAYEE_A, 10_000), TxOutputSpec(PAYEE_B, 20_000), TxOutputSpec(CHANGE, 50_000)]
    bumped = [TxOutputSpec(PAYEE_B, 20_000), TxOutputSpec(PAYEE_A, 10_000), TxOutputSpec(CHANGE, 48_000)]
    kwargs = {"payee_scripts": [PAYEE_A, PAYEE_B], "original_fee_sats": 1_000, "replacement_vsize": 200}
    check_fee_bump(original, bumped, replacement_fee_sats=3_000, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ReplacementRefused, match="below BIP125 minimum"):
        check_fee_bump(original, bumped, replacement_fee_sats=1_100, **kwargs)  # type: ignore[arg-type]
    shrunk = [TxOutputSpec(PAYEE_A, 9_000), TxOutputSpec(PAYEE_B, 20_000), TxOutputSpec(CHANGE, 50_000)]
    with pytest.raises(ReplacementRefused, match="payee output"):
        check_fee_bump(original, shrunk, replacement_fee_sats=3_000, **kwargs)  # type: ignore[arg-type]
    dropped = [TxOutputSpec(PAYEE_A, 10_000), TxOutputSpec(CHANGE, 68_000)]
    with pytest.raises(ReplacementRefused, match="payee output"):
        check_fee_bump(original, dropped, replacement_fee_sats=3_000, **kwargs)  # type: ignore[arg-type]
