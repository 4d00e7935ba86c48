"""Roles, principals and the permission table (pure rules).

Checks happen in the service layer: every service function that a user can reach calls
:func:`authorize` before it reads or writes, so no HTTP route or CLI command can forget one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from corridor.errors import Forbidden


class Role(StrEnum):
    OPERATOR_ADMIN = "operator_admin"
    COMPLIANCE_OFFICER = "compliance_officer"
    TREASURY = "treasury"
    CLIENT = "client"
    MINER = "miner"
    REGULATOR = "regulator"


SCOPED_ROLES = frozenset({Role.CLIENT, Role.MINER})
"""Roles bound to one participant: they only ever see and touch that participant's records."""


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    participant_id: str | None = None
    name: str = ""

    @property
    def actor(self) -> str:
        """How this principal is named in registry entries."""
        return self.user_id if self.user_id.startswith("system:") else f"user:{self.user_id}"


def system_principal(component: str) -> Principal:
    """The principal of an internal job (chain follower, batcher, CLI bootstrap)."""
    return Principal(user_id=f"system:{component}", role=Role.OPERATOR_ADMIN, name=component)


_OPS = Role.OPERATOR_ADMIN
_CO = Role.COMPLIANCE_OFFICER
_TR = Role.TREASURY
_CL = Role.CLIENT
_MI = Role.MINER

PERMISSIONS: dict[str, frozenset[Role]] = {
    # access
    "access.user.create": frozenset({_OPS}),
    "access.user.read": frozenset({_OPS}),
    "access.key.create": frozenset({_OPS}),
    "access.key.revoke": frozenset({_OPS}),
    "access.key.read": frozenset({_OPS}),
    # registry
    "registry.read": frozenset({_OPS, _CO}),
    "registry.checkpoint": frozenset({_OPS}),
    # ledger
    "ledger.account.create": frozenset({_OPS, _TR}),
    "ledger.account.read": frozenset({_OPS, _TR, _CO, _CL, _MI}),
    "ledger.transfer.create": frozenset({_OPS, _TR}),
    "ledger.transfer.read": frozenset({_OPS, _TR, _CO, _CL, _MI}),
    # identity: participants and KYB (applications are filed by the operator for the applicant: a client
    # user is scoped to a participant, which exists only once the application does)
    "identity.participant.apply": frozenset({_OPS, _CO}),
    "identity.participant.read": frozenset({_OPS, _CO, _TR, _CL}),
    "identity.participant.screen": frozenset({_OPS, _CO}),
    "identity.screening.clear": frozenset({_CO}),
    "identity.participant.review": frozenset({_CO}),
    "identity.participant.decide": frozenset({_CO}),
    "identity.participant.admit": frozenset({_OPS, _CO}),
    "identity.participant.suspend": frozenset({_OPS, _CO}),
    "identity.document.add": frozenset({_OPS, _CO, _CL}),
    # contracts: clients register their own; compliance clears counterparties; treasury records payments
    "contracts.contract.create": frozenset({_OPS, _CL}),
    "contracts.contract.read": frozenset({_OPS, _CO, _TR, _CL}),
    "contracts.contract.amend": frozenset({_OPS, _CL}),
    "contracts.contract.close": frozenset({_OPS, _CO}),
    "contracts.document.add": frozenset({_OPS, _CL}),
    "contracts.counterparty.clear": frozenset({_CO}),
    "contracts.payment.record": frozenset({_OPS, _TR}),
    "contracts.shipment.record": frozenset({_OPS, _CL}),
    # custody: wallets, addresses, the chain follower, payouts and batches, approvals, reconciliation
    "custody.wallet.create": frozenset({_OPS}),
    "custody.wallet.read": frozenset({_OPS, _TR, _CO}),
    "custody.address.issue": frozenset({_OPS, _TR}),
    "custody.address.read": frozenset({_OPS, _TR, _CO}),
    "custody.lot.read": frozenset({_OPS, _TR, _CO}),
    "custody.follow": frozenset({_OPS}),
    "custody.payout.create": frozenset({_OPS, _TR}),
    "custody.payout.cancel": frozenset({_OPS, _TR}),
    "custody.payout.read": frozenset({_OPS, _TR, _CO}),
    "custody.batch.run": frozenset({_OPS}),
    "custody.batch.read": frozenset({_OPS, _TR, _CO}),
    "custody.batch.approve": frozenset({_TR}),
    "custody.batch.bump": frozenset({_OPS, _TR}),
    "custody.sweep.run": frozenset({_OPS, _TR}),
    "custody.reconcile.run": frozenset({_OPS, _TR}),
    "custody.reconcile.read": frozenset({_OPS, _TR, _CO}),
    # settlement: invoices for export proceeds, payment orders for imports, currency-operation records
    "settlement.invoice.create": frozenset({_OPS, _CL}),
    "settlement.invoice.read": frozenset({_OPS, _CO, _TR, _CL}),
    "settlement.request.resolve": frozenset({_OPS, _CL}),
    "settlement.order.create": frozenset({_OPS, _CL}),
    "settlement.order.read": frozenset({_OPS, _CO, _TR, _CL}),
    "settlement.order.approve": frozenset({_OPS, _CO, _TR}),
    "settlement.order.cancel": frozenset({_OPS, _CL}),
    "settlement.operation.read": frozenset({_OPS, _CO, _TR, _CL}),
    "settlement.deposit.create": frozenset({_OPS, _CL}),
    "settlement.run": frozenset({_OPS}),
    # screening: sanctions lists and screenings
    "screening.list.load": frozenset({_OPS, _CO}),
    "screening.screen": frozenset({_OPS, _CO}),
    "screening.read": frozenset({_OPS, _CO}),
    # a verdict on a hit (true match / false positive) is a compliance officer's alone
    "screening.decide": frozenset({_CO}),
    "screening.rescreen": frozenset({_OPS, _CO}),
    # rates: official rates and market prices are public figures every role may read
    "rates.read": frozenset({_OPS, _CO, _TR, _CL, _MI}),
    "rates.load": frozenset({_OPS, _TR}),
    # webhooks: a client manages its own participant's endpoints; the operator any participant's
    "webhooks.endpoint.create": frozenset({_OPS, _CL}),
    "webhooks.endpoint.read": frozenset({_OPS, _CL}),
    "webhooks.endpoint.update": frozenset({_OPS, _CL}),
    "webhooks.endpoint.delete": frozenset({_OPS, _CL}),
    "webhooks.delivery.read": frozenset({_OPS, _CL}),
    "webhooks.delivery.redeliver": frozenset({_OPS, _CL}),
}


def authorize(principal: Principal, action: str, participant_id: str | None = None) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may do ``action`` (on ``participant_id``'s records).

    The regulator may perform every read and nothing else. Scoped roles must name their own participant;
    a record with no participant (a platform account, say) is out of their scope.
    """
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}: add it to PERMISSIONS")
    if principal.role is Role.REGULATOR:
        if action.endswith(".read"):
            return
        raise Forbidden("forbidden", f"the regulator role is read-only; {action} is not allowed")
    if principal.role not in PERMISSIONS[action]:
        raise Forbidden("forbidden", f"role {principal.role} may not perform {action}")
    if principal.role in SCOPED_ROLES and (
        participant_id is None or participant_id != principal.participant_id
    ):
        raise Forbidden("forbidden_scope", f"{action} is outside this key's participant")


def may(principal: Principal, action: str, participant_id: str | None = None) -> bool:
    try:
        authorize(principal, action, participant_id)
    except Forbidden:
        return False
    return True
