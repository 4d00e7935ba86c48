"""Pure webhook rules: signatures as a receiver checks them, URLs, event filters, the retry schedule and
secret sealing."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from corridor.errors import ValidationFailed
from corridor.webhooks.model import (
    BACKOFF_SECONDS,
    FOLLOWED_PREFIXES,
    AttemptResult,
    DeliveryStatus,
    after_attempt,
    backoff_after,
    check_event_types,
    check_url,
    event_body,
    matches,
    redacted_url,
)
from corridor.webhooks.sealing import SecretBox, SecretUnreadable, WebhookKeyError, box_from_file, load_key
from corridor.webhooks.signature import parse_signature_header, signature_header, verify_signature

SECRET = "whsec_test-secret"
BODY = b'{"created":"2026-03-02T09:00:00.000000Z","data":{"id":"inv-1"},"id":"evt_5","type":"x"}'
T = 1_772_442_000


def test_a_receiver_verifies_with_nothing_but_hmac_and_sha256() -> None:
    header = signature_header(SECRET, T, BODY)
    assert header.startswith(f"t={T},v1=")
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    assert verify_signature(SECRET, header, BODY, now=T + 299)


@pytest.mark.parametrize(
    ("secret", "header", "body", "now"),
    [
        ("whsec_other", None, BODY, T),
        (SECRET, None, BODY + b" ", T),
        (SECRET, None, BODY, T + 301),
        (SECRET, None, BODY, T - 301),
        (SECRET, "t=abc,v1=00", BODY, T),
        (SECRET, "v1=00", BODY, T),
        (SECRET, f"t={T}", BODY, T),
        (SECRET, "", BODY, T),
    ],
)
def test_signatures_that_do_not_verify(secret: str, header: str | None, body: bytes, now: int) -> None:
    signed = signature_header(SECRET, T, BODY) if header is None else header
    assert not verify_signature(secret, signed, body, now=now)


def test_any_of_several_v1_values_may_match() -> None:
    good = signature_header(SECRET, T, BODY).split("v1=")[1]
    header = f"t={T}, v1={'0' * 64}, v1={good}"
    assert parse_signature_header(header) == (T, ["0" * 64, good])
    assert verify_signature(SECRET, header, BODY, now=T)


def test_event_bodies_are_stable_bytes() -> None:
    body = event_body(5, "settlement.invoice.settled", "2026-03-02T09:00:00.000000Z", {"b": 1, "a": "ж"})
    assert body == (
        '{"created":"2026-03-02T09:00:00.000000Z","data":{"a":"ж","b":1},"id":"evt_5",'
        '"type":"settlement.invoice.settled"}'
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/corridor",
        "http://hooks.example.com:8080/x?token=abc",
        "https://93.184.216.34/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
    ],
)
def test_public_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "webhook_url_invalid"),
        ("https://hooks.example.com/a b", "webhook_url_invalid"),
        ("https://hooks.example.com:99999/", "webhook_url_invalid"),
        ("https://hooks.example.com:0/", "webhook_url_invalid"),
        ("mailto:ops@example.com", "webhook_url_invalid"),
        ("//hooks.example.com/x", "webhook_url_invalid"),
        ("https://" + "a" * 2000 + ".example", "webhook_url_invalid"),
        ("http://10.0.0.5/x", "webhook_url_not_allowed"),
        ("http://192.168.1.1/x", "webhook_url_not_allowed"),
        ("http://100.64.0.1/x", "webhook_url_not_allowed"),
        ("http://0.0.0.0/x", "webhook_url_not_allowed"),
        ("http://[::ffff:127.0.0.1]/x", "webhook_url_not_allowed"),
        ("http://[fe80::1]/x", "webhook_url_not_allowed"),
        ("http://api.localhost/x", "webhook_url_not_allowed"),
    ],
)
def test_bad_and_internal_urls_are_refused(url: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_url(url)
    assert refused.value.code == code


def test_internal_urls_pass_where_the_deployment_allows_them() -> None:
    assert check_url("http://127.0.0.1:9000/x", allow_private=True) == "http://127.0.0.1:9000/x"


def test_the_registry_sees_urls_without_their_query() -> None:
    assert (
        redacted_url("https://hooks.example.com:8443/a/b?token=s3cret")
        == "https://hooks.example.com:8443/a/b"
    )
    assert redacted_url("http://[2001:db8::1]/x?k=v") == "http://[2001:db8::1]/x"


def test_event_type_filters() -> None:
    assert check_event_types([]) == FOLLOWED_PREFIXES
    assert check_event_types(None) == FOLLOWED_PREFIXES
    assert check_event_types(["settlement.invoice.settled", " settlement.invoice.settled "]) == (
        "settlement.invoice.settled",
    )
    assert check_event_types(["settlement."]) == ("settlement.",)
    for bad in (
        ["ledger."],
        ["settlement.invoices."],
        ["settlement.invoice.*"],
        ["settlement..x"],
        ["a" * 101],
    ):
        with pytest.raises(ValidationFailed):
            check_event_types(bad)
    with pytest.raises(ValidationFailed):
        check_event_types([f"settlement.invoice.e{n}" for n in range(51)])
    assert matches(("settlement.invoice.",), "settlement.invoice.settled")
    assert matches(("settlement.invoice.settled",), "settlement.invoice.settled")
    assert not matches(("settlement.invoice.settled",), "settlement.invoice.settled_late")
    assert not matches(("settlement.invoice.",), "settlement.payment_order.created")


def test_the_retry_schedule() -> None:
    assert [backoff_after(n).total_seconds() for n in range(1, 13)] == [
        10,
        30,
        120,
        600,
        1800,
        3600,
        7200,
        14400,
        28800,
        43200,
        43200,
        43200,
    ]
    assert sum(BACKOFF_SECONDS[:9]) + 2 * BACKOFF_SECONDS[-1] < 48 * 3600
    now = datetime(2026, 3, 2, tzinfo=UTC)
    failure = AttemptResult(False, 500, "HTTP 500", 3)
    assert after_attempt(failure, 1, 3, now).next_attempt_at == now + timedelta(seconds=10)
    assert after_attempt(failure, 3, 3, now).status is DeliveryStatus.FAILED
    assert after_attempt(AttemptResult(True, 204, None, 3), 3, 3, now).status is DeliveryStatus.DELIVERED


def test_sealed_secrets_open_only_with_their_key_and_endpoint() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(SECRET, "ep-1")
    assert SECRET.encode() not in sealed
    assert box.open(sealed, "ep-1") == SECRET
    with pytest.raises(SecretUnreadable):
        box.open(sealed, "ep-2")
    with pytest.raises(SecretUnreadable):
        SecretBox(os.urandom(32)).open(sealed, "ep-1")
    with pytest.raises(SecretUnreadable):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "ep-1")
    with pytest.raises(SecretUnreadable):
        box.open(b"plain", "ep-1")


def test_the_key_file_is_created_private_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "webhook-key.hex"
    first = box_from_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    sealed = first.seal(SECRET, "ep")
    assert box_from_file(path).open(sealed, "ep") == SECRET
    assert len(load_key(path)) == 32
    path.chmod(0o644)
    with pytest.raises(WebhookKeyError):
        load_key(path)
    short = tmp_path / "short.hex"
    short.write_text("ab\n")
    short.chmod(0o600)
    with pytest.raises(WebhookKeyError):
        load_key(short)
