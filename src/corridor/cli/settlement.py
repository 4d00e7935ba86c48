"""`corridor invoices …`, `corridor payments …` and `corridor operations …`: settlement from the command line,
acting as the holder of an API key (``--key`` or ``CORRIDOR_API_KEY``), exactly as over HTTP.

Output is for people by default and one JSON document with ``--json``. A refused command prints
``error: <code>: <detail>`` (with ``--json``: ``{"code", "detail", …}``) on stderr and exits 2.

The lead registers them in ``corridor.cli.main``::

    from corridor.cli.settlement import invoices_app, operations_app, payments_app
    app.add_typer(invoices_app, name="invoices")
    app.add_typer(payments_app, name="payments")
    app.add_typer(operations_app, name="operations")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from corridor.access.model import Principal
from corridor.access.service import authenticate
from corridor.cli.context import open_database
from corridor.cli.participants import KeyOption
from corridor.db import Database
from corridor.errors import CorridorError, ValidationFailed
from corridor.settlement import refunds, service
from corridor.settlement.model import fiat_from_minor
from corridor.settlement.service import InvoiceIn, PaymentOrderIn

T = TypeVar("T")

invoices_app = typer.Typer(
    help="Invoices for export proceeds, and their refund and top-up requests.", no_args_is_help=True
)
payments_app = typer.Typer(help="Payment orders for imports: create, approve, cancel.", no_args_is_help=True)
operations_app = typer.Typer(
    help="Currency-operation records and their PDF statements.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AfterOption = Annotated[str | None, typer.Option("--after", help="Page on after this id.")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many (1-500).")]
TtlOption = Annotated[int | None, typer.Option("--ttl-minutes", help="Quote lifetime, 1-1440 minutes.")]
BeneficiaryName = Annotated[str | None, typer.Option("--beneficiary-name", help="Travel Rule: who receives.")]
BeneficiaryCountry = Annotated[str | None, typer.Option("--beneficiary-country", help="ISO 3166 alpha-2.")]
VaspName = Annotated[
    str | None, typer.Option("--vasp-name", help="The beneficiary's VASP (custodial wallet).")
]
VaspLei = Annotated[str | None, typer.Option("--vasp-lei", help="LEI of the beneficiary's VASP.")]


# --- running a command --------------------------------------------------------------------------------


def _act(key: str, as_json: bool, action: Callable[[Database, Principal], T]) -> T:
    """Authenticate the key and run ``action``; a domain error becomes one line on stderr and exit 2."""
    db = open_database()
    try:
        return action(db, authenticate(db, key))
    except CorridorError as error:
        raise _refused(error, as_json) from None
    finally:
        db.dispose()


def _refused(error: CorridorError, as_json: bool) -> typer.Exit:
    if as_json:
        document = {"code": error.code, "detail": error.detail, **error.extra}
        typer.echo(json.dumps(document, default=str, ensure_ascii=False), err=True)
    else:
        typer.echo(f"error: {error.code}: {error.detail}", err=True)
    return typer.Exit(2)


def _print(as_json: bool, result: Any, human: Callable[[Any], Iterable[str]]) -> None:
    if as_json:
        typer.echo(json.dumps(result, default=str, sort_keys=True, ensure_ascii=False))
        return
    for line in human(result):
        typer.echo(line)


def _beneficiary(
    name: str | None, country: str | None, vasp_name: str | None, vasp_lei: str | None
) -> dict[str, Any] | None:
    """Only what was given: the rest defaults to the contract's counterparty."""
    given: dict[str, Any] = {"name": name, "country": country, "vasp_name": vasp_name, "vasp_lei": vasp_lei}
    given = {k: v for k, v in given.items() if v is not None}
    if vasp_name is not None:
        given["custodial"] = True
    return given or None


# --- human output -------------------------------------------------------------------------------------


def _rub(kopecks: int) -> str:
    return f"{fiat_from_minor(kopecks, 'RUB')}"


def _request_line(request: dict[str, Any]) -> str:
    line = f"  request {request['id']}: {request['kind']} of {request['sats']} sats, {request['status']}"
    return line + (f" ({request['resolution']})" if request.get("resolution") else "")


