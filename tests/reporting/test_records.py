"""Currency-operation records: what the model refuses, and CSV / JSON exports that read back exactly."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corridor.errors import ValidationFailed
from corridor.identity.identifiers import inn_check_digits, lei_check_digits, ogrn_check_digit
from corridor.rates.model import MINOR_UNITS, Money, OfficialRate
from corridor.registry.canonical import to_json_value
from corridor.reporting.exports import (
    CSV_COLUMNS,
    currency_operation_from_row,
    currency_operation_row,
    currency_operations_csv,
    currency_operations_json,
)
from corridor.reporting.model import (
    ContractRef,
    CurrencyOperationRecord,
    OperatorStatement,
    Participant,
    RateUsed,
    SettlementKind,
)
from corridor.reporting.pdf import render_statement_pdf

from .conftest import GENESIS_TXID

# --- validation --------------------------------------------------------------------------------------


def refused(code: str, build: Any, *args: Any, **changes: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(*args, **changes)
    assert caught.value.code == code, caught.value


def test_fixture_record_is_valid(record: CurrencyOperationRecord) -> None:
    assert record.rate.pair == "USD/RUB"
    assert record.rub_equivalent == Decimal("7173991.20")


@pytest.mark.parametrize(
    ("field", "value"),
    [("btc_sats", 612345678.0), ("rub_equivalent", 7173991.2), ("registry_seq", 4242.0)],
)
def test_floats_are_refused(record: CurrencyOperationRecord, field: str, value: float) -> None:
    refused("record.float", dataclasses.replace, record, **{field: value})


def test_float_rate_and_float_fiat_are_refused(record: CurrencyOperationRecord) -> None:
    refused("record.float", dataclasses.replace, record.rate, rate=57.3917)
    refused("money.amount", Money, 125000.5, "USD")


@pytest.mark.parametrize("sats", [True, -1, Decimal(5), "5"])
def test_sats_must_be_a_non_negative_int(record: CurrencyOperationRecord, sats: object) -> None:
    refused("record.integer", dataclasses.replace, record, btc_sats=sats)


def test_zero_sats_is_allowed(record: CurrencyOperationRecord) -> None:
    assert dataclasses.replace(record, btc_sats=0).btc_sats == 0


@pytest.mark.parametrize("code", ["1010", "101000", "1010a", "１０１００", "٠١٠٠١", " 10100", "10100\n"])
def test_vo_code_is_five_ascii_digits(record: CurrencyOperationRecord, code: str) -> None:
    refused("record.vo_code", dataclasses.replace, record, vo_code=code)


@pytest.mark.parametrize(
    "outpoint",
    [
        GENESIS_TXID,  # no vout
        f"{GENESIS_TXID.upper()}:0",
        f"{GENESIS_TXID[:-1]}:0",
        f"{GENESIS_TXID}0:0",
        f"{GENESIS_TXID}:01",
        f"{GENESIS_TXID}:-1",
        f"{GENESIS_TXID}:4294967296",
        f"{GENESIS_TXID}: 1",
        f"{GENESIS_TXID}:１",
        f"{GENESIS_TXID}/0",
        "",
    ],
)
def test_outputs_must_be_txid_colon_vout(record: CurrencyOperationRecord, outpoint: str) -> None:
    refused("record.outpoint", dataclasses.replace, record, outputs=(outpoint,))


def test_outputs_are_a_non_empty_tuple_without_repeats(record: CurrencyOperationRecord) -> None:
    refused("record.outputs", dataclasses.replace, record, outputs=())
    refused("record.outputs", dataclasses.replace, record, outputs=[f"{GENESIS_TXID}:0"])
    refused("record.outputs", dataclasses.replace, record, outputs=(f"{GENESIS_TXID}:0",) * 2)
    largest = dataclasses.replace(record, outputs=(f"{GENESIS_TXID}:4294967295",))
    assert largest.outputs == (f"{GENESIS_TXID}:4294967295",)


def test_rub_equivalent_must_follow_from_the_rate(record: CurrencyOperationRecord) -> None:
    refused(
        "record.rub_equivalent_mismatch", dataclasses.replace, record, rub_equivalent=Decimal("7173991.21")
    )
    refused("record.minor_units", dataclasses.replace, record, rub_equivalent=Decimal("7173991.195"))
    eur_rate = dataclasses.replace(record.rate, pair="EUR/RUB")
    refused("record.rate_pair", dataclasses.replace, record, rate=eur_rate)


def test_fiat_amount_is_exact_in_minor_units(record: CurrencyOperationRecord) -> None:
    refused("record.minor_units", dataclasses.replace, record, fiat=Money(Decimal("125000.505"), "USD"))
    refused("record.fiat", dataclasses.replace, record, fiat=Money(Decimal("0.00"), "USD"))
    refused("rates.currency_unknown", dataclasses.replace, record, fiat=Money(Decimal("1"), "XAU"))


def test_confirmations_agree_with_the_block(record: CurrencyOperationRecord) -> None:
    refused("record.confirmations", dataclasses.replace, record, confirmations=0)
    refused("record.confirmations", dataclasses.replace, record, block_height=None)
    refused("record.integer", dataclasses.replace, record, block_height=-1)


def test_identifiers_and_references(record: CurrencyOperationRecord) -> None:
    refused("record.kind", dataclasses.replace, record, kind="refund")
    assert dataclasses.replace(record, kind="import_payment").kind is SettlementKind.IMPORT_PAYMENT
    refused("record.identifier", dataclasses.replace, record.participant, inn=None, lei=None)
    refused("inn.check_digit", dataclasses.replace, record.participant, inn="7707083894")
    refused("record.identifier", dataclasses.replace, record.participant, inn=" 7707083893")
    refused("unk.format", dataclasses.replace, record.contract, unk="22070001-1481-0000-1-1")
    refused("record.country", dataclasses.replace, record.contract, counterparty_country="cn")
    refused("record.sha256", dataclasses.replace, record, registry_entry_hash="AB" * 32)
    refused("record.integer", dataclasses.replace, record, registry_seq=0)
    refused("record.text", dataclasses.replace, record, status=" ")
    refused("record.text", dataclasses.replace, record.participant, name="ООО\x00Лес")
    refused("record.operation_date", dataclasses.replace, record, operation_date=date(2022, 6, 30))
    refused("record.market_price", dataclasses.replace, record.rate, market_price_source=None)
    refused("record.text", dataclasses.replace, record.rate, path=("USD/RUB\nCBR",))
    refused("record.path", dataclasses.replace, record.rate, path=())


def test_statement_time_is_aware_and_kept_in_utc(statement: OperatorStatement) -> None:
    refused("record.generated_at", dataclasses.replace, statement, generated_at=datetime(2022, 7, 26, 9, 30))
    moscow = timezone(timedelta(hours=3))
    shifted = dataclasses.replace(statement, generated_at=datetime(2022, 7, 26, 12, 30, tzinfo=moscow))
    assert shifted.generated_at == datetime(2022, 7, 26, 9, 30, tzinfo=UTC)
    assert shifted.generated_at.utcoffset() == timedelta(0)
    refused("record.notes", dataclasses.replace, statement, notes=["a list"])


def test_rate_from_the_rates_area_keeps_path_and_hashes(usd_rub: OfficialRate) -> None:
    identity = OfficialRate(
        "identity", "RUB", "RUB", Decimal(1), date(2022, 7, 25), date(2022, 7, 25), date(2022, 7, 25), ""
    )
    assert RateUsed.from_official(identity).payload_hashes == ()
    assert RateUsed.from_official(usd_rub).path == ("USD/RUB CBR 2022-07-23 = 57.3917",)


# --- exports -----------------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_columns_values_and_round_trip(record: CurrencyOperationRecord) -> None:
    unconfirmed = dataclasses.replace(
        record,
        id="op-2",
        contract=dataclasses.replace(record.contract, unk=None),
        participant=dataclasses.replace(record.participant, lei=None, ogrn=None),
        block_height=None,
        confirmations=0,
    )
    text = currency_operations_csv([record, unconfirmed])
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = read_csv(text)
    assert rows == [currency_operation_row(record), currency_operation_row(unconfirmed)]
    assert rows[0]["participant_name"] == "ООО «Северный Лес»"
    assert rows[0]["fiat_amount"] == "125000.50"
    assert rows[0]["rub_equivalent"] == "7173991.20"
    assert rows[0]["rate"] == "57.3917"
    assert rows[0]["btc_sats"] == "612345678"
    assert rows[0]["outputs"].split() == list(record.outputs)
    assert rows[1]["contract_unk"] == rows[1]["block_height"] == rows[1]["participant_lei"] == ""
    assert [currency_operation_from_row(row) for row in rows] == [record, unconfirmed]
    text.encode("utf-8")


def test_decimals_are_plain_digits(record: CurrencyOperationRecord) -> None:
    fiat = Money(Decimal("1E+3"), "USD")
    rate = dataclasses.replace(record.rate, rate=Decimal("5.7E+1"))
    scaled = dataclasses.replace(record, fiat=fiat, rate=rate, rub_equivalent=Decimal("57000.00"))
    row = currency_operation_row(scaled)
    assert (row["fiat_amount"], row["rate"], row["rub_equivalent"]) == ("1000", "57", "57000.00")


def test_broken_csv_row_is_a_validation_error(record: CurrencyOperationRecord) -> None:
    row = currency_operation_row(record)
    refused("record.csv_row", currency_operation_from_row, {**row, "btc_sats": "many"})
    refused("record.csv_row", currency_operation_from_row, {k: v for k, v in row.items() if k != "rate"})
    refused("record.vo_code", currency_operation_from_row, {**row, "vo_code": "101"})


def test_json_is_nested_plain_and_canonical(record: CurrencyOperationRecord) -> None:
    [document] = currency_operations_json([record])
    assert document["fiat"] == {"amount": "125000.50", "currency": "USD"}
    assert document["btc_sats"] == 612345678
    assert document["kind"] == "export_proceeds"
    assert document["contract"]["unk"] == record.contract.unk
    assert document["outputs"] == list(record.outputs)
    assert to_json_value(document) == document  # registry payload-ready: no floats, nothing to convert
    assert json.loads(json.dumps(document, ensure_ascii=False)) == document


# --- properties --------------------------------------------------------------------------------------

DIGITS = "0123456789"
HEX = "0123456789abcdef"
names = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=40
).filter(str.strip)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
sha256s = st.text(alphabet=HEX, min_size=64, max_size=64)
inns = st.text(alphabet=DIGITS, min_size=9, max_size=9).map(lambda body: body + inn_check_digits(body))
leis = st.text(alphabet=DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=18, max_size=18).map(
    lambda base: base + lei_check_digits(base)
)
ogrns = st.tuples(st.sampled_from("15"), st.text(alphabet=DIGITS, min_size=11, max_size=11)).map(
    lambda parts: (body := "".join(parts)) + ogrn_check_digit(body)
)
unks = st.builds(
    lambda yy, mm, serial, bank, branch, kind, resident: (
        f"{yy:02d}{mm:02d}{serial:04d}/{bank:04d}/{branch:04d}/{kind}/{resident}"
    ),
    st.integers(18, 99),
    st.integers(1, 12),
    st.integers(1, 9999),
    st.integers(1, 9999),
    st.integers(0, 9999),
    st.sampled_from([1, 2, 3, 4, 5, 9]),
    st.integers(1, 3),
)
CURRENCIES = ["USD", "EUR", "CNY", "AED", "INR", "JPY", "KWD", "RUB"]


@st.composite
def records(draw: st.DrawFn) -> CurrencyOperationRecord:
    currency = draw(st.sampled_from(CURRENCIES))
    fiat = Money(Decimal(draw(st.integers(1, 10**13))).scaleb(-MINOR_UNITS[currency]), currency)
    rate = Decimal(1) if currency == "RUB" else Decimal(draw(st.integers(1, 10**10))).scaleb(-6)
    market = draw(st.one_of(st.none(), st.tuples(ids, names)))
    contract_date = draw(st.dates(date(2018, 3, 1), date(2035, 1, 1)))
    inn = draw(st.one_of(st.none(), inns))
    confirmed = draw(st.booleans())
    outpoints = st.tuples(sha256s, st.integers(0, 2**32 - 1)).map(lambda o: f"{o[0]}:{o[1]}")
    return CurrencyOperationRecord(
        id=draw(ids),
        kind=draw(st.sampled_from(SettlementKind)),
        participant=Participant(
            id=draw(ids),
            name=draw(names),
            inn=inn,
            lei=draw(leis) if inn is None else draw(st.one_of(st.none(), leis)),
            ogrn=draw(st.one_of(st.none(), ogrns)),
        ),
        contract=ContractRef(
            id=draw(ids),
            number=draw(names),
            contract_date=contract_date,
            contract_type=draw(st.sampled_from(["export", "import", "services", "loan"])),
            counterparty_name=draw(names),
            counterparty_country=draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)),
            unk=draw(st.one_of(st.none(), unks)),
        ),
        vo_code=draw(st.text(alphabet=DIGITS, min_size=5, max_size=5)),
        operation_date=contract_date + timedelta(days=draw(st.integers(0, 400))),
        fiat=fiat,
        btc_sats=draw(st.integers(0, 21 * 10**14)),
        rub_equivalent=Money(fiat.amount * rate, "RUB").rounded().amount,
        rate=RateUsed(
            rate=rate,
            pair=f"{currency}/RUB",
            source=draw(names),
            published_on=draw(st.dates(date(2018, 1, 1), date(2035, 1, 1))),
            path=tuple(draw(st.lists(names, min_size=1, max_size=3))),
            payload_hashes=tuple(draw(st.lists(sha256s, max_size=2))),
            market_price_id=None if market is None else market[0],
            market_price_source=None if market is None else market[1],
        ),
        outputs=tuple(draw(st.lists(outpoints, min_size=1, max_size=4, unique=True))),
        block_height=draw(st.integers(0, 10**7)) if confirmed else None,
        confirmations=draw(st.integers(1, 10**6)) if confirmed else 0,
        status=draw(names),
        registry_seq=draw(st.integers(1, 2**62)),
        registry_entry_hash=draw(sha256s),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_any_record_round_trips_through_csv_and_json(record: CurrencyOperationRecord) -> None:
    rows = read_csv(currency_operations_csv([record]))
    assert rows == [currency_operation_row(record)]
    assert currency_operation_from_row(rows[0]) == record
    assert to_json_value(currency_operations_json([record])) is not None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.lists(names, max_size=2))
def test_any_record_renders(record: CurrencyOperationRecord, notes: list[str]) -> None:
    statement = OperatorStatement(
        operator_name="Оператор",
        operator_licence="L-1",
        statement_id="st-1",
        generated_at=datetime(2030, 1, 1, tzinfo=UTC),
        record=record,
        notes=tuple(notes),
    )
    data = render_statement_pdf(statement)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert render_statement_pdf(statement) == data
