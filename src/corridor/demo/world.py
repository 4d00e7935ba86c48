"""A small, complete Corridor world on the devnode: operator wallets, a sanctions list, an exporter and an
importer onboarded and admitted, contracts with foreign counterparties, a registered miner and a foreign
buyer with coins. ``corridor demo``, ``corridor up`` and the settlement tests build it with these steps,
through the same services a real operator uses (nothing is written behind a service's back).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from embit.bip32 import HDKey
from embit.networks import NETWORKS

from corridor.access.model import Principal, Role
from corridor.bitcoin.address import parse_address
from corridor.bitcoin.devnode.testkit import DevKey, Spendable, build_spend
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.compliance.screening import service as screening
from corridor.contracts import service as contracts
from corridor.contracts.model import ContractIn, ContractType, CounterpartyIn
from corridor.custody import service as custody
from corridor.db import Database
from corridor.identity import service as identity
from corridor.identity.model import (
    AdmissionIn,
    ApplicationIn,
    DocumentIn,
    ParticipantKind,
    ParticipantRole,
    PersonIn,
    PersonRole,
    Residency,
)

NETWORK = "regtest"
INVOICE_WALLET = "receive"
PAYOUT_WALLET = "hot"
DEMO_LIST = Path(__file__).resolve().parent / "data" / "demo-sanctions.ftm.json"
"""A fictional sanctions list in FollowTheMoney JSON lines, ours, so the demo screens without network."""

MINER = DevKey.from_seed("corridor-demo-registered-miner")
BUYER = DevKey.from_seed("corridor-demo-foreign-buyer")
IMPORTER_FUNDING = DevKey.from_seed("corridor-demo-importer-own-wallet")
SUPPLIER = DevKey.from_seed("corridor-demo-foreign-supplier")
SUPPLIERS = tuple(DevKey.from_seed(f"corridor-demo-supplier-{n}") for n in range(8))


@dataclass(frozen=True)
class Officers:
    ops: Principal
    maker: Principal
    checker: Principal
    treasurer: Principal


def demo_officers() -> Officers:
    return Officers(
        ops=Principal("ops-demo", Role.OPERATOR_ADMIN, name="Olga Operator"),
        maker=Principal("co-demo-1", Role.COMPLIANCE_OFFICER, name="Mikhail Maker"),
        checker=Principal("co-demo-2", Role.COMPLIANCE_OFFICER, name="Chen Checker"),
        treasurer=Principal("tr-demo", Role.TREASURY, name="Tatiana Treasury"),
    )


# --- operator -----------------------------------------------------------------------------------------


def receive_account_key(seed_label: str) -> str:
    """The operator's receive-wallet account xpub (BIP84 path), with its key origin."""
    root = HDKey.from_seed(hashlib.sha256(seed_label.encode()).digest(), version=NETWORKS[NETWORK]["xprv"])
    path = "m/84h/1h/0h"
    account = root.derive(path)
    origin = root.my_fingerprint.hex() + path[1:]
    return f"[{origin}]{account.to_public().to_base58(version=NETWORKS[NETWORK]['xpub'])}"


def set_up_wallets(db: Database, ops: Principal, kek_file: Path, seed_label: str = "corridor-demo") -> None:
    """The invoice/deposit receive wallet and the hot wallet that pays payouts (idempotent)."""
    custody.create_receive_wallet(db, ops, INVOICE_WALLET, receive_account_key(seed_label), NETWORK)
    secret = hashlib.sha256(f"{seed_label}-hot".encode()).digest()
    custody.create_hot_wallet(db, ops, PAYOUT_WALLET, NETWORK, kek_file, secret=secret)


def load_demo_list(db: Database, ops: Principal) -> None:
    screening.load_list_file(db, ops, DEMO_LIST, "ftm")


def demo_list_addresses() -> list[str]:
    """Wallet addresses the demo list sanctions (the demo tries to pay one and is refused)."""
    found = []
    for line in DEMO_LIST.read_text(encoding="utf-8").splitlines():
        entity = json.loads(line)
        if entity.get("schema") == "CryptoWallet":
            found.extend(entity["properties"].get("publicKey", []))
    return found


# --- participants and contracts ----------------------------------------------------------------------

ADMISSION = AdmissionIn(
    reference="CBR-EPR-DEMO-0001",
    admitted_on=date(2025, 1, 1),
    valid_to=date(2030, 12, 31),
    per_transaction_limit_rub_minor=50_000_000_00,
    per_period_limit_rub_minor=500_000_000_00,
)


def exporter_application() -> ApplicationIn:
    return ApplicationIn(
        kind=ParticipantKind.LEGAL_ENTITY,
        residency=Residency.RESIDENT,
        name="Uralsk Machine Works JSC",
        country="RU",
        roles=(ParticipantRole.EXPORTER,),
        industry="machinery",
        persons=(
            PersonIn(
                PersonRole.BENEFICIAL_OWNER, "Ivan Petrov", "RU", date(1970, 5, 1), "123456789047", "60"
            ),
            PersonIn(PersonRole.DIRECTOR, "Anna Sidorova", "RU", date(1980, 2, 2)),
        ),
        inn="7707083893",
        kpp="773601001",
        ogrn="1027700132195",
    )


