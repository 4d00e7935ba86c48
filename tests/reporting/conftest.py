"""A currency-operation record built from a real Bank of Russia rate file (USD/RUB of 23 Jul 2022)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from corridor.rates.model import Money, OfficialRate, RateBook, convert_to_rub
from corridor.rates.sources import cbr
from corridor.reporting.model import (
    ContractRef,
    CurrencyOperationRecord,
    OperatorStatement,
    Participant,
    RateUsed,
    SettlementKind,
)

GENESIS_TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
SECOND_TXID = "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098"
ENTRY_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
UNK = "22070001/1481/0000/1/1"
RESIDENT_NAME = "ООО «Северный Лес»"


@pytest.fixture(scope="session")
def usd_rub(shared_data: Path) -> OfficialRate:
    payload = (shared_data / "fx-cbr-xml-daily" / "XML_daily_2022-07-23.xml").read_bytes()
    return next(rate for rate in cbr.parse_xml_daily(payload) if rate.base == "USD")


@pytest.fixture
def record(usd_rub: OfficialRate) -> CurrencyOperationRecord:
    operation_date = date(2022, 7, 25)
    fiat = Money(Decimal("125000.50"), "USD")
    rub = convert_to_rub(fiat, RateBook([usd_rub]), operation_date)
    return CurrencyOperationRecord(
        id="op-2022-000017",
        kind=SettlementKind.EXPORT_PROCEEDS,
        participant=Participant(
            id="prt-7",
            name=RESIDENT_NAME,
            inn="7707083893",
            lei="213800KUD8LAJWSQ9D15",
            ogrn="1027700132195",
        ),
        contract=ContractRef(
            id="ctr-3",
            number="СЛ-2022/45",
            contract_date=date(2022, 7, 1),
            contract_type="export",
            counterparty_name="Guangzhou Timber Trading Co., Ltd.",
            counterparty_country="CN",
            unk=UNK,
        ),
        vo_code="10100",
        operation_date=operation_date,
        fiat=fiat,
        btc_sats=612_345_678,
        rub_equivalent=rub.result.amount,
        rate=RateUsed.from_official(rub.rate, "mp-20220725-0930", "recorded"),
        outputs=(f"{GENESIS_TXID}:0", f"{SECOND_TXID}:17"),
        block_height=840_123,
        confirmations=6,
        status="confirmed",
        registry_seq=4242,
        registry_entry_hash=ENTRY_HASH,
    )


@pytest.fixture
def statement(record: CurrencyOperationRecord) -> OperatorStatement:
    return OperatorStatement(
        operator_name="АО «Коридор Платежи»",
        operator_licence="EPR admission 2024-017 of 2024-09-02",
        statement_id="st-2022-000017",
        generated_at=datetime(2022, 7, 26, 9, 30, tzinfo=UTC),
        record=record,
        notes=("Extract for currency control (domain.md 1.2): UNK, VO code and this statement.",),
    )
