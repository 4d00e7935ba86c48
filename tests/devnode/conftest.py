from __future__ import annotations

from collections.abc import Iterator

import pytest

from corridor.bitcoin.devnode import RunningDevnode, start_devnode
from corridor.bitcoin.devnode.testkit import DevKey, RawRpc, Spendable, coinbase_spendable


@pytest.fixture
def devnode() -> Iterator[RunningDevnode]:
    running = start_devnode()
    yield running
    running.stop()


@pytest.fixture
def rpc(devnode: RunningDevnode) -> RawRpc:
    return RawRpc(devnode.port, devnode.rpc_user, devnode.rpc_password)


@pytest.fixture
def key() -> DevKey:
    return DevKey.from_seed("corridor-devnode-tests")


@pytest.fixture
def funded(rpc: RawRpc, key: DevKey) -> list[Spendable]:
    """Two mature coinbase outputs: one P2WPKH, one P2TR (101 blocks mined on top of them)."""
    first = rpc("generatetoaddress", 1, key.address())
    second = rpc("generatetoaddress", 1, key.address(taproot=True))
    rpc("generatetoaddress", 100, DevKey.from_seed("miner").address())
    return [coinbase_spendable(rpc, first[0], key), coinbase_spendable(rpc, second[0], key)]
