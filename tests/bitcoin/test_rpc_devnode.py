"""The RPC client against the devnode: the same typed calls the platform makes against bitcoind."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from corridor.bitcoin import parse_address
from corridor.bitcoin.rpc import BatchCall, BitcoinRpc, RpcError, RpcErrorCode
from corridor.custody.coinselect import SelectionParams, select_coins
from corridor.custody.descriptors import HotWallet
from corridor.custody.fees import InputKind
from corridor.custody.model import Lot, Payout
from corridor.custody.psbt import build_batch_psbt, extract_transaction, finalize_psbt, sign_psbt

try:
    from corridor.bitcoin.devnode import start_devnode
except ImportError as error:  # pragma: no cover - depends on the devnode being present
    pytest.skip(f"corridor.bitcoin.devnode.start_devnode does not import: {error}", allow_module_level=True)

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def devnode() -> Iterator[Any]:
    running = start_devnode()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def rpc(devnode: Any) -> Iterator[BitcoinRpc]:
    with BitcoinRpc(devnode.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def hot() -> HotWallet:
    return HotWallet(bytes(range(7, 39)), "regtest")


@pytest.fixture(scope="module")
def funded(rpc: BitcoinRpc, hot: HotWallet) -> list[str]:
    """Mine 3 blocks to the hot wallet, then 100 more so their coinbases mature."""
    mined = rpc.generatetoaddress(3, hot.address)
    rpc.generatetoaddress(100, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
    return mined


def test_chain_reads(rpc: BitcoinRpc, funded: list[str]) -> None:
    info = rpc.getblockchaininfo()
    assert info.chain == "regtest" and info.blocks == rpc.getblockcount() >= 103
    assert info.bestblockhash == rpc.getbestblockhash() == rpc.getblockhash(info.blocks)
    header = rpc.getblockheader(funded[0])
    assert rpc.getblockhash(header.height) == funded[0]
    raw_header = rpc.getblockheader_raw(funded[0])
    assert rpc.getblock_raw(funded[0])[:80] == raw_header
    assert any(tip.status == "active" and tip.hash == info.bestblockhash for tip in rpc.getchaintips())
    hashes = rpc.batch([BatchCall("getblockhash", (h,)) for h in range(header.height, header.height + 3)])
    assert hashes == funded


def test_unknown_block_is_an_rpc_error_with_core_code(rpc: BitcoinRpc) -> None:
    with pytest.raises(RpcError) as caught:
        rpc.getblockheader("00" * 32)
    assert caught.value.named_code is RpcErrorCode.INVALID_ADDRESS_OR_KEY
    assert caught.value.method == "getblockheader"


def coinbase_lots(rpc: BitcoinRpc, hot: HotWallet, block_hashes: list[str]) -> list[Lot]:
    lots = []
    for block_hash in block_hashes:
        coinbase = rpc.getblock(block_hash, verbosity=2).transactions[0]
        for out in coinbase.vout:
            if bytes.fromhex(out.script_pubkey.hex) == hot.script_pubkey:
                lots.append(Lot(coinbase.txid, out.n, out.value_sats, hot.script_pubkey, InputKind.P2WPKH))
    return lots


def test_batch_payout_is_accepted_mined_and_read_back(
    rpc: BitcoinRpc, hot: HotWallet, funded: list[str]
) -> None:
    lots = coinbase_lots(rpc, hot, funded)
    assert len(lots) == 3 and all(lot.value_sats == 5_000_000_000 for lot in lots)
    utxo = rpc.gettxout(lots[0].txid, lots[0].vout)
    assert utxo is not None and utxo.coinbase and utxo.value_sats == lots[0].value_sats

    payee = parse_address("bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6", "regtest")
    payouts = [Payout(payee.script_pubkey, 1_000_000 + i) for i in range(20)]
    selection = select_coins(lots, payouts, SelectionParams(2_000, hot.script_pubkey))
    psbt = build_batch_psbt(selection, payouts, wallet=hot)
    sign_psbt(psbt, hot.signing_key)
    tx = extract_transaction(finalize_psbt(psbt))

    (verdict,) = rpc.testmempoolaccept([tx])
    assert verdict.allowed, verdict.reject_reason
    assert verdict.base_fee_sats == selection.fee_sats
    txid = rpc.sendrawtransaction(tx, Decimal("0.10"))
    assert txid == verdict.txid and txid in rpc.getrawmempool()
    entry = rpc.getmempoolentry(txid)
    assert entry.base_fee_sats == selection.fee_sats and entry.vsize <= selection.vsize
    assert txid in rpc.getrawmempool_verbose()

    block_hash = rpc.generateblock("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", [txid])
    block = rpc.getblock(block_hash, verbosity=3)
    mined = next(t for t in block.transactions if t.txid == txid)
    assert mined.fee_sats == selection.fee_sats
    assert sum(o.value_sats for o in mined.vout[:20]) == sum(p.amount_sats for p in payouts)
    assert rpc.getrawtransaction(txid, block_hash) == tx
    assert rpc.getrawtransaction_verbose(txid, block_hash).vout[0].script_pubkey.address == payee.address
    for spent in selection.inputs:
        assert rpc.gettxout(spent.txid, spent.vout) is None


def test_rebroadcast_of_confirmed_tx_and_garbage(rpc: BitcoinRpc) -> None:
    with pytest.raises(RpcError) as caught:
        rpc.sendrawtransaction("00")
    assert caught.value.named_code is RpcErrorCode.DESERIALIZATION_ERROR
    assert rpc.estimatesmartfee(6).blocks >= 0
