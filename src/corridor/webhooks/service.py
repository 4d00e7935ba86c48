"""Webhook use cases: endpoints, the registry consumer that turns settlement entries into deliveries, the
sender with its retry schedule, redelivery and the delivery log.

Two jobs run in the housekeeping loop (:func:`run_webhooks_once` does both):

* :func:`dispatch_once` reads registry entries after the stored offset and creates one delivery per
  (matching endpoint, event), advancing the offset in the same transaction. The offset row is locked, so
  concurrent dispatchers queue, and ``(endpoint_id, event_seq)`` is unique, so no event is queued twice.
* :func:`deliver_due` leases due deliveries in a short transaction, POSTs them with no transaction open,
  then records each attempt and the next step (delivered, retry at a later time, or failed).

User actions (endpoint changes, redelivery requests) and a delivery's final failure are registry entries.
Each attempt is kept in the delivery log (``webhooks_attempts``), not the registry, which would otherwise
grow by one entry per HTTP request.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.db import Database
from corridor.errors import Conflict, NotFound, ValidationFailed
from corridor.identity import service as identity
from corridor.logging import get_logger
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.model import Entry
from corridor.registry.service import utc_now
from corridor.settings import Settings, get_settings
from corridor.webhooks import delivery, store
from corridor.webhooks.model import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_SECONDS,
    SECRET_PREFIX,
    AttemptResult,
    DeliveryStatus,
    Trigger,
    after_attempt,
    check_description,
    check_event_types,
    check_url,
    event_body,
    event_id,
    is_followed,
    matches,
    redacted_url,
    truncate_error,
)
from corridor.webhooks.sealing import SecretBox, SecretUnreadable, box_from_file
from corridor.webhooks.store import Claim, DeliveryState, Endpoint

Clock = Callable[[], datetime]
SYSTEM_ACTOR = "system:webhooks"
log = get_logger("corridor.webhooks")


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """The webhook settings (``CORRIDOR_WEBHOOK_*``), passed explicitly by tests."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    batch_size: int = 100
    concurrency: int = 8
    allow_private_targets: bool = False
    key_file: Path = Path("./var/webhook-key.hex")

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        # getattr: the CORRIDOR_WEBHOOK_* fields are being added to Settings; until then, the defaults.
        key_file = getattr(settings, "webhook_key_file", None) or settings.data_dir / "webhook-key.hex"
        return cls(
            timeout_seconds=float(getattr(settings, "webhook_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            max_attempts=int(getattr(settings, "webhook_max_attempts", DEFAULT_MAX_ATTEMPTS)),
            batch_size=int(getattr(settings, "webhook_batch_size", 100)),
            concurrency=int(getattr(settings, "webhook_concurrency", 8)),
            allow_private_targets=bool(getattr(settings, "webhook_allow_private_targets", False)),
            key_file=Path(key_file),
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed batch is kept from other workers: long enough to send all of it, even when
        every receiver in it times out (and the name lookups before each request take as long again)."""
        rounds = math.ceil(self.batch_size / max(1, self.concurrency))
        return timedelta(seconds=2 * self.timeout_seconds * rounds + 30)


def _config(config: WebhookConfig | None) -> WebhookConfig:
    return config if config is not None else WebhookConfig.from_settings(get_settings())


def _box(config: WebhookConfig, box: SecretBox | None) -> SecretBox:
    return box if box is not None else box_from_file(config.key_file)


def _endpoint_subject(endpoint_id: str) -> str:
    return f"webhook_endpoint:{endpoint_id}"


def _delivery_subject(delivery_id: str) -> str:
    return f"webhook_delivery:{delivery_id}"


def _authorize_row(principal: Principal, action: str, participant_id: str | None) -> None:
    """Check the role first (with the caller's own scope), so a caller without the permission never learns
    from a 404 or a 403 whether a record exists; then check the record's participant."""
    authorize(principal, action, principal.participant_id)
    if participant_id is not None:
        authorize(principal, action, participant_id)


# --- endpoints -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointIn:
    url: str
    participant_id: str | None = None
    """Default: the caller's own participant (clients); the operator names one."""
    event_types: tuple[str, ...] = ()
    """Exact kinds or prefixes ending in '.'; empty means every followed event."""
    description: str = ""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    url: str | None = None
    event_types: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: Endpoint
    secret: str
    """The signing secret: returned this once and never shown again."""


def _url_record(url: str) -> dict[str, str]:
    return {"url": redacted_url(url), "url_sha256": hashlib.sha256(url.encode()).hexdigest()}


def create_endpoint(
    db: Database,
    principal: Principal,
    spec: EndpointIn,
    *,
    config: WebhookConfig | None = None,
    box: SecretBox | None = None,
    clock: Clock = utc_now,
) -> CreatedEndpoint:
    """Register a receiver for a participant's events; its signing secret is in the answer, only there."""
    participant_id = spec.participant_id or principal.participant_id
    authorize(principal, "webhooks.endpoint.create", participant_id)
    if participant_id is None:
        raise ValidationFailed("participant_required", "name the participant whose events the endpoint gets")
    config = _config(config)
    url = check_url(spec.url, config.allow_private_targets)
    event_types = check_event_types(spec.event_types)
    description = check_description(spec.description)
    endpoint_id = uuid.uuid4().hex
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    sealed = _box(config, box).seal(secret, endpoint_id)
    now = format_time(clock())
    with db.transaction() as session:
        identity.participant_in(session, participant_id)
        entry = registry.append_chained(  # since_seq: events from this entry on; nothing is locked after it
            session,
            principal.actor,
            "webhooks.endpoint.created",
            _endpoint_subject(endpoint_id),
            {
                "id": endpoint_id,
                "participant_id": participant_id,
                **_url_record(url),
                "event_types": list(event_types),
                "enabled": spec.enabled,
            },
            clock,
        )
        store.insert_endpoint(
            session,
            {
                "id": endpoint_id,
                "participant_id": participant_id,
                "url": url,
                "description": description,
                "event_types": event_types,
                "sealed_secret": sealed,
                "secret_hint": secret[: len(SECRET_PREFIX) + 4],
                "enabled": spec.enabled,
                "deleted": False,
                "since_seq": entry.seq,
                "created_by": principal.actor,
                "created_at": now,
                "updated_at": now,
            },
        )
        endpoint = store.get_endpoint(session, endpoint_id)
    assert endpoint is not None
    return CreatedEndpoint(endpoint, secret)


def _load_endpoint(
    session: Session, principal: Principal, endpoint_id: str, action: str, *, lock: bool = False
) -> Endpoint:
    endpoint = store.get_endpoint(session, endpoint_id, lock=lock)
    _authorize_row(principal, action, endpoint.participant_id if endpoint else None)
    if endpoint is None:
        raise NotFound("webhook_endpoint_not_found", f"no webhook endpoint {endpoint_id}")
    return endpoint


def get_endpoint(db: Database, principal: Principal, endpoint_id: str) -> Endpoint:
    with db.transaction() as session:
        return _load_endpoint(session, principal, endpoint_id, "webhooks.endpoint.read")


def list_endpoints(
    db: Database, principal: Principal, participant_id: str | None = None, limit: int = 100
) -> list[Endpoint]:
    """A client sees its own participant's endpoints; the operator and the regulator any, or one
    participant's."""
    scope = principal.participant_id if principal.participant_id is not None else participant_id
    authorize(principal, "webhooks.endpoint.read", scope)
    if participant_id is not None and participant_id != scope:
        authorize(principal, "webhooks.endpoint.read", participant_id)
    with db.transaction() as session:
        return store.list_endpoints(session, scope, max(1, min(limit, 1000)))


def update_endpoint(
    db: Database,
    principal: Principal,
    endpoint_id: str,
    changes: EndpointChanges,
    *,
    config: WebhookConfig | None = None,
    clock: Clock = utc_now,
) -> Endpoint:
    """Change the URL, filter, description or enabled flag. A disabled endpoint gets no new deliveries
    and its pending ones wait; events that happen while it is disabled are not sent to it later."""
    authorize(principal, "webhooks.endpoint.update", principal.participant_id)
    values: dict[str, Any] = {}
    recorded: dict[str, Any] = {}
    if changes.url is not None:
        values["url"] = check_url(changes.url, _config(config).allow_private_targets)
        recorded.update(_url_record(values["url"]))
    if changes.event_types is not None:
        values["event_types"] = check_event_types(changes.event_types)
        recorded["event_types"] = list(values["event_types"])
    if changes.description is not None:
        values["description"] = check_description(changes.description)
    if changes.enabled is not None:
        values["enabled"] = recorded["enabled"] = changes.enabled
    if not values:
        raise ValidationFailed("nothing_to_change", "name at least one field to change")
    with db.transaction() as session:
        endpoint = _load_endpoint(session, principal, endpoint_id, "webhooks.endpoint.update", lock=True)
        now = format_time(clock())
        store.update_endpoint(session, endpoint_id, {**values, "updated_at": now})
        registry.append(
            session,
            principal.actor,
            "webhooks.endpoint.updated",
            _endpoint_subject(endpoint_id),
            {"id": endpoint_id, "participant_id": endpoint.participant_id, **recorded},
            clock,
        )
        updated = store.get_endpoint(session, endpoint_id)
    assert updated is not None
    return updated


def delete_endpoint(db: Database, principal: Principal, endpoint_id: str, *, clock: Clock = utc_now) -> None:
    """Stop sending to an endpoint: its pending deliveries are cancelled; its delivery log stays readable."""
    with db.transaction() as session:
        endpoint = _load_endpoint(session, principal, endpoint_id, "webhooks.endpoint.delete", lock=True)
        now = format_time(clock())
        store.update_endpoint(session, endpoint_id, {"deleted": True, "enabled": False, "updated_at": now})
        cancelled = store.cancel_pending(session, endpoint_id, now)
        registry.append(
            session,
            principal.actor,
            "webhooks.endpoint.deleted",
            _endpoint_subject(endpoint_id),
            {"id": endpoint_id, "participant_id": endpoint.participant_id, "cancelled_deliveries": cancelled},
            clock,
        )


# --- dispatch: registry entries to deliveries ------------------------------------------------------------


def dispatch_once(db: Database, limit: int = 500, clock: Clock = utc_now) -> int:
    """Read up to ``limit`` registry entries after the stored offset; queue one delivery per matching
    endpoint; advance the offset in the same commit. Returns the number of deliveries created."""
    return _dispatch(db, limit, clock)[0]


def _dispatch(db: Database, limit: int, clock: Clock) -> tuple[int, int]:
    """(deliveries created, entries read)."""
    now = format_time(clock())
    with db.transaction() as session:
        offset = store.lock_offset(session, now)
        entries = registry.entries_after_in(session, offset, limit)
        if not entries:
            return 0, 0
        by_participant: dict[str, list[Endpoint]] = defaultdict(list)
        for endpoint in store.live_endpoints(session):
            by_participant[endpoint.participant_id].append(endpoint)
        event_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for entry in entries:
            targets, payload = _targets(entry, by_participant)
            if not targets:
                continue
            participant_id = str(payload["participant_id"])
            event_rows.append(
                {
                    "seq": entry.seq,
                    "type": entry.kind,
                    "subject": entry.subject,
                    "participant_id": participant_id,
                    "created": entry.time,
                    "body": event_body(entry.seq, entry.kind, entry.time, payload),
                }
            )
            delivery_rows.extend(_new_delivery(endpoint, entry, now) for endpoint in targets)
        store.insert_events(session, event_rows)
        created = store.insert_deliveries(session, delivery_rows)
        store.move_offset(session, entries[-1].seq, now)
    return created, len(entries)


def _targets(entry: Entry, by_participant: dict[str, list[Endpoint]]) -> tuple[list[Endpoint], Any]:
    if not is_followed(entry.kind):
        return [], None
    payload = entry.payload
    participant_id = payload.get("participant_id") if isinstance(payload, dict) else None
    if not isinstance(participant_id, str):
        return [], None
    targets = [
        endpoint
        for endpoint in by_participant.get(participant_id, ())
        if entry.seq > endpoint.since_seq and matches(endpoint.event_types, entry.kind)
    ]
    return targets, payload


def _new_delivery(endpoint: Endpoint, entry: Entry, now: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "endpoint_id": endpoint.id,
        "participant_id": endpoint.participant_id,
        "event_seq": entry.seq,
        "event_type": entry.kind,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "round_attempts": 0,
        "next_trigger": Trigger.INITIAL.value,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


# --- delivery: claim, send with no transaction open, record ----------------------------------------------


@dataclass(slots=True)
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    lost_lease: int = 0
    """Attempts whose lease had expired and the delivery was claimed again (or cancelled) meanwhile."""


def deliver_due(
    db: Database,
    client: httpx.Client | None = None,
    clock: Clock = utc_now,
    *,
    config: WebhookConfig | None = None,
    box: SecretBox | None = None,
) -> DeliveryReport:
    """Send every due delivery once (up to the batch size) and record the outcomes.

    ``client`` may be shared between calls (it must not follow redirects); by default one is made for the
    call with the configured timeout.
    """
    config = _config(config)
    box = _box(config, box)
    now = clock()
    token = secrets.token_hex(8)
    with db.transaction() as session:
        claims = store.claim_due(
            session, format_time(now), format_time(now + config.lease), token, config.batch_size
        )
    report = DeliveryReport(claimed=len(claims))
    if not claims:
        return report
    http = client if client is not None else delivery.new_client(config.timeout_seconds)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(config.concurrency, len(claims)))) as pool:
            futures = [pool.submit(_attempt, http, claim, box, clock, config) for claim in claims]
            outcomes = [(claim, *future.result()) for claim, future in zip(claims, futures, strict=True)]
    finally:
        if client is None:
            http.close()
    for outcome in _record_all(db, outcomes, config.max_attempts):
        _tally(report, outcome)
    return report


def _attempt(
    http: httpx.Client, claim: Claim, box: SecretBox, clock: Clock, config: WebhookConfig
) -> tuple[datetime, AttemptResult]:
    attempted_at = clock()
    try:
        secret = box.open(claim.endpoint.sealed_secret, claim.endpoint.id)
    except SecretUnreadable as error:
        return attempted_at, AttemptResult(False, None, truncate_error(f"secret_unreadable: {error}"), 0)
    body = claim.body.encode("utf-8")
    headers = delivery.request_headers(
        secret,
        int(attempted_at.timestamp()),
        body,
        event_id(claim.event_seq),
        claim.event_type,
        claim.delivery_id,
    )
    try:
        return attempted_at, delivery.post(
            http, claim.endpoint.url, body, headers, config.timeout_seconds, config.allow_private_targets
        )
    except Exception as error:  # one odd endpoint must not lose the outcomes of the rest of the batch
        log.error("webhook_attempt_crashed", delivery_id=claim.delivery_id, error_type=type(error).__name__)
        return attempted_at, AttemptResult(
            False, None, truncate_error(f"internal: {type(error).__name__}"), 0
        )


def _record_all(
    db: Database, outcomes: list[tuple[Claim, datetime, AttemptResult]], max_attempts: int
) -> list[str]:
    """Log a batch's attempts and move each delivery on, in one commit (rows locked in id order)."""
    ordered = sorted(outcomes, key=lambda outcome: outcome[0].delivery_id)
    with db.transaction() as session:
        current = store.get_deliveries(session, [claim.delivery_id for claim, _, _ in ordered], lock=True)
        return [
            _record_in(session, claim, at, result, current.get(claim.delivery_id), max_attempts)
            for claim, at, result in ordered
        ]


def _record_in(
    session: Session,
    claim: Claim,
    attempted_at: datetime,
    result: AttemptResult,
    current: DeliveryState | None,
    max_attempts: int,
) -> str:
    """Log the attempt and move the delivery on; returns what became of it."""
    if current is None:
        return "lost_lease"
    number = current.attempts + 1
    store.insert_attempt(
        session,
        {
            "delivery_id": claim.delivery_id,
            "number": number,
            "trigger": claim.trigger.value,
            "attempted_at": format_time(attempted_at),
            "ok": result.ok,
            "status_code": result.status_code,
            "error": result.error,
            "duration_ms": result.duration_ms,
        },
    )
    common = {
        "attempts": number,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "updated_at": format_time(attempted_at),
    }
    if current.claim_token != claim.token or current.status is not DeliveryStatus.PENDING:
        store.update_delivery(session, claim.delivery_id, common)
        return "lost_lease"
    round_attempts = current.round_attempts + 1
    step = after_attempt(result, round_attempts, max_attempts, attempted_at)
    store.update_delivery(
        session,
        claim.delivery_id,
        {
            **common,
            "round_attempts": round_attempts,
            "status": step.status.value,
            "next_attempt_at": format_time(step.next_attempt_at) if step.next_attempt_at else None,
            "next_trigger": Trigger.RETRY.value,
            "lease_until": None,
            "claim_token": None,
            "delivered_at": format_time(attempted_at) if result.ok else current.delivered_at,
        },
    )
    if step.status is DeliveryStatus.FAILED:
        _record_failure(session, current, number, result, attempted_at)
    return step.status.value


def _record_failure(
    session: Session, current: DeliveryState, attempts: int, result: AttemptResult, at: datetime
) -> None:
    # The one delivery outcome an operator acts on (call the client), so monitoring can see it.
    registry.append(
        session,
        SYSTEM_ACTOR,
        "webhooks.delivery.failed",
        _delivery_subject(current.id),
        {
            "id": current.id,
            "endpoint_id": current.endpoint_id,
            "participant_id": current.participant_id,
            "event_id": event_id(current.event_seq),
            "attempts": attempts,
            "last_status_code": result.status_code,
            "last_error": result.error,
        },
        lambda: at,
    )


def _tally(report: DeliveryReport, outcome: str) -> None:
    if outcome == DeliveryStatus.DELIVERED.value:
        report.delivered += 1
    elif outcome == DeliveryStatus.PENDING.value:
        report.retrying += 1
    elif outcome == DeliveryStatus.FAILED.value:
        report.failed += 1
    else:
        report.lost_lease += 1


@dataclass(slots=True)
class WebhookRound:
    dispatched: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


def run_webhooks_once(
    db: Database,
    client: httpx.Client | None = None,
    clock: Clock = utc_now,
    *,
    config: WebhookConfig | None = None,
    box: SecretBox | None = None,
    dispatch_limit: int = 500,
    max_rounds: int = 10,
    budget_seconds: float = 10.0,
) -> WebhookRound:
    """One housekeeping round: catch up with the registry, then send what is due.

    Bounded however far behind it is: at most ``max_rounds`` batches of each, and no new delivery batch
    once ``budget_seconds`` have passed (a batch whose receivers all time out still runs to its end: about
    ``timeout × batch_size / concurrency``).
    """
    started = time.monotonic()
    config = _config(config)
    box = _box(config, box)
    result = WebhookRound()
    for _ in range(max_rounds):
        created, read = _dispatch(db, dispatch_limit, clock)
        result.dispatched += created
        if read < dispatch_limit:
            break
    for _ in range(max_rounds):
        report = deliver_due(db, client, clock, config=config, box=box)
        _merge(result.delivery, report)
        if report.claimed < config.batch_size or time.monotonic() - started > budget_seconds:
            break
    return result


def _merge(total: DeliveryReport, part: DeliveryReport) -> None:
    total.claimed += part.claimed
    total.delivered += part.delivered
    total.retrying += part.retrying
    total.failed += part.failed
    total.lost_lease += part.lost_lease


# --- the delivery log and redelivery ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: DeliveryState
    event_subject: str
    event_created: str
    attempts: list[dict[str, Any]]


def _views(session: Session, rows: list[DeliveryState]) -> list[DeliveryView]:
    attempts = store.attempts_of(session, [row.id for row in rows])
    events = store.event_summaries(session, sorted({row.event_seq for row in rows}))
    return [
        DeliveryView(
            row, events[row.event_seq]["subject"], events[row.event_seq]["created"], attempts[row.id]
        )
        for row in rows
    ]


def _load_delivery(
    session: Session, principal: Principal, delivery_id: str, action: str, *, lock: bool = False
) -> DeliveryState:
    found = store.get_delivery(session, delivery_id, lock=lock)
    _authorize_row(principal, action, found.participant_id if found else None)
    if found is None:
        raise NotFound("webhook_delivery_not_found", f"no webhook delivery {delivery_id}")
    return found


def get_delivery(db: Database, principal: Principal, delivery_id: str) -> DeliveryView:
    with db.transaction() as session:
        found = _load_delivery(session, principal, delivery_id, "webhooks.delivery.read")
        return _views(session, [found])[0]


def parse_cursor(after: str | None) -> tuple[int, str] | None:
    if after is None:
        return None
    seq, sep, last_id = after.partition(":")
    if not sep or not seq.isdigit() or not last_id:
        raise ValidationFailed("bad_cursor", "use the next_cursor of the previous page")
    return int(seq), last_id


def delivery_cursor(row: DeliveryState) -> str:
    return f"{row.event_seq}:{row.id}"


def list_deliveries(
    db: Database,
    principal: Principal,
    *,
    endpoint_id: str | None = None,
    status: DeliveryStatus | None = None,
    participant_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    """Deliveries with their attempt log, newest event first; a client sees only its participant's."""
    scope = principal.participant_id if principal.participant_id is not None else participant_id
    authorize(principal, "webhooks.delivery.read", scope)
    if participant_id is not None and participant_id != scope:
        authorize(principal, "webhooks.delivery.read", participant_id)
    cursor = parse_cursor(after)
    with db.transaction() as session:
        if endpoint_id is not None:
            endpoint = store.get_endpoint(session, endpoint_id, include_deleted=True)
            if endpoint is None:
                raise NotFound("webhook_endpoint_not_found", f"no webhook endpoint {endpoint_id}")
            authorize(principal, "webhooks.delivery.read", endpoint.participant_id)
        rows = store.list_deliveries(session, scope, endpoint_id, status, cursor, max(1, min(limit, 1000)))
        return _views(session, rows)


def redeliver(db: Database, principal: Principal, delivery_id: str, clock: Clock = utc_now) -> DeliveryView:
    """Send a delivery again now, whatever its state, with a fresh retry budget; the attempts are logged
    as redeliveries and the request itself is a registry entry."""
    with db.transaction() as session:
        found = _load_delivery(session, principal, delivery_id, "webhooks.delivery.redeliver", lock=True)
        endpoint = store.get_endpoint(session, found.endpoint_id, include_deleted=True)
        assert endpoint is not None
        if endpoint.deleted:
            raise Conflict("webhook_endpoint_deleted", "the delivery's endpoint was deleted")
        if not endpoint.enabled:
            raise Conflict("webhook_endpoint_disabled", "enable the endpoint before asking for a redelivery")
        now = format_time(clock())
        if found.claim_token is not None and found.lease_until is not None and found.lease_until > now:
            raise Conflict("webhook_delivery_in_flight", "the delivery is being sent right now; try shortly")
        store.update_delivery(
            session,
            delivery_id,
            {
                "status": DeliveryStatus.PENDING.value,
                "round_attempts": 0,
                "next_trigger": Trigger.REDELIVERY.value,
                "next_attempt_at": now,
                "lease_until": None,
                "claim_token": None,
                "updated_at": now,
            },
        )
        registry.append(
            session,
            principal.actor,
            "webhooks.delivery.redelivery_requested",
            _delivery_subject(delivery_id),
            {
                "id": delivery_id,
                "endpoint_id": found.endpoint_id,
                "participant_id": found.participant_id,
                "event_id": event_id(found.event_seq),
                "previous_status": found.status.value,
            },
            clock,
        )
        updated = store.get_delivery(session, delivery_id)
        assert updated is not None
        return _views(session, [updated])[0]
