"""Webhook signatures: how Corridor signs a delivery and how a receiver checks it (standard library only).

Every delivery is an HTTP ``POST`` with a JSON body and these headers::

    Corridor-Event-Id: evt_1234               the event's stable id: the same on every retry and redelivery
    Corridor-Event-Type: settlement.invoice.settled
    Corridor-Delivery-Id: 5f0c…               one (endpoint, event) pair; redeliveries keep it
    Corridor-Signature: t=1767225600,v1=9d2f…

``v1`` is the lowercase hex HMAC-SHA256, keyed with the endpoint's secret (the whole ``whsec_…`` string
as UTF-8 bytes), of ``f"{t}.{body}"``: the decimal Unix time ``t``, a dot, and the raw body bytes
exactly as received. ``t`` is the time of this attempt, so a retry carries a fresh signature over the same
body.

To verify, a receiver:

1. reads the raw body bytes before any JSON parsing (re-serialised JSON will not match);
2. splits the header on ``,`` into ``key=value`` pairs and takes ``t`` and every ``v1`` (while an endpoint
   secret is being rotated there may be more than one ``v1``; any one matching is enough);
3. computes ``hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()`` and
   compares it with each ``v1`` in constant time (``hmac.compare_digest``);
4. refuses the request when ``t`` is further than a tolerance (five minutes is usual) from its own clock,
   which stops an intercepted request from being replayed later;
5. answers any 2xx quickly, and de-duplicates on ``Corridor-Event-Id``: an event can arrive more than
   once (a retry after a lost response, or a redelivery someone asked for) and events of different
   objects can arrive out of order. Ids grow with time (``evt_<registry seq>``).

:func:`verify_signature` does steps 2 to 4; a receiver may copy this module as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Corridor-Signature"
EVENT_ID_HEADER = "Corridor-Event-Id"
EVENT_TYPE_HEADER = "Corridor-Event-Type"
DELIVERY_ID_HEADER = "Corridor-Delivery-Id"
DEFAULT_TOLERANCE_SECONDS = 300
SCHEME = "v1"


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Corridor-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},{SCHEME}={compute_signature(secret, timestamp, body)}"


def parse_signature_header(header: str) -> tuple[int, list[str]] | None:
    """``(t, [v1, …])`` from a header, or None when it has no integer ``t`` or no ``v1``."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None
        elif key == SCHEME:
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` and its time is within ``tolerance_seconds``
    of ``now`` (Unix seconds; default: this machine's clock). ``body`` must be the raw bytes received."""
    parsed = parse_signature_header(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = compute_signature(secret, timestamp, body)
    # Check every candidate so timing does not reveal which one matched.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
