"""Currency-operation records as CSV (one row per record, flat) and as JSON-ready dicts (nested).

Decimals are written as plain digits (``format(d, "f")``: no exponent, trailing zeros kept), dates as ISO
8601, absent values as an empty cell or ``null``. The CSV columns never change order; new columns are
only ever appended. Lists sit in one cell: outputs and payload hashes separated by a space (neither can
contain one), rate path steps by a line break (steps are single lines).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from corridor.errors import ValidationFailed
from corridor.rates.model import Money
from corridor.reporting.model import (
    ContractRef,
    CurrencyOperationRecord,
    Participant,
    RateUsed,
    SettlementKind,
)

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "operation_date",
    "vo_code",
    "status",
    "participant_id",
    "participant_name",
    "participant_inn",
    "participant_lei",
    "participant_ogrn",
    "contract_id",
    "contract_number",
    "contract_date",
    "contract_type",
    "contract_unk",
    "counterparty_name",
    "counterparty_country",
    "fiat_amount",
    "fiat_currency",
    "btc_sats",
    "rub_equivalent",
    "rate",
    "rate_pair",
    "rate_source",
    "rate_published_on",
    "rate_path",
    "rate_payload_hashes",
    "market_price_id",
    "market_price_source",
    "outputs",
    "block_height",
    "confirmations",
    "registry_seq",
    "registry_entry_hash",
)


def plain_decimal(value: Decimal) -> str:
    return format(value, "f")


def _cell(value: str | int | None) -> str:
    return "" if value is None else str(value)


def currency_operation_row(record: CurrencyOperationRecord) -> dict[str, str]:
    """One record as a CSV row keyed by :data:`CSV_COLUMNS`."""
    participant, contract, rate = record.participant, record.contract, record.rate
    row = {
        "id": record.id,
        "kind": record.kind.value,
        "operation_date": record.operation_date.isoformat(),
        "vo_code": record.vo_code,
        "status": record.status,
        "participant_id": participant.id,
        "participant_name": participant.name,
        "participant_inn": _cell(participant.inn),
        "participant_lei": _cell(participant.lei),
        "participant_ogrn": _cell(participant.ogrn),
        "contract_id": contract.id,
        "contract_number": contract.number,
        "contract_date": contract.contract_date.isoformat(),
        "contract_type": contract.contract_type,
        "contract_unk": _cell(contract.unk),
        "counterparty_name": contract.counterparty_name,
        "counterparty_country": contract.counterparty_country,
        "fiat_amount": plain_decimal(record.fiat.amount),
        "fiat_currency": record.fiat.currency,
        "btc_sats": str(record.btc_sats),
        "rub_equivalent": plain_decimal(record.rub_equivalent),
        "rate": plain_decimal(rate.rate),
        "rate_pair": rate.pair,
        "rate_source": rate.source,
        "rate_published_on": rate.published_on.isoformat(),
        "rate_path": "\n".join(rate.path),
        "rate_payload_hashes": " ".join(rate.payload_hashes),
        "market_price_id": _cell(rate.market_price_id),
        "market_price_source": _cell(rate.market_price_source),
        "outputs": " ".join(record.outputs),
        "block_height": _cell(record.block_height),
        "confirmations": str(record.confirmations),
        "registry_seq": str(record.registry_seq),
        "registry_entry_hash": record.registry_entry_hash,
    }
    assert tuple(row) == CSV_COLUMNS
    return row


def currency_operations_csv(records: Iterable[CurrencyOperationRecord]) -> str:
    """A header and one row per record (RFC 4180: CRLF line ends, quoting where needed). Encode as UTF-8."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for record in records:
        writer.writerow(currency_operation_row(record))
    return buffer.getvalue()


def _optional(cell: str) -> str | None:
    return cell or None


def _split(cell: str, separator: str | None = None) -> tuple[str, ...]:
    return tuple(cell.split(separator)) if cell else ()


def currency_operation_from_row(row: Mapping[str, str]) -> CurrencyOperationRecord:
    """Read back a row written by :func:`currency_operations_csv`; the record is validated again."""
    try:
        return _from_row(row)
    except (KeyError, ValueError, InvalidOperation) as error:
        if isinstance(error, ValidationFailed):
            raise
        raise ValidationFailed("record.csv_row", f"not a currency-operation row: {error!r}") from None


def _from_row(row: Mapping[str, str]) -> CurrencyOperationRecord:
    return CurrencyOperationRecord(
        id=row["id"],
        kind=SettlementKind(row["kind"]),
        participant=Participant(
            id=row["participant_id"],
            name=row["participant_name"],
            inn=_optional(row["participant_inn"]),
            lei=_optional(row["participant_lei"]),
            ogrn=_optional(row["participant_ogrn"]),
        ),
        contract=ContractRef(
            id=row["contract_id"],
            number=row["contract_number"],
            contract_date=date.fromisoformat(row["contract_date"]),
            contract_type=row["contract_type"],
            counterparty_name=row["counterparty_name"],
            counterparty_country=row["counterparty_country"],
            unk=_optional(row["contract_unk"]),
        ),
        vo_code=row["vo_code"],
        operation_date=date.fromisoformat(row["operation_date"]),
        fiat=Money(Decimal(row["fiat_amount"]), row["fiat_currency"]),
        btc_sats=int(row["btc_sats"]),
        rub_equivalent=Decimal(row["rub_equivalent"]),
        rate=RateUsed(
            rate=Decimal(row["rate"]),
            pair=row["rate_pair"],
            source=row["rate_source"],
            published_on=date.fromisoformat(row["rate_published_on"]),
            path=_split(row["rate_path"], "\n"),
            payload_hashes=_split(row["rate_payload_hashes"]),
            market_price_id=_optional(row["market_price_id"]),
            market_price_source=_optional(row["market_price_source"]),
        ),
        outputs=_split(row["outputs"]),
        block_height=int(row["block_height"]) if row["block_height"] else None,
        confirmations=int(row["confirmations"]),
        status=row["status"],
        registry_seq=int(row["registry_seq"]),
        registry_entry_hash=row["registry_entry_hash"],
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def currency_operation_json(record: CurrencyOperationRecord) -> dict[str, Any]:
    """The record with the model's field names, nested as in the model; safe for canonical JSON."""
    result: dict[str, Any] = _plain(dataclasses.asdict(record))
    return result


def currency_operations_json(records: Iterable[CurrencyOperationRecord]) -> list[dict[str, Any]]:
    return [currency_operation_json(record) for record in records]
