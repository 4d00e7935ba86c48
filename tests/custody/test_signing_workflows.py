"""Build, sign, combine, finalise and extract real transactions; libbitcoinkernel checks every input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from embit import ec

from corridor.bitcoin import parse_address
from corridor.custody.coinselect import SelectionParams, select_coins
from corridor.custody.descriptors import DescriptorWallet, HotWallet
from corridor.custody.fees import InputKind, fee_for
from corridor.custody.model import Lot, Payout
from corridor.custody.psbt import (
    PsbtError,
    build_batch_psbt,
    combine_psbts,
    extract_transaction,
    finalize_psbt,
    parse_psbt,
    psbt_fee,
    sign_psbt,
)

from .conftest import account_key, fake_txid, hd_root, kernel_verify, make_lot, vsize_of

# Addresses of every standard type, from Core's key_io vectors for regtest-compatible prefixes.
PAYEE_ADDRESSES = [
    "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6",
]
RATE = 5_000  # 5 sat/vB


def payees(count: int, extra: list[bytes] | None = None) -> list[Payout]:
    scripts = [parse_address(a, "regtest").script_pubkey for a in PAYEE_ADDRESSES] + (extra or [])
    return [Payout(scripts[i % len(scripts)], 10_000 + 137 * i, f"payout-{i}") for i in range(count)]


def spent_outputs(lots: tuple[Lot, ...]) -> list[tuple[bytes, int]]:
    return [(lot.script_pubkey, lot.value_sats) for lot in lots]


def test_hot_wallet_batch_of_100_outputs_verifies_in_libbitcoinkernel() -> None:
    hot = HotWallet(bytes(range(1, 33)), "regtest")
    other_types = [
        bytes.fromhex("76a914a31c06bd463e3923bc1aadbde48b16976c08071788ac"),
        bytes.fromhex("a914373b819a068f32b7a6b38b6b38729647cfde01c287"),
        bytes.fromhex("0020" + "11" * 32),
    ]
    payouts = payees(100, other_types)
    lots = [
        make_lot(hot.script_pubkey, 400_000 + 1_000 * i, InputKind.P2WPKH, index=i, seed="hot")
        for i in range(8)
    ]
    selection = select_coins(lots, payouts, SelectionParams(RATE, hot.script_pubkey))
    psbt = build_batch_psbt(selection, payouts, wallet=hot)
    assert sign_psbt(psbt, hot.signing_key) == len(selection.inputs)
    tx = extract_transaction(finalize_psbt(psbt))

    assert kernel_verify(tx, spent_outputs(selection.inputs)) == [True] * len(selection.inputs)
    assert psbt_fee(psbt) == selection.fee_sats
    actual_vsize = vsize_of(tx)
    assert actual_vsize <= selection.vsize  # the estimate is an upper bound ...
    assert selection.vsize - actual_vsize <= len(selection.inputs)  # ... and a tight one
    assert selection.fee_sats >= fee_for(actual_vsize, RATE)


def test_tampering_after_signing_is_caught_by_the_kernel() -> None:
    hot = HotWallet(bytes(range(2, 34)), "regtest")
    payouts = payees(3)
    lots = [make_lot(hot.script_pubkey, 1_000_000, InputKind.P2WPKH, seed="tamper")]
    selection = select_coins(lots, payouts, SelectionParams(RATE, hot.script_pubkey))
    psbt = build_batch_psbt(selection, payouts, wallet=hot)
    sign_psbt(psbt, hot.signing_key)
    finalize_psbt(psbt)
    psbt.outputs[0].value += 1  # a payee quietly gets one more sat
    assert kernel_verify(extract_transaction(psbt), spent_outputs(selection.inputs)) == [False]


@pytest.fixture(scope="module")
def treasury() -> tuple[DescriptorWallet, list]:
    approvers = [hd_root(f"approver-{n}") for n in range(3)]
    keys = [account_key(root, "m/48'/1'/0'/2'") for root in approvers]
    return DescriptorWallet.treasury(keys, "regtest"), approvers


@pytest.mark.parametrize("pair", list(itertools.combinations(range(3), 2)))
def test_treasury_two_of_three_with_independent_approvers(treasury: tuple, pair: tuple[int, int]) -> None:
    wallet, approvers = treasury
    payouts = payees(10)
    lots = [
        make_lot(
            wallet.derive(i).script_pubkey, 150_000, InputKind.P2WSH_2_OF_3, index=i, seed=f"treasury{pair}"
        )
        for i in range(3)
    ]
    selection = select_coins(lots, payouts, SelectionParams(RATE, wallet.derive(0, change=True).script_pubkey,
                                                            change_input_kind=InputKind.P2WSH_2_OF_3))  # fmt: skip
    unsigned = build_batch_psbt(selection, payouts, wallet=wallet, change_index=0).to_base64()

    # Each approver receives the PSBT as text, checks it strictly, and signs alone.
    signed = []
    for n in pair:
        copy = parse_psbt(unsigned)
        assert sign_psbt(copy, approvers[n]) == len(selection.inputs)
        signed.append(parse_psbt(copy.to_base64()))
    combined = combine_psbts(signed)
    tx = extract_transaction(finalize_psbt(combined))
    assert kernel_verify(tx, spent_outputs(selection.inputs)) == [True] * len(selection.inputs)
    actual = vsize_of(tx)
    assert actual <= selection.vsize <= actual + len(selection.inputs) + 1


def test_one_approver_is_not_enough(treasury: tuple) -> None:
    wallet, approvers = treasury
    payouts = payees(2)
    lots = [make_lot(wallet.derive(5).script_pubkey, 500_000, InputKind.P2WSH_2_OF_3, index=5, seed="alone")]
    selection = select_coins(
        lots, payouts, SelectionParams(RATE, wallet.derive(1, change=True).script_pubkey)
    )
    psbt = build_batch_psbt(selection, payouts, wallet=wallet, change_index=1)
    sign_psbt(psbt, approvers[0])
    with pytest.raises(PsbtError, match="1 of 2 required signatures"):
        finalize_psbt(psbt)


def test_outsider_cannot_sign_and_psbts_of_other_transactions_do_not_combine(treasury: tuple) -> None:
    wallet, _ = treasury
    lot = make_lot(wallet.derive(2).script_pubkey, 500_000, InputKind.P2WSH_2_OF_3, index=2, seed="outsider")
    params = SelectionParams(RATE, wallet.derive(2, change=True).script_pubkey)
    first = build_batch_psbt(select_coins([lot], payees(1), params), payees(1), wallet=wallet, change_index=2)
    second = build_batch_psbt(
        select_coins([lot], payees(2), params), payees(2), wallet=wallet, change_index=2
    )
    with pytest.raises(PsbtError, match="cannot sign"):
        sign_psbt(first, hd_root("mallory"))
    with pytest.raises(PsbtError, match="different transactions"):
        combine_psbts([first, second])


def test_lot_from_another_wallet_is_refused(treasury: tuple) -> None:
    wallet, _ = treasury
    stranger = Lot(fake_txid("x"), 0, 100_000, bytes.fromhex("0014" + "22" * 20), InputKind.P2WSH_2_OF_3)
    params = SelectionParams(RATE, wallet.derive(0, change=True).script_pubkey)
    selection = select_coins([stranger], payees(1), params)
    with pytest.raises(PsbtError, match="not paid to this wallet"):
        build_batch_psbt(selection, payees(1), wallet=wallet)


@pytest.mark.parametrize("taproot", [True, False])
def test_receive_wallet_sweep_with_key_and_script_types(taproot: bool) -> None:
    root = hd_root("receive")
    path = "m/86'/1'/0'" if taproot else "m/84'/1'/0'"
    wallet = DescriptorWallet.receive(account_key(root, path), "regtest", taproot=taproot)
    kind = InputKind.P2TR_KEYPATH if taproot else InputKind.P2WPKH
    lots = [
        make_lot(wallet.derive(i).script_pubkey, 60_000 + i, kind, index=i, seed=f"recv{taproot}")
        for i in range(4)
    ]
    lots.append(
        Lot(fake_txid("chg"), 1, 70_000, wallet.derive(3, change=True).script_pubkey, kind, branch=1, index=3)
    )
    payouts = payees(5)
    selection = select_coins(lots, payouts, SelectionParams(RATE, wallet.derive(7, change=True).script_pubkey,
                                                            change_input_kind=kind))  # fmt: skip
    psbt = parse_psbt(build_batch_psbt(selection, payouts, wallet=wallet, change_index=7).to_base64())
    sign_psbt(psbt, root)
    tx = extract_transaction(finalize_psbt(psbt))
    assert kernel_verify(tx, spent_outputs(selection.inputs)) == [True] * len(selection.inputs)
    assert vsize_of(tx) <= selection.vsize


def test_change_output_carries_its_derivation(treasury: tuple) -> None:
    wallet, approvers = treasury
    lot = make_lot(wallet.derive(9).script_pubkey, 900_000, InputKind.P2WSH_2_OF_3, index=9, seed="change")
    change_script = wallet.derive(4, change=True).script_pubkey
    selection = select_coins([lot], payees(1), SelectionParams(RATE, change_script))
    assert selection.change_sats is not None
    psbt = build_batch_psbt(selection, payees(1), wallet=wallet, change_index=4)
    change = psbt.outputs[-1]
    assert bytes(change.script_pubkey.data) == change_script and change.value == selection.change_sats
    fingerprints = {path.fingerprint for path in change.bip32_derivations.values()}
    assert fingerprints == {root.my_fingerprint for root in approvers}
    assert all(path.derivation[-2:] == [1, 4] for path in change.bip32_derivations.values())
    assert isinstance(next(iter(change.bip32_derivations)), ec.PublicKey)


def test_signed_psbt_round_trips_through_text(tmp_path: Path) -> None:
    hot = HotWallet(bytes(range(3, 35)), "regtest")
    lots = [make_lot(hot.script_pubkey, 300_000, InputKind.P2WPKH, seed="roundtrip")]
    selection = select_coins(lots, payees(2), SelectionParams(RATE, hot.script_pubkey))
    psbt = build_batch_psbt(selection, payees(2), wallet=hot)
    sign_psbt(psbt, hot.signing_key)
    (tmp_path / "batch.psbt").write_bytes(psbt.serialize())
    again = parse_psbt((tmp_path / "batch.psbt").read_bytes())
    tx = extract_transaction(finalize_psbt(again))
    assert kernel_verify(tx, spent_outputs(selection.inputs)) == [True]
