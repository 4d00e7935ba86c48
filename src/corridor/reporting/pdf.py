"""The operator statement as a PDF (ReportLab platypus): parties, contract, amounts, the rate and its
provenance, chain outputs and the registry entry with how to verify it.

Rendering is deterministic (``invariant=1`` fixes the creation date and document id), so the SHA-256 of
the bytes can be recorded in the registry and re-checked by rendering again with the same Corridor,
ReportLab and font versions. Names are in Cyrillic as often as not, so the text font is DejaVu Sans
(Debian ``fonts-dejavu-core``); ReportLab's bundled Vera has no Cyrillic, and a statement whose names print
as empty boxes is worse than none, so a missing font is an error, not a fallback.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from corridor.errors import Unavailable
from corridor.reporting.exports import plain_decimal
from corridor.reporting.model import CurrencyOperationRecord, OperatorStatement, SettlementKind

FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu (fonts-dejavu-core)
    Path("/usr/share/fonts/dejavu-sans-fonts"),  # Fedora
    Path("/usr/share/fonts/dejavu-sans-mono-fonts"),
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/share/fonts/dejavu"),
)
_FONTS = {
    "CorridorSans": "DejaVuSans.ttf",
    "CorridorSans-Bold": "DejaVuSans-Bold.ttf",
    "CorridorMono": "DejaVuSansMono.ttf",
}
_MARGIN = 15 * mm
_KEY_WIDTH = 48 * mm
_KIND_LABELS = {
    SettlementKind.EXPORT_PROCEEDS: "Export proceeds (the resident receives)",
    SettlementKind.IMPORT_PAYMENT: "Import payment (the resident pays)",
}


def _find_font(filename: str) -> Path:
    for folder in FONT_DIRS:
        if (folder / filename).is_file():
            return folder / filename
    raise Unavailable(
        "reporting.font_missing",
        f"{filename} (DejaVu, needed for Cyrillic) not found in {', '.join(map(str, FONT_DIRS))}; "
        "install the fonts-dejavu-core package",
    )


@functools.cache
def _register_fonts() -> None:
    for name, filename in _FONTS.items():
        pdfmetrics.registerFont(TTFont(name, str(_find_font(filename))))
    pdfmetrics.registerFontFamily("CorridorSans", normal="CorridorSans", bold="CorridorSans-Bold")


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName="CorridorSans", fontSize=9, leading=12)
    return {
        "title": ParagraphStyle("title", body, fontName="CorridorSans-Bold", fontSize=15, leading=19),
        "subtitle": ParagraphStyle("subtitle", body, fontSize=10, leading=14, textColor=colors.grey),
        "heading": ParagraphStyle(
            "heading",
            body,
            fontName="CorridorSans-Bold",
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
        ),
        "body": body,
        "key": ParagraphStyle("key", body, fontSize=8.5, leading=11, textColor=colors.HexColor("#444444")),
        "mono": ParagraphStyle("mono", body, fontName="CorridorMono", fontSize=7.5, leading=10),
    }


def _text(value: str, style: str = "body") -> Paragraph:
    # User text goes through escape(): a name such as "A&B <Ltd>" is Paragraph markup otherwise.
    return Paragraph(escape(value), _styles()[style])


def _mono(value: str) -> Paragraph:
    return _text(value, "mono")


def _table(rows: Sequence[tuple[str, Flowable]], width: float) -> Table:
    data = [[_text(key, "key"), value] for key, value in rows]
    table = Table(data, colWidths=[_KEY_WIDTH, width - _KEY_WIDTH], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _or_dash(value: str | None) -> str:
    return "—" if value is None else value


def btc_text(sats: int) -> str:
    return f"{sats} sat = {plain_decimal(Decimal(sats).scaleb(-8))} BTC"


def _section(title: str, rows: Sequence[tuple[str, Flowable]], width: float) -> list[Flowable]:
    return [_text(title, "heading"), _table(rows, width)]


def _parties(record: CurrencyOperationRecord, width: float) -> list[Flowable]:
    participant, contract = record.participant, record.contract
    return _section(
        "Parties",
        [
            ("Resident participant", _text(participant.name)),
            ("INN", _mono(_or_dash(participant.inn))),
            ("LEI", _mono(_or_dash(participant.lei))),
            ("OGRN", _mono(_or_dash(participant.ogrn))),
            ("Participant id", _mono(participant.id)),
            ("Non-resident counterparty", _text(contract.counterparty_name)),
            ("Counterparty country", _text(contract.counterparty_country)),
        ],
        width,
    )


def _operation(record: CurrencyOperationRecord, width: float) -> list[Flowable]:
    contract = record.contract
    return _section(
        "Contract and operation",
        [
            ("Contract number", _text(contract.number)),
            ("Contract date", _text(contract.contract_date.isoformat())),
            ("Contract type", _text(contract.contract_type)),
            ("UNK", _mono(contract.unk or "not registered (below the registration threshold)")),
            ("Contract id", _mono(contract.id)),
            ("Operation", _text(_KIND_LABELS[record.kind])),
            ("Operation code (VO)", _mono(record.vo_code)),
            ("Operation date", _text(record.operation_date.isoformat())),
            ("Status", _text(record.status)),
            ("Record id", _mono(record.id)),
        ],
        width,
    )


def _amounts(record: CurrencyOperationRecord, width: float) -> list[Flowable]:
    return _section(
        "Amounts",
        [
            (
                "Contract currency amount",
                _text(f"{plain_decimal(record.fiat.amount)} {record.fiat.currency}"),
            ),
            ("Bitcoin amount", _text(btc_text(record.btc_sats))),
            ("RUB equivalent (official rate)", _text(f"{plain_decimal(record.rub_equivalent)} RUB")),
        ],
        width,
    )


def _rate(record: CurrencyOperationRecord, width: float) -> list[Flowable]:
    rate = record.rate
    path = "<br/>".join(escape(step) for step in rate.path)
    hashes = "<br/>".join(rate.payload_hashes) or "—"
    market = "—" if rate.market_price_id is None else f"{rate.market_price_id} ({rate.market_price_source})"
    return _section(
        "Rate used and its provenance",
        [
            ("Official rate", _text(f"{plain_decimal(rate.rate)} {rate.pair}")),
            ("Source", _text(rate.source)),
            ("Published on", _text(rate.published_on.isoformat())),
            ("Derivation path", Paragraph(path, _styles()["body"])),
            ("Source payload SHA-256", Paragraph(hashes, _styles()["mono"])),
            ("Market BTC price", _text(market)),
        ],
        width,
    )


def _chain(record: CurrencyOperationRecord, width: float) -> list[Flowable]:
    outputs = "<br/>".join(record.outputs)
    height = "not yet in a block" if record.block_height is None else str(record.block_height)
    return _section(
        "Bitcoin outputs",
        [
            ("Outputs (txid:vout)", Paragraph(outputs, _styles()["mono"])),
            ("Block height", _text(height)),
            ("Confirmations", _text(str(record.confirmations))),
        ],
        width,
    )


def _registry(record: CurrencyOperationRecord, width: float) -> list[Flowable]:
    seq = record.registry_seq
    how = (
        "The operator (or the regulator with database access) runs <font name='CorridorMono'>corridor "
        "registry verify</font>, which recomputes the whole hash chain and every checkpoint. Anyone can "
        "check this one entry offline: get its inclusion proof from "
        f"<font name='CorridorMono'>GET /v1/registry/entries/{seq}/proof</font> and check it against a "
        "published checkpoint root with <font name='CorridorMono'>corridor.registry.verify.verify_bundle"
        "</font> (standard library only); the entry's hash must equal the one above."
    )
    return _section(
        "Registry reference",
        [
            ("Registry entry seq", _text(str(seq))),
            ("Entry hash (SHA-256)", _mono(record.registry_entry_hash)),
            ("How to verify", Paragraph(how, _styles()["body"])),
        ],
        width,
    )


def _header(statement: OperatorStatement, width: float) -> list[Flowable]:
    return [
        _text("Operator statement: currency operation", "title"),
        _text("Выписка оператора платформы по валютной операции", "subtitle"),
        Spacer(1, 4 * mm),
        _table(
            [
                ("Platform operator", _text(statement.operator_name)),
                ("Licence", _text(statement.operator_licence)),
                ("Statement id", _mono(statement.statement_id)),
                ("Generated at (UTC)", _text(statement.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC"))),
            ],
            width,
        ),
    ]


def _notes(statement: OperatorStatement) -> list[Flowable]:
    if not statement.notes:
        return []
    return [_text("Notes", "heading"), *(_text(note) for note in statement.notes)]


def _footer(statement_id: str) -> Any:
    def draw(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("CorridorSans", 7)
        canvas.drawString(_MARGIN, 8 * mm, f"Statement {statement_id} · page {doc.page}")
        canvas.restoreState()

    return draw


def render_statement_pdf(statement: OperatorStatement) -> bytes:
    """The statement as PDF bytes; the same statement gives the same bytes."""
    _register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"Operator statement {statement.statement_id}",
        author=statement.operator_name,
        subject=f"Currency operation {statement.record.id}",
        creator="Corridor",
        invariant=1,
    )
    width = doc.width
    record = statement.record
    story = [
        *_header(statement, width),
        *_parties(record, width),
        *_operation(record, width),
        *_amounts(record, width),
        *_rate(record, width),
        *_chain(record, width),
        *_registry(record, width),
        *_notes(statement),
    ]
    footer = _footer(statement.statement_id)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
