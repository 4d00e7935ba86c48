from __future__ import annotations

import pytest

from corridor.access.model import PERMISSIONS, Principal, Role, authorize, may
from corridor.errors import Forbidden


@pytest.mark.parametrize("action", sorted(PERMISSIONS))
def test_regulator_reads_everything_and_writes_nothing(action: str) -> None:
    regulator = Principal("r", Role.REGULATOR)
    assert may(regulator, action) is action.endswith(".read")


def test_client_is_confined_to_its_participant() -> None:
    client = Principal("c", Role.CLIENT, participant_id="p-1")
    authorize(client, "ledger.account.read", "p-1")
    with pytest.raises(Forbidden) as refused:
        authorize(client, "ledger.account.read", "p-2")
    assert refused.value.code == "forbidden_scope"
    with pytest.raises(Forbidden):
        authorize(client, "ledger.account.read", None)


def test_roles_outside_the_table_are_refused() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(Principal("t", Role.TREASURY), "access.key.create")
    assert refused.value.code == "forbidden"
    authorize(Principal("o", Role.OPERATOR_ADMIN), "access.key.create")


def test_unknown_actions_are_a_programming_error() -> None:
    with pytest.raises(KeyError):
        authorize(Principal("o", Role.OPERATOR_ADMIN), "ledger.teleport")
