"""Dispatch and delivery on both databases against a real HTTP receiver: signatures, the retry schedule
under an injected clock, final failure, redelivery, event filters, deletion and concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from corridor.db import Database
from corridor.errors import Conflict, Forbidden, NotFound
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.webhooks import service as webhooks
from corridor.webhooks import store
from corridor.webhooks.model import DeliveryStatus
from corridor.webhooks.sealing import SecretBox
from corridor.webhooks.service import EndpointChanges, EndpointIn, WebhookConfig

from .conftest import FakeClock, Parties, Receiver, settlement_event


def make_endpoint(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    path: str,
    config: WebhookConfig,
    box: SecretBox,
    clock: FakeClock,
    participant: str | None = None,
    event_types: tuple[str, ...] = (),
) -> str:
    created = webhooks.create_endpoint(
        db,
        parties.ops,
        EndpointIn(receiver.url(path), participant or parties.first, event_types),
        config=config,
        box=box,
        clock=clock,
    )
    receiver.secrets[path] = created.secret
    return created.endpoint.id


def run(db: Database, clock: FakeClock, config: WebhookConfig, box: SecretBox) -> webhooks.WebhookRound:
    return webhooks.run_webhooks_once(db, clock=clock, config=config, box=box)


def only_delivery(db: Database, parties: Parties, endpoint_id: str) -> webhooks.DeliveryView:
    views = webhooks.list_deliveries(db, parties.ops, endpoint_id=endpoint_id)
    assert len(views) == 1
    return views[0]


def count(db: Database, table: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_a_signed_event_reaches_the_receiver(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    endpoint_id = make_endpoint(db, parties, receiver, "/hook", config, box, clock)
    entry = settlement_event(db, parties.first, "settlement.invoice.settled", "inv-7")

    result = run(db, clock, config, box)

    assert (result.dispatched, result.delivery.claimed, result.delivery.delivered) == (1, 1, 1)
    [got] = receiver.on("/hook")
    assert got.verified
    assert got.headers["Corridor-Event-Id"] == f"evt_{entry.seq}"
    assert got.headers["Corridor-Event-Type"] == "settlement.invoice.settled"
    assert got.headers["Content-Type"] == "application/json"
    assert got.json == {
        "id": f"evt_{entry.seq}",
        "type": "settlement.invoice.settled",
        "created": entry.time,
        "data": entry.payload,
    }
    view = only_delivery(db, parties, endpoint_id)
    assert got.headers["Corridor-Delivery-Id"] == view.delivery.id
    assert view.delivery.status is DeliveryStatus.DELIVERED
    assert view.event_subject == "invoice:inv-7"
    [attempt] = view.attempts
    assert attempt["ok"] and attempt["status_code"] == 200 and attempt["trigger"] == "initial"
    assert attempt["attempted_at"] == "2026-03-02T09:00:00.000000Z"
    assert isinstance(attempt["duration_ms"], int) and attempt["duration_ms"] >= 0
    # Nothing more to do: a second round sends nothing and queues nothing.
    again = run(db, clock, config, box)
    assert (again.dispatched, again.delivery.claimed) == (0, 0)


def test_500_then_timeout_then_success_follows_the_backoff_schedule(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    endpoint_id = make_endpoint(db, parties, receiver, "/flaky", config, box, clock)
    receiver.scripts["/flaky"] = [500, "slow"]
    settlement_event(db, parties.first)

    first = run(db, clock, config, box)
    assert (first.delivery.claimed, first.delivery.retrying) == (1, 1)
    assert only_delivery(db, parties, endpoint_id).delivery.next_attempt_at == "2026-03-02T09:00:10.000000Z"

    clock.advance(9.9)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).claimed == 0  # not before 10 s
    clock.advance(0.1)
    second = webhooks.deliver_due(db, clock=clock, config=config, box=box)
    assert (second.claimed, second.retrying) == (1, 1)
    assert only_delivery(db, parties, endpoint_id).delivery.next_attempt_at == "2026-03-02T09:00:40.000000Z"

    clock.advance(29)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).claimed == 0  # 30 s after the 2nd
    clock.advance(1)
    third = webhooks.deliver_due(db, clock=clock, config=config, box=box)
    assert (third.claimed, third.delivered) == (1, 1)

    view = only_delivery(db, parties, endpoint_id)
    assert view.delivery.status is DeliveryStatus.DELIVERED
    assert view.delivery.delivered_at == "2026-03-02T09:00:40.000000Z"
    attempts = view.attempts
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, None, 200]
    assert [a["trigger"] for a in attempts] == ["initial", "retry", "retry"]
    assert [a["attempted_at"][11:19] for a in attempts] == ["09:00:00", "09:00:10", "09:00:40"]
    assert attempts[0]["error"] == "HTTP 500 Internal Server Error"
    assert attempts[1]["error"].startswith("timeout")
    assert attempts[2]["error"] is None
    # The same event each time, each attempt freshly signed.
    received = receiver.on("/flaky")
    assert len(received) == 3 and all(r.verified for r in received)
    assert len({r.headers["Corridor-Event-Id"] for r in received}) == 1
    assert len({r.headers["Corridor-Signature"] for r in received}) == 3
    assert len({r.body for r in received}) == 1


def test_max_attempts_then_failed_and_new_events_still_flow(
    db: Database, parties: Parties, receiver: Receiver, clock: FakeClock, box: SecretBox
) -> None:
    config = WebhookConfig(timeout_seconds=0.5, max_attempts=3, allow_private_targets=True)
    endpoint_id = make_endpoint(db, parties, receiver, "/down", config, box, clock)
    receiver.always["/down"] = 503
    settlement_event(db, parties.first)

    run(db, clock, config, box)
    clock.advance(10)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).retrying == 1
    clock.advance(30)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).failed == 1
    clock.advance(86_400)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).claimed == 0

    view = only_delivery(db, parties, endpoint_id)
    assert view.delivery.status is DeliveryStatus.FAILED
    assert view.delivery.next_attempt_at is None
    assert [a["status_code"] for a in view.attempts] == [503, 503, 503]
    failures = registry.list_entries(db, parties.ops, kind="webhooks.delivery.failed")
    assert [e.payload["id"] for e in failures] == [view.delivery.id]
    assert failures[0].actor == "system:webhooks"

    # A failed delivery does not switch the endpoint off (BTCPay #3146): the next event is sent at once.
    receiver.always["/down"] = 200
    settlement_event(db, parties.first, "settlement.invoice.expired", "inv-2")
    assert run(db, clock, config, box).delivery.delivered == 1


def test_redelivery_sends_again_with_a_fresh_budget_and_is_recorded(
    db: Database, parties: Parties, receiver: Receiver, clock: FakeClock, box: SecretBox
) -> None:
    config = WebhookConfig(timeout_seconds=0.5, max_attempts=1, allow_private_targets=True)
    endpoint_id = make_endpoint(db, parties, receiver, "/r", config, box, clock)
    settlement_event(db, parties.first)
    run(db, clock, config, box)
    delivered = only_delivery(db, parties, endpoint_id).delivery
    assert delivered.status is DeliveryStatus.DELIVERED

    clock.advance(60)
    view = webhooks.redeliver(db, parties.client_first, delivered.id, clock=clock)
    assert view.delivery.status is DeliveryStatus.PENDING
    assert view.delivery.next_attempt_at == "2026-03-02T09:01:00.000000Z"
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).delivered == 1

    # A failed one comes back too, with a whole new round of attempts.
    receiver.always["/r"] = 500
    clock.advance(60)
    webhooks.redeliver(db, parties.ops, delivered.id, clock=clock)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).failed == 1
    receiver.always["/r"] = 200
    webhooks.redeliver(db, parties.ops, delivered.id, clock=clock)
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).delivered == 1

    view = only_delivery(db, parties, endpoint_id)
    assert [(a["number"], a["trigger"], a["ok"]) for a in view.attempts] == [
        (1, "initial", True),
        (2, "redelivery", True),
        (3, "redelivery", False),
        (4, "redelivery", True),
    ]
    received = receiver.on("/r")
    assert len(received) == 4 and all(r.verified for r in received)
    assert len({r.headers["Corridor-Event-Id"] for r in received}) == 1
    requests = registry.list_entries(db, parties.ops, kind="webhooks.delivery.redelivery_requested")
    assert [e.actor for e in requests] == ["user:client-1", "user:ops-1", "user:ops-1"]
    assert [e.payload["previous_status"] for e in requests] == ["delivered", "delivered", "failed"]


def test_redelivery_is_refused_for_a_disabled_or_deleted_endpoint_and_for_outsiders(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    endpoint_id = make_endpoint(db, parties, receiver, "/x", config, box, clock)
    settlement_event(db, parties.first)
    run(db, clock, config, box)
    delivery_id = only_delivery(db, parties, endpoint_id).delivery.id
    with pytest.raises(Forbidden) as outsider:
        webhooks.redeliver(db, parties.client_second, delivery_id, clock=clock)
    assert outsider.value.code == "forbidden_scope"
    with pytest.raises(NotFound):
        webhooks.redeliver(db, parties.ops, "no-such-delivery", clock=clock)
    webhooks.update_endpoint(db, parties.ops, endpoint_id, EndpointChanges(enabled=False), config=config)
    with pytest.raises(Conflict) as disabled:
        webhooks.redeliver(db, parties.ops, delivery_id, clock=clock)
    assert disabled.value.code == "webhook_endpoint_disabled"
    webhooks.delete_endpoint(db, parties.ops, endpoint_id)
    with pytest.raises(Conflict) as deleted:
        webhooks.redeliver(db, parties.ops, delivery_id, clock=clock)
    assert deleted.value.code == "webhook_endpoint_deleted"


def test_event_filters_participants_and_creation_time_decide_who_gets_what(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    settlement_event(db, parties.first, "settlement.invoice.created", "before")  # before any endpoint
    settled_only = make_endpoint(
        db, parties, receiver, "/settled", config, box, clock, event_types=("settlement.invoice.settled",)
    )
    everything = make_endpoint(db, parties, receiver, "/all", config, box, clock)
    orders = make_endpoint(
        db, parties, receiver, "/orders", config, box, clock, event_types=("settlement.payment_order.",)
    )
    other = make_endpoint(db, parties, receiver, "/other", config, box, clock, participant=parties.second)

    settlement_event(db, parties.first, "settlement.invoice.created", "inv-1")
    settlement_event(db, parties.first, "settlement.invoice.settled", "inv-1")
    settlement_event(db, parties.first, "settlement.payment_order.confirmed", "po-1")
    with db.transaction() as session:  # not a followed kind, and a followed kind with no participant
        registry.append(
            session, "system:x", "ledger.transfer.single", "transfer:t1", {"participant_id": parties.first}
        )
        registry.append(session, "system:x", "settlement.invoice.created", "invoice:odd", {"id": "odd"})
    settlement_event(db, parties.second, "settlement.invoice.settled", "inv-9")

    assert webhooks.dispatch_once(db, clock=clock) == 6
    assert webhooks.dispatch_once(db, clock=clock) == 0
    types = {
        endpoint_id: sorted(
            v.delivery.event_type for v in webhooks.list_deliveries(db, parties.ops, endpoint_id=endpoint_id)
        )
        for endpoint_id in (settled_only, everything, orders, other)
    }
    assert types == {
        settled_only: ["settlement.invoice.settled"],
        everything: [
            "settlement.invoice.created",
            "settlement.invoice.settled",
            "settlement.payment_order.confirmed",
        ],
        orders: ["settlement.payment_order.confirmed"],
        other: ["settlement.invoice.settled"],
    }
    assert run(db, clock, config, box).delivery.delivered == 6
    assert all(r.verified for r in receiver.received)
    assert receiver.on("/other")[0].json["data"]["participant_id"] == parties.second


def test_disabled_endpoints_get_no_new_events_and_deleted_ones_cancel_pending(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    endpoint_id = make_endpoint(db, parties, receiver, "/d", config, box, clock)
    webhooks.update_endpoint(
        db, parties.client_first, endpoint_id, EndpointChanges(enabled=False), config=config
    )
    settlement_event(db, parties.first, "settlement.invoice.created", "a")
    assert webhooks.dispatch_once(db, clock=clock) == 0
    webhooks.update_endpoint(
        db, parties.client_first, endpoint_id, EndpointChanges(enabled=True), config=config
    )
    settlement_event(db, parties.first, "settlement.invoice.created", "b")
    assert webhooks.dispatch_once(db, clock=clock) == 1

    webhooks.delete_endpoint(db, parties.client_first, endpoint_id)
    [view] = webhooks.list_deliveries(db, parties.ops, endpoint_id=endpoint_id)
    assert view.delivery.status is DeliveryStatus.CANCELLED
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).claimed == 0
    assert receiver.received == []
    [deleted] = registry.list_entries(db, parties.ops, kind="webhooks.endpoint.deleted")
    assert deleted.payload["cancelled_deliveries"] == 1
    with pytest.raises(NotFound):
        webhooks.get_endpoint(db, parties.ops, endpoint_id)


def test_a_secret_sealed_under_another_key_fails_loudly_in_the_log(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    endpoint_id = make_endpoint(db, parties, receiver, "/k", config, box, clock)
    settlement_event(db, parties.first)
    other_key = SecretBox(bytes(32))
    report = webhooks.run_webhooks_once(db, clock=clock, config=config, box=other_key).delivery
    assert report.retrying == 1
    [attempt] = only_delivery(db, parties, endpoint_id).attempts
    assert attempt["error"].startswith("secret_unreadable")
    assert receiver.received == []


def test_an_internal_target_is_refused_when_private_targets_are_not_allowed(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    # Created while allowed (say, a test deployment), then production settings forbid internal targets.
    endpoint_id = make_endpoint(db, parties, receiver, "/internal", config, box, clock)
    settlement_event(db, parties.first)
    strict = WebhookConfig(timeout_seconds=0.3, allow_private_targets=False)
    assert webhooks.run_webhooks_once(db, clock=clock, config=strict, box=box).delivery.retrying == 1
    [attempt] = only_delivery(db, parties, endpoint_id).attempts
    assert attempt["error"].startswith("target_not_allowed")
    assert receiver.received == []


def test_concurrent_dispatchers_and_senders_never_duplicate(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    paths = ["/c1", "/c2", "/c3"]
    for path in paths:
        make_endpoint(db, parties, receiver, path, config, box, clock)
    events = 30
    for number in range(events):
        settlement_event(db, parties.first, "settlement.invoice.created", f"inv-{number}")

    created: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def dispatcher() -> None:
        try:
            barrier.wait()
            while made := webhooks.dispatch_once(db, limit=4, clock=clock):
                created.append(made)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(created) == events * len(paths) == count(db, "webhooks_deliveries")

    sent: list[webhooks.DeliveryReport] = []
    small = WebhookConfig(timeout_seconds=2, batch_size=10, concurrency=4, allow_private_targets=True)

    def sender() -> None:
        try:
            barrier.wait()
            while (report := webhooks.deliver_due(db, clock=clock, config=small, box=box)).claimed:
                sent.append(report)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.delivered for r in sent) == events * len(paths)
    for path in paths:
        ids = [r.headers["Corridor-Event-Id"] for r in receiver.on(path)]
        assert len(ids) == len(set(ids)) == events
    assert count(db, "webhooks_attempts") == events * len(paths)


def test_a_claim_is_leased_so_a_second_worker_skips_it(
    db: Database,
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    config: WebhookConfig,
    box: SecretBox,
) -> None:
    endpoint_id = make_endpoint(db, parties, receiver, "/lease", config, box, clock)
    settlement_event(db, parties.first)
    webhooks.dispatch_once(db, clock=clock)
    now = clock()
    with db.transaction() as session:
        claims = store.claim_due(session, format_time(now), format_time(now + timedelta(minutes=5)), "w1", 10)
    assert [c.endpoint.id for c in claims] == [endpoint_id]
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).claimed == 0
    with pytest.raises(Conflict) as in_flight:
        webhooks.redeliver(db, parties.ops, claims[0].delivery_id, clock=clock)
    assert in_flight.value.code == "webhook_delivery_in_flight"
    clock.advance(301)  # the first worker died: its lease runs out and the delivery comes due again
    assert webhooks.deliver_due(db, clock=clock, config=config, box=box).delivered == 1


def test_one_housekeeping_round_works_through_several_batches(
    db: Database, parties: Parties, receiver: Receiver, clock: FakeClock, box: SecretBox
) -> None:
    config = WebhookConfig(timeout_seconds=0.5, batch_size=2, concurrency=2, allow_private_targets=True)
    make_endpoint(db, parties, receiver, "/batches", config, box, clock)
    for number in range(5):
        settlement_event(db, parties.first, "settlement.payment_order.queued", f"po-{number}")
    result = webhooks.run_webhooks_once(db, clock=clock, config=config, box=box, dispatch_limit=2)
    assert result.dispatched == 5
    assert (result.delivery.claimed, result.delivery.delivered) == (5, 5)
    assert len(receiver.on("/batches")) == 5
