"""The operator statement PDF: a PDF, the same bytes every time (also in a fresh process), and the facts a
currency-control officer looks for, Cyrillic names included, found by text extraction."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from corridor.errors import Unavailable
from corridor.reporting import pdf
from corridor.reporting.model import OperatorStatement
from corridor.reporting.pdf import render_statement_pdf

from .conftest import ENTRY_HASH, GENESIS_TXID, RESIDENT_NAME, SECOND_TXID, UNK


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_statement_is_a_pdf(statement: OperatorStatement) -> None:
    data = render_statement_pdf(statement)
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert pypdf.PdfReader(io.BytesIO(data)).metadata.title == "Operator statement st-2022-000017"


def test_same_statement_same_bytes(statement: OperatorStatement) -> None:
    first = render_statement_pdf(statement)
    other = dataclasses.replace(statement, statement_id="st-other", notes=("Другая выписка",))
    render_statement_pdf(other)  # font subsets and name counters must not leak between documents
    assert render_statement_pdf(statement) == first


def test_same_bytes_in_a_fresh_process(statement: OperatorStatement) -> None:
    script = (
        "import pickle, sys\n"
        "from corridor.reporting.pdf import render_statement_pdf\n"
        "sys.stdout.buffer.write(render_statement_pdf(pickle.load(sys.stdin.buffer)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=pickle.dumps(statement), capture_output=True, check=True
    )
    expected = hashlib.sha256(render_statement_pdf(statement)).hexdigest()
    assert hashlib.sha256(result.stdout).hexdigest() == expected


def test_statement_shows_what_currency_control_needs(statement: OperatorStatement) -> None:
    text = pdf_text(render_statement_pdf(statement))
    record = statement.record
    for expected in (
        UNK,
        "10100",  # VO code
        f"{GENESIS_TXID}:0",
        f"{SECOND_TXID}:17",
        "125000.50 USD",
        "612345678 sat = 6.12345678 BTC",
        "7173991.20 RUB",  # 125000.50 × 57.3917 = 7173991.19585, half-up to kopecks
        "57.3917 USD/RUB",
        "USD/RUB CBR 2022-07-23 = 57.3917",
        record.rate.payload_hashes[0],
        "mp-20220725-0930 (recorded)",
        ENTRY_HASH,
        "corridor registry",
        "/v1/registry/entries/4242/proof",
        "2022-07-26 09:30:00 UTC",
    ):
        assert expected in text, expected


def test_cyrillic_names_render_as_text(statement: OperatorStatement) -> None:
    text = pdf_text(render_statement_pdf(statement))
    for expected in (RESIDENT_NAME, "АО «Коридор Платежи»", "СЛ-2022/45", "Выписка оператора"):
        assert expected in text, expected


def test_markup_in_names_is_printed_not_interpreted(statement: OperatorStatement) -> None:
    contract = dataclasses.replace(statement.record.contract, counterparty_name="Lee & Sons <b>Ltd</b>")
    record = dataclasses.replace(statement.record, contract=contract)
    text = pdf_text(render_statement_pdf(dataclasses.replace(statement, record=record)))
    assert "Lee & Sons <b>Ltd</b>" in text


def test_unconfirmed_operation_and_no_unk(statement: OperatorStatement) -> None:
    contract = dataclasses.replace(statement.record.contract, unk=None)
    record = dataclasses.replace(statement.record, contract=contract, block_height=None, confirmations=0)
    text = pdf_text(render_statement_pdf(dataclasses.replace(statement, record=record, notes=())))
    assert "not registered" in text
    assert "not yet in a block" in text
    assert "Notes" not in text


def test_missing_cyrillic_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pdf, "FONT_DIRS", (tmp_path,))
    with pytest.raises(Unavailable) as caught:
        pdf._find_font("DejaVuSans.ttf")
    assert caught.value.code == "reporting.font_missing"
    assert "fonts-dejavu-core" in caught.value.detail