def invoice_lines(invoice: dict[str, Any]) -> list[str]:
    status = invoice["status"] + (f" ({invoice['exception']})" if invoice["exception"] else "")
    lines = [
        f"invoice {invoice['id']}: {status}",
        f"  contract {invoice['contract_id']}, {invoice['amount']} {invoice['currency']}"
        f" (RUB equivalent {_rub(invoice['amount_rub_minor'])}), VO {invoice['vo_code']}",
        f"  due {invoice['sats_due']} sats (tolerance {invoice['tolerance_sats']}), paid {invoice['paid_sats']},"
        f" confirmed {invoice['confirmed_sats']}",
        f"  pay to {invoice['address']}",
        f"  {invoice['bip21']}",
        f"  quote {invoice['quote']['id']} at {invoice['quote']['price']}, expires {invoice['expires_at']}",
    ]
    if invoice["settled_at"]:
        lines.append(f"  settled at {invoice['settled_at']}")
    lines += [
        f"  payment {p['txid']}:{p['vout']} {p['sats']} sats, {p['confirmations']} confirmations"
        for p in invoice.get("payments", [])
    ]
    return lines + [_request_line(r) for r in invoice["requests"]]


def invoice_row(invoice: dict[str, Any]) -> str:
    return (f"{invoice['id']:<26} {invoice['status']:<10} {invoice['exception'] or '-':<12} "
            f"{invoice['amount']:>14} {invoice['currency']} {invoice['sats_due']:>12} sats")  # fmt: skip


def request_lines(request: dict[str, Any]) -> list[str]:
    lines = [_request_line(request).strip() + f" (invoice {request['invoice_id']})"]
    for refund in request["refunds"]:
        where = f" in {refund['txid']}" if refund["txid"] else ""
        why = f": {refund['reason']}" if refund["reason"] else ""
        lines.append(f"  refund {refund['payout_id']}: {refund['sats']} sats to {refund['address']}, "
                     f"{refund['state']}{where}{why}")  # fmt: skip
    return lines


def order_lines(order: dict[str, Any]) -> list[str]:
    beneficiary = order["beneficiary"]
    approvals = ", ".join(order["approvals"]) or "none"
    lines = [
        f"payment order {order['id']}: {order['state']}"
        + (f" ({order['reason']})" if order["reason"] else ""),
        f"  contract {order['contract_id']}, {order['amount']} {order['currency']} = {order['sats']} sats,"
        f" VO {order['vo_code']}",
        f"  to {order['address']} ({beneficiary['name']}, {beneficiary['country']})",
        f"  approvals {len(order['approvals'])} of {order['approvals_required']}: {approvals}",
        f"  maker {order['maker']}",
        f"  quote {order['quote']['id']} at {order['quote']['price']}, expires {order['quote']['expires_at']}",
    ]
    if order["payout_id"]:
        lines.append(f"  payout {order['payout_id']}" + (f", txid {order['txid']}" if order["txid"] else ""))
    if order["reference"]:
        lines.append(f"  reference {order['reference']}")
    return lines


def order_row(order: dict[str, Any]) -> str:
    return (f"{order['id']:<26} {order['state']:<16} {order['amount']:>14} {order['currency']} "
            f"{order['sats']:>12} sats  {order['address']}")  # fmt: skip


def operation_lines(operation: dict[str, Any]) -> list[str]:
    rate = operation["official_rate"]
    amount = fiat_from_minor(operation["amount_minor"], operation["currency"])
    return [
        f"currency operation {operation['id']}: {operation['kind']} (VO {operation['vo_code']}) "
        f"on {operation['operation_date']}",
        f"  contract {operation['contract_id']}, UNK {operation['unk'] or '-'}",
        f"  {amount} {operation['currency']}, RUB equivalent {_rub(operation['amount_rub_minor'])}",
        f"  official rate {rate['rate']} ({rate['source']}, published {rate['published_on']})",
        f"  {operation['sats']} sats in {', '.join(operation['outputs'])}"
        + (f" at height {operation['block_height']}" if operation["block_height"] is not None else ""),
        f"  market price {operation['price']} ({operation['price_id']})",
        f"  registry seq {operation['registry_seq']}, entry {operation['registry_hash']}",
    ]


