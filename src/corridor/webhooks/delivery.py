"""The outside world of webhooks: one signed POST to a receiver over httpx.

Redirects are not followed (a 3xx counts as a failed attempt): a receiver that moved must update its
endpoint, and following them would let a public URL bounce the request to an internal address.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx

from corridor import __version__
from corridor.webhooks.model import AttemptResult, address_allowed, truncate_error
from corridor.webhooks.signature import (
    DELIVERY_ID_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

USER_AGENT = f"Corridor-Webhooks/{__version__}"


def new_client(timeout_seconds: float) -> httpx.Client:
    return httpx.Client(timeout=timeout_seconds, follow_redirects=False, headers={"User-Agent": USER_AGENT})


def request_headers(
    secret: str, timestamp: int, body: bytes, event_id: str, event_type: str, delivery_id: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        DELIVERY_ID_HEADER: delivery_id,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
    }


def target_refusal(url: str, allow_private: bool) -> str | None:
    """Why ``url``'s host may not be called now (it resolves to an internal address), or None.

    Checked on every attempt because a name's addresses can change after the endpoint was created. A name
    that re-resolves between this check and the connection (DNS rebinding) is not caught here; deployments
    that face hostile clients should also send webhooks through an egress proxy that refuses internal
    ranges.
    """
    if allow_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as error:
        return f"cannot resolve {host}: {error}"
    for info in infos:
        address = str(info[4][0])
        if not address_allowed(address, allow_private=False):
            return f"{host} resolves to the internal address {address}"
    return None


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_seconds: float,
    allow_private: bool = False,
) -> AttemptResult:
    """POST once; 2xx is success, anything else (status, timeout, refused connection) a failure."""
    started = time.perf_counter()
    refusal = target_refusal(url, allow_private)
    if refusal is not None:
        return AttemptResult(False, None, truncate_error(f"target_not_allowed: {refusal}"), _ms(started))
    try:
        response = client.post(url, content=body, headers=headers, timeout=timeout_seconds)
    except httpx.TimeoutException as error:
        return AttemptResult(False, None, truncate_error(f"timeout: {type(error).__name__}"), _ms(started))
    except httpx.HTTPError as error:
        return AttemptResult(False, None, truncate_error(f"{type(error).__name__}: {error}"), _ms(started))
    duration = _ms(started)
    code = response.status_code
    if 200 <= code < 300:
        return AttemptResult(True, code, None, duration)
    # The reason phrase only: a receiver's error page may carry data that does not belong in our log.
    return AttemptResult(
        False, code, truncate_error(f"HTTP {code} {response.reason_phrase}".strip()), duration
    )


def _ms(started: float) -> int:
    return max(0, round((time.perf_counter() - started) * 1000))
