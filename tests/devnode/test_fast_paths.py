"""The shortcuts `getblock` takes for speed give exactly what the plain ways gave."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from corridor.bitcoin.devnode import RunningDevnode
from corridor.bitcoin.devnode.encoding import id_from_hex
from corridor.bitcoin.devnode.kernel import SpentCoin
from corridor.bitcoin.devnode.mempool import COIN
from corridor.bitcoin.devnode.methods import RpcMethods, btc
from corridor.bitcoin.devnode.rpcserver import _stdlib_dumps, dumps
from corridor.bitcoin.devnode.testkit import DevKey, RawRpc, Spendable, build_spend


def _block_spending(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> str:
    """A block whose transactions spend a P2WPKH and a P2TR coin into P2WPKH, P2TR and P2PKH
    outputs (plus the coinbase's OP_RETURN commitment)."""
    p2pkh = b"\x76\xa9\x14" + bytes(range(20)) + b"\x88\xac"
    for coin in funded:
        outputs = [(key.p2wpkh, 10**8), (key.p2tr, 2 * 10**8), (p2pkh, 12345)]
        change = coin.value - sum(v for _, v in outputs) - 5000
        rpc("sendrawtransaction", build_spend([coin], [*outputs, (key.p2wpkh, change)]).raw.hex())
    return str(rpc("generatetoaddress", 1, key.address())[0])


def test_getblock_json_is_what_the_stdlib_encoder_wrote(
    devnode: RunningDevnode, rpc: RawRpc, key: DevKey, funded: list[Spendable]
) -> None:
    block_hash = _block_spending(rpc, key, funded)
    methods = RpcMethods(devnode.node)
    for verbosity in (1, 2, 3):
        reply = {"result": methods.getblock(block_hash, verbosity), "error": None, "id": 1}
        assert dumps(reply) == _stdlib_dumps(reply)


def test_spent_coins_match_the_kernel_objects(
    devnode: RunningDevnode, rpc: RawRpc, key: DevKey, funded: list[Spendable]
) -> None:
    block_hash = id_from_hex(_block_spending(rpc, key, funded))
    kernel = devnode.node.kernel
    entry = kernel._entry(block_hash)
    assert entry is not None
    undo = kernel._chainman.block_spent_outputs[entry]
    through_objects = [
        [
            SpentCoin(
                int(c.output.amount),
                bytes(c.output.script_pubkey),
                int(c.confirmation_height),
                bool(c.is_coinbase),
            )
            for c in tx.coins
        ]
        for tx in undo.transactions
    ]
    assert kernel.read_spent_coins(block_hash) == through_objects
    spent_scripts = sorted(c.script_pubkey for tx in through_objects for c in tx)
    assert spent_scripts == sorted(f.script_pubkey for f in funded)


def test_dumps_falls_back_for_what_orjson_refuses() -> None:
    huge_id = {"result": Decimal("0.00001000"), "error": None, "id": 2**70}
    assert dumps(huge_id) == b'{"result":0.00001000,"error":null,"id":1180591620717411303424}'
    assert dumps({"id": "\ud800"}) == b'{"id":"\\ud800"}'


@given(sats=st.integers(-(21 * 10**6) * COIN, 21 * 10**6 * COIN))
def test_btc_has_eight_decimals_exactly(sats: int) -> None:
    amount = btc(sats)
    reference = (Decimal(sats) / COIN).quantize(Decimal("0.00000001"))
    assert amount == reference and format(amount, "f") == format(reference, "f")
    assert dumps(amount) == format(reference, "f").encode()