def operation_row(operation: dict[str, Any]) -> str:
    amount = fiat_from_minor(operation["amount_minor"], operation["currency"])
    return (f"{operation['id']:<30} {operation['kind']:<16} {operation['operation_date']} "
            f"{amount:>14} {operation['currency']} {operation['sats']:>12} sats")  # fmt: skip


def _rows(empty: str, row: Callable[[dict[str, Any]], str]) -> Callable[[list[dict[str, Any]]], list[str]]:
    return lambda items: [row(item) for item in items] or [empty]


# --- invoices -----------------------------------------------------------------------------------------


@invoices_app.command("create")
def create_invoice(
    contract_id: str,
    amount: Annotated[str, typer.Argument(help='A decimal string, e.g. "1250.00".')],
    currency: Annotated[str, typer.Argument(help="The contract's currency, e.g. RUB.")],
    key: KeyOption,
    invoice_id: Annotated[
        str | None, typer.Option("--id", help="Your id; a retry with it is idempotent.")
    ] = None,
    vo_code: Annotated[str | None, typer.Option("--vo-code", help="Operation code (default 10100).")] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    ttl_minutes: TtlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Invoice a foreign buyer under an export contract: the BTC amount is locked, a fresh address issued."""
    data = InvoiceIn(contract_id, amount, currency, invoice_id, vo_code, description, ttl_minutes)
    _print(as_json, _act(key, as_json, lambda db, p: service.create_invoice(db, p, data)), invoice_lines)


@invoices_app.command("show")
def show_invoice(invoice_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    """One invoice with its payments and requests."""
    _print(as_json, _act(key, as_json, lambda db, p: service.get_invoice(db, p, invoice_id)), invoice_lines)


@invoices_app.command("list")
def list_invoices(
    key: KeyOption,
    status: Annotated[str | None, typer.Option("--status", help="new, processing, settled, …")] = None,
    after: AfterOption = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
) -> None:
    """Invoices in id order (a client sees its own)."""
    found = _act(key, as_json, lambda db, p: service.list_invoices(db, p, status, after, limit))
    _print(as_json, found, _rows("no invoices", invoice_row))


@invoices_app.command("request")
def show_request(request_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    """A refund or top-up request with its refund payouts."""
    _print(as_json, _act(key, as_json, lambda db, p: refunds.get_request(db, p, request_id)), request_lines)


@invoices_app.command("resolve")
def resolve_request(
    request_id: str,
    key: KeyOption,
    resolution: Annotated[str, typer.Option("--resolution", help="How it was resolved, 3-200 characters.")],
    as_json: JsonOption = False,
) -> None:
    """Close a refund or top-up request by hand, saying what was done."""
    resolved = _act(key, as_json, lambda db, p: service.resolve_request(db, p, request_id, resolution))
    _print(as_json, resolved, lambda r: [_request_line(r).strip()])


@invoices_app.command("refund")
def refund_request(
    request_id: str,
    key: KeyOption,
    address: Annotated[str, typer.Option("--address", help="Where to pay the refund.")],
    beneficiary_name: BeneficiaryName = None,
    beneficiary_country: BeneficiaryCountry = None,
    vasp_name: VaspName = None,
    vasp_lei: VaspLei = None,
    as_json: JsonOption = False,
) -> None:
    """Pay a refund request back on chain (screened, Travel Rule checked, batched by custody)."""
    beneficiary = _beneficiary(beneficiary_name, beneficiary_country, vasp_name, vasp_lei)
    queued = _act(key, as_json, lambda db, p: refunds.refund_request(db, p, request_id, address, beneficiary))
    _print(as_json, queued, request_lines)


# --- payment orders ----------------------------------------------------------------------------------


@payments_app.command("create")
def create_payment(
    contract_id: str,
    amount: Annotated[str, typer.Argument(help='A decimal string, e.g. "250000.00".')],
    currency: Annotated[str, typer.Argument(help="The contract's currency, e.g. RUB.")],
    key: KeyOption,
    address: Annotated[
        str | None, typer.Option("--address", help="Default: the counterparty's wallet.")
    ] = None,
    beneficiary_name: BeneficiaryName = None,
    beneficiary_country: BeneficiaryCountry = None,
    vasp_name: VaspName = None,
    vasp_lei: VaspLei = None,
    order_id: Annotated[
        str | None, typer.Option("--id", help="Your id; a retry with it is idempotent.")
    ] = None,
    vo_code: Annotated[str | None, typer.Option("--vo-code", help="Operation code (default 11100).")] = None,
    reference: Annotated[str, typer.Option("--reference")] = "",
    ttl_minutes: TtlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Order a payment to a foreign supplier under an import contract; the sats are held at once."""
    data = PaymentOrderIn(
        contract_id, amount, currency, address,
        _beneficiary(beneficiary_name, beneficiary_country, vasp_name, vasp_lei), order_id, vo_code, reference,
        ttl_minutes,
    )  # fmt: skip
    _print(as_json, _act(key, as_json, lambda db, p: service.create_payment_order(db, p, data)), order_lines)


@payments_app.command("approve")
def approve_payment(order_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    """One approval (never the maker's); the last one needed queues the payout."""
    approved = _act(key, as_json, lambda db, p: service.approve_payment_order(db, p, order_id))
    _print(as_json, approved, order_lines)


@payments_app.command("cancel")
def cancel_payment(
    order_id: str,
    key: KeyOption,
    reason: Annotated[str, typer.Option("--reason", help="Why, 3-200 characters.")],
    as_json: JsonOption = False,
) -> None:
    """Cancel before the payout is in a batch; the held sats are released once."""
    cancelled = _act(key, as_json, lambda db, p: service.cancel_payment_order(db, p, order_id, reason))
    _print(as_json, cancelled, order_lines)


@payments_app.command("show")
def show_payment(order_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    _print(as_json, _act(key, as_json, lambda db, p: service.get_payment_order(db, p, order_id)), order_lines)


@payments_app.command("list")
def list_payments(
    key: KeyOption,
    state: Annotated[
        str | None, typer.Option("--state", help="pending_approval, queued, confirmed, …")
    ] = None,
    after: AfterOption = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
) -> None:
    """Payment orders in id order (a client sees its own)."""
    found = _act(key, as_json, lambda db, p: service.list_payment_orders(db, p, state, after, limit))
    _print(as_json, found, _rows("no payment orders", order_row))


# --- currency operations -----------------------------------------------------------------------------


@operations_app.command("list")
def list_operations(
    key: KeyOption, after: AfterOption = None, limit: LimitOption = 100, as_json: JsonOption = False
) -> None:
    """Currency-operation records in id order (a client sees its own)."""
    found = _act(key, as_json, lambda db, p: service.list_operations(db, p, after, limit))
    _print(as_json, found, _rows("no currency operations", operation_row))


@operations_app.command("show")
def show_operation(operation_id: str, key: KeyOption, as_json: JsonOption = False) -> None:
    found = _act(key, as_json, lambda db, p: service.get_operation(db, p, operation_id))
    _print(as_json, found, operation_lines)


@operations_app.command("statement")
def statement(
    operation_id: str,
    key: KeyOption,
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.", dir_okay=False)],
    as_json: JsonOption = False,
) -> None:
    """Write the operator's PDF statement of one settlement."""

    def write(db: Database, principal: Principal) -> dict[str, Any]:
        if not out.parent.is_dir():  # checked first, so a bad path never costs a rendering
            raise ValidationFailed("out.invalid", f"{out.parent} is not a directory")
        pdf = service.statement_pdf(db, principal, operation_id)
        try:
            out.write_bytes(pdf)
        except OSError as error:
            raise ValidationFailed("out.invalid", f"cannot write {out}: {error.strerror}") from None
        return {"operation_id": operation_id, "path": str(out), "bytes": len(pdf),
                "sha256": hashlib.sha256(pdf).hexdigest()}  # fmt: skip

    written = _act(key, as_json, write)
    _print(
        as_json,
        written,
        lambda w: [f"wrote the statement of {operation_id} to {w['path']} ({w['bytes']} bytes)"],
    )