def importer_application() -> ApplicationIn:
    return ApplicationIn(
        kind=ParticipantKind.LEGAL_ENTITY,
        residency=Residency.RESIDENT,
        name="Volga Import LLC",
        country="RU",
        roles=(ParticipantRole.IMPORTER,),
        industry="wholesale",
        persons=(
            PersonIn(
                PersonRole.BENEFICIAL_OWNER, "Pavel Orlov", "RU", date(1975, 7, 7), "500100732259", "100"
            ),
            PersonIn(PersonRole.DIRECTOR, "Elena Smirnova", "RU", date(1985, 3, 3)),
        ),
        inn="7736050003",
        kpp="773601001",
        ogrn="1022200525819",
    )


def onboard(
    db: Database, officers: Officers, application: ApplicationIn, admission: AdmissionIn = ADMISSION
) -> str:
    """Apply, screen (clearing by hand only what the gate could not answer), review, decide, admit."""
    view = identity.submit_application(
        db, officers.ops, application, [DocumentIn("charter", "charter.pdf", b"%PDF-1.7 demo charter")]
    )
    participant_id = view.participant.id
    for party in view.screenings:
        if party.status.value == "pending":
            identity.clear_screening(db, officers.maker, participant_id, party.subject, "checked by hand")
    identity.review(db, officers.maker, participant_id, "registry extract and ownership chain verified")
    identity.decide(db, officers.checker, participant_id, True, "complete file, low risk")
    identity.admit(db, officers.ops, participant_id, admission)
    return participant_id


def counterparty(name: str, country: str, lei: str, wallet: str | None) -> CounterpartyIn:
    return CounterpartyIn(name=name, country=country, lei=lei, registration_number="REG-" + lei[:8],
                          wallet_address=wallet)  # fmt: skip


def register_contract(
    db: Database,
    officers: Officers,
    participant_id: str,
    number: str,
    contract_type: ContractType,
    amount_rub_minor: int,
    party: CounterpartyIn,
) -> str:
    """A RUB-denominated contract (settlement in national currencies), its counterparty screened."""
    view = contracts.register_contract(
        db,
        officers.ops,
        ContractIn(
            participant_id=participant_id, number=number, contract_type=contract_type,
            contract_date=date(2025, 6, 2), currency="RUB", amount_minor=amount_rub_minor,
            performance_deadline=date(2027, 12, 31), counterparty=party, goods_codes=("8429",), incoterms="FCA",
        ),
    )  # fmt: skip
    contract_id = view.contract.id
    for subject, result in view.screening.items():
        if result["status"] != "clear":
            contracts.clear_counterparty(
                db, officers.maker, contract_id, subject, "identity verified by hand"
            )
    return contract_id


# --- chain actors -------------------------------------------------------------------------------------


def mine(rpc: BitcoinRpc, count: int, key: DevKey = MINER) -> list[str]:
    return rpc.generatetoaddress(count, key.address())


def coins_of(rpc: BitcoinRpc, key: DevKey, blocks: int) -> list[Spendable]:
    """Mine ``blocks`` to ``key`` and make them spendable (100 more blocks); their coinbase outputs."""
    hashes = rpc.generatetoaddress(blocks, key.address())
    mine(rpc, 100)
    coins = []
    for block_hash in hashes:
        coinbase = rpc.getblock(block_hash, 2).transactions[0]
        coins.append(
            Spendable(bytes.fromhex(coinbase.txid)[::-1], 0, coinbase.vout[0].value_sats, key.p2wpkh, key)
        )
    return coins


def pay_to(rpc: BitcoinRpc, coin: Spendable, address_script: bytes, sats: int, fee: int = 2_000) -> str:
    """An outside wallet pays ``sats`` to one of our scripts, change back to itself."""
    change = coin.value - sats - fee
    outputs = [(address_script, sats)] + ([(coin.key.p2wpkh, change)] if change > 0 else [])
    return rpc.sendrawtransaction(build_spend([coin], outputs).raw)


def fund_hot_wallet(db: Database, rpc: BitcoinRpc, blocks: int) -> int:
    """The registered miner sells the coinbase of ``blocks`` freshly mined blocks to the hot wallet float."""
    with db.transaction() as session:
        hot = custody.hot_address_in(session, PAYOUT_WALLET)
    script = parse_address(hot, NETWORK).script_pubkey
    total = 0
    for coin in coins_of(rpc, MINER, blocks):
        pay_to(rpc, coin, script, coin.value - 5_000, fee=5_000)
        total += coin.value - 5_000
    return total
