"""Invoices and payment orders end to end on the devnode, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from corridor.access.model import Principal, Role
from corridor.db import Database
from corridor.demo import world
from corridor.errors import Conflict, CorridorError, Forbidden, NotFound, PolicyRefused
from corridor.ledger import service as ledger
from corridor.settlement import service
from corridor.settlement.service import InvoiceIn, PaymentOrderIn

from .conftest import World, later

pytestmark = [pytest.mark.db, pytest.mark.chain]


def count(db: Database, table: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def client_of(participant_id: str) -> Principal:
    return Principal(f"client-{participant_id[:8]}", Role.CLIENT, participant_id, name="Client user")


def balance(w: World, participant_id: str) -> dict[str, int]:
    return service.balance(w.db, w.officers.ops, participant_id)


# --- invoices -----------------------------------------------------------------------------------------


def test_invoice_paid_exactly_settles_after_the_credit_depth_and_is_recorded(settlement_world: World) -> None:
    w = settlement_world
    client = client_of(w.exporter)
    invoice = service.create_invoice(
        w.db,
        client,
        InvoiceIn(w.export_contract, "125000.00", "RUB", id="inv-1", description="machine parts"),
    )
    assert invoice["status"] == "new" and invoice["sats_due"] > 0
    assert invoice["quote"]["path"][0].startswith("market:recorded BTC/RUB")
    txid = w.pay(invoice["address"], invoice["sats_due"])
    w.settle_round()
    assert service.get_invoice(w.db, client, "inv-1")["status"] == "processing"
    w.mine(5)
    w.settle_round()
    assert service.get_invoice(w.db, client, "inv-1")["status"] == "processing"  # 5 confirmations of 6
    w.mine(1)
    w.settle_round()
    settled = service.get_invoice(w.db, client, "inv-1")
    assert settled["status"] == "settled" and settled["exception"] is None
    assert settled["confirmed_sats"] == invoice["sats_due"]
    assert balance(w, w.exporter)["balance_sats"] == invoice["sats_due"]
    operations = service.list_operations(w.db, client)
    assert len(operations) == 1
    record = operations[0]
    assert record["kind"] == "export_proceeds" and record["vo_code"] == "10100"
    assert record["amount_rub_minor"] == 125_000_00 and record["sats"] == invoice["sats_due"]
    assert record["outputs"] == [f"{txid}:0"]
    assert record["registry_seq"] is not None
    pdf = service.statement_pdf(w.db, client, record["id"])
    assert pdf.startswith(b"%PDF")
    # Another round changes nothing and records nothing twice.
    before = count(w.db, "settlement_operations"), count(w.db, "registry_entries")
    w.settle_round()
    assert (count(w.db, "settlement_operations"), count(w.db, "registry_entries")) == before


def test_underpaid_invoice_expires_paid_partial_with_a_top_up_request(settlement_world: World) -> None:
    w = settlement_world
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id="inv-p")
    )
    short = invoice["sats_due"] - 1_000
    w.pay(invoice["address"], short)
    w.mine(6)
    w.settle_round()
    seen = service.get_invoice(w.db, w.officers.ops, "inv-p")
    assert (seen["status"], seen["exception"]) == ("new", "paid_partial")
    w.settle_round(later(16))
    expired = service.get_invoice(w.db, w.officers.ops, "inv-p")
    assert (expired["status"], expired["exception"]) == ("expired", "paid_partial")
    assert [(r["kind"], r["sats"]) for r in expired["requests"]] == [("top_up", 1_000)]
    # What arrived is the exporter's, judged in locked sats and credited in full.
    assert balance(w, w.exporter)["balance_sats"] == short
    resolved = service.resolve_request(
        w.db, w.officers.ops, expired["requests"][0]["id"], "buyer topped up by a new invoice"
    )
    assert resolved["status"] == "resolved"
    with pytest.raises(Conflict):
        service.resolve_request(w.db, w.officers.ops, resolved["id"], "again")


def test_overpaid_invoice_settles_paid_over_and_asks_for_a_refund(settlement_world: World) -> None:
    w = settlement_world
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id="inv-o")
    )
    w.pay(invoice["address"], invoice["sats_due"] + 7_777)
    w.mine(6)
    w.settle_round()
    done = service.get_invoice(w.db, w.officers.ops, "inv-o")
    assert (done["status"], done["exception"]) == ("settled", "paid_over")
    assert [(r["kind"], r["sats"]) for r in done["requests"]] == [("refund", 7_777)]


def test_late_payment_makes_an_expired_invoice_invalid_paid_late(settlement_world: World) -> None:
    w = settlement_world
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id="inv-l", ttl_minutes=1)
    )
    w.settle_round(later(2))
    assert service.get_invoice(w.db, w.officers.ops, "inv-l")["status"] == "expired"
    w.pay(invoice["address"], invoice["sats_due"])
    w.mine(6)
    w.settle_round(later(3))
    late = service.get_invoice(w.db, w.officers.ops, "inv-l")
    assert (late["status"], late["exception"]) == ("invalid", "paid_late")
    assert [(r["kind"], r["sats"]) for r in late["requests"]] == [("refund", invoice["sats_due"])]


def test_reorg_removing_the_payment_takes_the_invoice_back_and_the_credit_with_it(
    settlement_world: World,
) -> None:
    w = settlement_world
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id="inv-r")
    )
    fork_height = w.rpc.getblockcount()
    w.pay(invoice["address"], invoice["sats_due"])
    w.mine(2)
    w.settle_round()
    assert service.get_invoice(w.db, w.officers.ops, "inv-r")["status"] == "processing"
    # A longer branch without the payment; the devnode returns it to the mempool, so drop it by a double spend
    # is not needed: the payment stays valid and simply confirms again on the new branch.
    w.rpc.call("generatefork", fork_height, 4, world.MINER.address())
    w.settle_round()
    again = service.get_invoice(w.db, w.officers.ops, "inv-r")
    assert again["status"] == "processing" and again["paid_sats"] == invoice["sats_due"]
    w.mine(6)
    w.settle_round()
    assert service.get_invoice(w.db, w.officers.ops, "inv-r")["status"] == "settled"
    assert balance(w, w.exporter)["balance_sats"] == invoice["sats_due"]


def test_bad_invoice_input_is_refused_and_changes_nothing(settlement_world: World) -> None:
    w = settlement_world
    before = count(w.db, "settlement_invoices"), count(w.db, "registry_entries")
    cases: list[tuple[InvoiceIn, str]] = [
        (InvoiceIn(w.export_contract, "100.001", "RUB"), "amount.too_many_decimals"),
        (InvoiceIn(w.export_contract, "100", "USD"), "currency_mismatch"),
        (InvoiceIn(w.export_contract, "-5", "RUB"), "amount.invalid"),
        (InvoiceIn(w.export_contract, "1e3", "RUB"), "amount.invalid"),
        (InvoiceIn(w.import_contract, "100", "RUB"), "contract_direction_mismatch"),
        (InvoiceIn("no-such-contract", "100", "RUB"), "contract_not_found"),
        (InvoiceIn(w.export_contract, "100", "RUB", vo_code="12"), "vo_code.invalid"),
        (InvoiceIn(w.export_contract, "100", "RUB", id="bad id!"), "invoice.invalid_id"),
    ]
    for data, code in cases:
        with pytest.raises(CorridorError) as raised:
            service.create_invoice(w.db, w.officers.ops, data)
        assert raised.value.code == code, (data, raised.value.code)
    assert (count(w.db, "settlement_invoices"), count(w.db, "registry_entries")) == before
    other = client_of(w.importer)
    with pytest.raises(NotFound):
        service.create_invoice(w.db, other, InvoiceIn(w.export_contract, "100", "RUB"))


def test_invoice_retry_is_idempotent_and_reuse_is_refused(settlement_world: World) -> None:
    w = settlement_world
    first = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "100", "RUB", id="inv-i")
    )
    again = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "100", "RUB", id="inv-i")
    )
    assert again["address"] == first["address"] and again["quote"]["id"] == first["quote"]["id"]
    with pytest.raises(Conflict):
        service.create_invoice(w.db, w.officers.ops, InvoiceIn(w.export_contract, "101", "RUB", id="inv-i"))


# --- payment orders ----------------------------------------------------------------------------------


def order(w: World, order_id: str, amount: str = "200000", **changes: object) -> dict[str, object]:
    return service.create_payment_order(
        w.db,
        client_of(w.importer),
        PaymentOrderIn(w.import_contract, amount, "RUB", id=order_id, **changes),  # type: ignore[arg-type]
    )


def test_payment_orders_are_approved_batched_confirmed_and_recorded(settlement_world: World) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(150_000_000)
    first = order(w, "po-1")
    second = order(w, "po-2", amount="1500000")  # above RUB 1,000,000: two approvals
    assert first["state"] == "pending_approval" and first["approvals_required"] == 1
    assert second["approvals_required"] == 2
    held = balance(w, w.importer)
    assert held["held_sats"] == first["sats"] + second["sats"]  # type: ignore[operator]
    with pytest.raises(Forbidden):
        service.approve_payment_order(w.db, client_of(w.importer), "po-1")  # clients never approve
    service.approve_payment_order(w.db, w.officers.treasurer, "po-1")
    service.approve_payment_order(w.db, w.officers.treasurer, "po-2")
    with pytest.raises(Conflict):
        service.approve_payment_order(w.db, w.officers.treasurer, "po-2")  # the same approver twice
    assert service.get_payment_order(w.db, w.officers.ops, "po-2")["state"] == "pending_approval"
    service.approve_payment_order(w.db, w.officers.checker, "po-2")
    w.settle_round()
    one, two = (service.get_payment_order(w.db, w.officers.ops, i) for i in ("po-1", "po-2"))
    assert one["state"] == two["state"] == "broadcast" and one["txid"] == two["txid"]  # one batch
    w.mine(6)
    w.settle_round()
    one, two = (service.get_payment_order(w.db, w.officers.ops, i) for i in ("po-1", "po-2"))
    assert one["state"] == two["state"] == "confirmed"
    paid = int(one["sats"]) + int(two["sats"])  # type: ignore[call-overload]
    after = balance(w, w.importer)
    assert after["balance_sats"] == 150_000_000 - paid and after["held_sats"] == 0
    tx = w.rpc.getrawtransaction_verbose(str(one["txid"]))
    supplier = world.SUPPLIER.p2wpkh.hex()
    assert sum(o.value_sats for o in tx.vout if o.script_pubkey.hex == supplier) == paid
    records = [r for r in service.list_operations(w.db, w.officers.ops) if r["kind"] == "import_payment"]
    assert sorted(r["source_id"] for r in records) == ["po-1", "po-2"]
    assert all(r["outputs"][0].startswith(str(one["txid"])) for r in records)


def test_cancel_releases_the_hold_exactly_once_even_when_raced(settlement_world: World) -> None:
    w = settlement_world
    w.fund_importer(50_000_000)
    created = order(w, "po-c")
    assert balance(w, w.importer)["held_sats"] == created["sats"]
    outcomes: list[str] = []

    def cancel() -> None:
        try:
            service.cancel_payment_order(w.db, w.officers.ops, "po-c", "buyer changed the order")
            outcomes.append("cancelled")
        except CorridorError as error:
            outcomes.append(error.code)

    def approve() -> None:
        try:
            service.approve_payment_order(w.db, w.officers.treasurer, "po-c")
            outcomes.append("approved")
        except CorridorError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=f) for f in (cancel, approve, cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = service.get_payment_order(w.db, w.officers.ops, "po-c")
    state = final["state"]
    assert state == "cancelled"
    assert balance(w, w.importer) == {**balance(w, w.importer), "held_sats": 0, "available_sats": 50_000_000}
    with w.db.transaction() as session:
        hold = ledger.get_account_in(session, service.HOLDS_ACCOUNT)
    assert hold is not None and hold.credits_pending == 0 and hold.credits_posted == 0


def test_order_checks_refuse_and_change_nothing(settlement_world: World) -> None:
    w = settlement_world
    w.fund_importer(10_000_000)
    sanctioned = world.demo_list_addresses()[0]
    before = count(w.db, "settlement_payment_orders"), balance(w, w.importer)
    cases: list[tuple[dict[str, object], str]] = [
        ({"amount": "9999999999"}, "limit_exceeded"),
        ({"amount": "1000000"}, "insufficient_funds"),  # about 0.15 BTC against 0.1 BTC deposited
        ({"address": sanctioned, "beneficiary": {"name": "Blackfin", "country": "AE", "wallet_address": sanctioned}},
         "screening_hit"),
        ({"address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}, "address.invalid"),  # mainnet on regtest
        ({"beneficiary": {"name": ""}}, "travel_rule.incomplete"),
        ({"beneficiary": {"wallet_address": world.SUPPLIERS[0].address()}}, "travel_rule.address_mismatch"),
        ({"amount": "10.123"}, "amount.too_many_decimals"),
    ]  # fmt: skip
    for n, (changes, code) in enumerate(cases):
        with pytest.raises(CorridorError) as raised:
            order(w, f"po-bad-{n}", **changes)
        assert raised.value.code == code, (changes, raised.value.code)
    assert (count(w.db, "settlement_payment_orders"), balance(w, w.importer)) == before


def test_unapproved_order_expires_with_its_quote_and_releases_funds(settlement_world: World) -> None:
    w = settlement_world
    w.fund_importer(10_000_000)
    order(w, "po-e", amount="1000", ttl_minutes=1)
    with pytest.raises(PolicyRefused) as raised:
        service.approve_payment_order(w.db, w.officers.treasurer, "po-e", clock=later(2))
    assert raised.value.code == "quote.expired"
    assert service.get_payment_order(w.db, w.officers.ops, "po-e")["state"] == "expired"
    assert balance(w, w.importer)["available_sats"] == 10_000_000
    w.settle_round(later(3))  # nothing left to do, nothing done twice
    assert balance(w, w.importer)["available_sats"] == 10_000_000


def test_queued_order_can_be_cancelled_but_not_once_batched(settlement_world: World) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(10_000_000)
    order(w, "po-q1", amount="1000")
    order(w, "po-q2", amount="1000")
    service.approve_payment_order(w.db, w.officers.treasurer, "po-q1")
    service.approve_payment_order(w.db, w.officers.treasurer, "po-q2")
    cancelled = service.cancel_payment_order(w.db, w.officers.ops, "po-q1", "wrong invoice")
    assert cancelled["state"] == "cancelled"
    w.settle_round()
    with pytest.raises(Conflict):
        service.cancel_payment_order(w.db, w.officers.ops, "po-q2", "too late")
    w.mine(6)
    w.settle_round()
    assert service.get_payment_order(w.db, w.officers.ops, "po-q2")["state"] == "confirmed"
    q2 = service.get_payment_order(w.db, w.officers.ops, "po-q2")
    assert balance(w, w.importer)["balance_sats"] == 10_000_000 - int(q2["sats"])  # type: ignore[call-overload]


def test_maker_cannot_approve_their_own_order(settlement_world: World) -> None:
    w = settlement_world
    w.fund_importer(10_000_000)
    service.create_payment_order(
        w.db, w.officers.ops, PaymentOrderIn(w.import_contract, "1000", "RUB", id="po-m")
    )
    with pytest.raises(PolicyRefused) as raised:
        service.approve_payment_order(w.db, w.officers.ops, "po-m")
    assert raised.value.code == "maker_checker"
    assert service.get_payment_order(w.db, w.officers.ops, "po-m")["approvals"] == []
