"""Webhook rules (pure): which registry events a webhook follows, endpoint URLs and event filters, the
retry schedule, and the body a delivery carries.

Events are registry entries: the settlement area appends ``settlement.invoice.<event>`` and
``settlement.payment_order.<event>`` entries whose payload names the ``participant_id`` they belong to.
The event type a receiver sees is the registry kind itself, so one name serves the registry browser, the
monitoring rules and the webhooks.

Retries (the lesson of BTCPay's issues #3146 and the "status codes no longer retried" change): every
non-2xx answer, redirect (never followed), timeout or connection error is retried on the schedule below,
whatever the status code; the n-th failed attempt waits ``BACKOFF_SECONDS[n-1]`` (the last value repeats),
and the delivery is ``failed`` after ``max_attempts``. An endpoint is never switched off because of
failures: each delivery has its own schedule, so new events keep being sent while old ones retry.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from corridor.errors import ValidationFailed
from corridor.registry.canonical import canonical_text

FOLLOWED_PREFIXES: tuple[str, ...] = ("settlement.invoice.", "settlement.payment_order.")
"""Registry kinds the webhook consumer turns into events; an endpoint's default filter is all of them."""

BACKOFF_SECONDS: tuple[int, ...] = (10, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200)
"""Wait after the 1st, 2nd, … failed attempt: 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then
12 h for every further one. With the default 12 attempts a delivery is retried for about 40 hours."""

DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_URL_LENGTH = 2_000
MAX_EVENT_TYPES = 50
ERROR_TEXT_LIMIT = 500
SECRET_PREFIX = "whsec_"
_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?$")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """The endpoint was deleted before the delivery got through."""


class Trigger(StrEnum):
    """Why an attempt was made: the first try, a scheduled retry, or a redelivery someone asked for."""

    INITIAL = "initial"
    RETRY = "retry"
    REDELIVERY = "redelivery"


def event_id(seq: int) -> str:
    """The stable id of the event made from registry entry ``seq``: the same on every delivery."""
    return f"evt_{seq}"


def is_followed(kind: str) -> bool:
    return kind.startswith(FOLLOWED_PREFIXES)


def event_body(seq: int, kind: str, created: str, payload: Mapping[str, Any]) -> str:
    """The JSON a delivery posts, ``{id, type, created, data}``; built once, so retries send equal bytes."""
    return canonical_text({"id": event_id(seq), "type": kind, "created": created, "data": payload})


# --- endpoints -------------------------------------------------------------------------------------------


def _blocked_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def address_allowed(host: str, allow_private: bool) -> bool:
    """Whether an IP address (as text) may be a webhook target: public ones only, unless allowed.

    Delivering to loopback, private or link-local addresses would let a client make the platform call its
    own internal services (cloud metadata, the database admin port), so they are refused by default.
    """
    if allow_private:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return True  # a name: checked on every delivery, once it is resolved
    return not _blocked_address(address)


def check_url(url: str, allow_private: bool = False) -> str:
    """An absolute http(s) URL with a host, no credentials and no fragment; literal internal addresses
    (and ``localhost``) only when ``allow_private``."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationFailed("webhook_url_invalid", f"a URL of 1 to {MAX_URL_LENGTH} characters, no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValidationFailed("webhook_url_invalid", f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed("webhook_url_invalid", "the URL must start with http:// or https://")
    host = parts.hostname
    if not host:
        raise ValidationFailed("webhook_url_invalid", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("webhook_url_invalid", "credentials in the URL are not allowed")
    if parts.fragment:
        raise ValidationFailed("webhook_url_invalid", "the URL must not have a #fragment")
    if port == 0:
        raise ValidationFailed("webhook_url_invalid", "port 0 is not a valid target")
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise ValidationFailed("webhook_url_not_allowed", "loopback targets are not allowed")
    if not address_allowed(host, allow_private):
        raise ValidationFailed(
            "webhook_url_not_allowed", "private, loopback and link-local addresses are not allowed"
        )
    return url


def redacted_url(url: str) -> str:
    """Scheme, host, port and path: what the registry records (a query may hold a receiver's token)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def check_event_types(items: Iterable[str] | None) -> tuple[str, ...]:
    """Normalised filter: exact kinds (``settlement.invoice.settled``) or prefixes ending in a dot
    (``settlement.payment_order.``), each within :data:`FOLLOWED_PREFIXES`; empty means all of them."""
    chosen = sorted({item.strip() for item in items or ()})
    if not chosen:
        return FOLLOWED_PREFIXES
    if len(chosen) > MAX_EVENT_TYPES:
        raise ValidationFailed("webhook_event_types_invalid", f"at most {MAX_EVENT_TYPES} event types")
    for item in chosen:
        if len(item) > 100 or not _TYPE_PATTERN.match(item):
            raise ValidationFailed(
                "webhook_event_types_invalid", f"{item!r} is not an event type or a prefix ending in '.'"
            )
        if not any(_within(item, prefix) for prefix in FOLLOWED_PREFIXES):
            raise ValidationFailed(
                "webhook_event_types_invalid",
                f"{item!r} is not a webhook event; events start with {', '.join(FOLLOWED_PREFIXES)}",
            )
    return tuple(chosen)


def _within(item: str, prefix: str) -> bool:
    """``item`` selects some events under ``prefix``: it lies under it, or is a wider prefix of it."""
    return item.startswith(prefix) or (item.endswith(".") and prefix.startswith(item))


def matches(event_types: Iterable[str], kind: str) -> bool:
    return any(kind.startswith(t) if t.endswith(".") else kind == t for t in event_types)


def check_description(description: str) -> str:
    description = description.strip()
    if len(description) > 200:
        raise ValidationFailed("webhook_description_too_long", "at most 200 characters")
    return description


# --- attempts and the retry schedule ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one POST came to; ``status_code`` is None when no response arrived."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def backoff_after(failed_attempts: int) -> timedelta:
    """The wait after the ``failed_attempts``-th consecutive failure (1-based)."""
    index = min(max(failed_attempts, 1), len(BACKOFF_SECONDS)) - 1
    return timedelta(seconds=BACKOFF_SECONDS[index])


@dataclass(frozen=True, slots=True)
class NextState:
    status: DeliveryStatus
    next_attempt_at: datetime | None


def after_attempt(result: AttemptResult, round_attempts: int, max_attempts: int, now: datetime) -> NextState:
    """Where a delivery goes after its ``round_attempts``-th attempt of this round (a redelivery starts a
    new round with a fresh budget of ``max_attempts``)."""
    if result.ok:
        return NextState(DeliveryStatus.DELIVERED, None)
    if round_attempts >= max_attempts:
        return NextState(DeliveryStatus.FAILED, None)
    return NextState(DeliveryStatus.PENDING, now + backoff_after(round_attempts))


def truncate_error(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"
