"""Fixtures for webhooks: two real participants, settlement events in the registry, a controllable clock
and a real HTTP receiver on localhost that checks every signature with the published verifier."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from corridor.access.model import Principal, Role
from corridor.db import Database
from corridor.identity import service as identity
from corridor.identity.model import (
    ApplicationIn,
    ParticipantKind,
    ParticipantRole,
    PersonIn,
    PersonRole,
    Residency,
)
from corridor.registry import service as registry
from corridor.registry.model import Entry
from corridor.webhooks.sealing import SecretBox
from corridor.webhooks.service import WebhookConfig
from corridor.webhooks.signature import SIGNATURE_HEADER, verify_signature

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeClock:
    """The time every webhook function sees; tests move it forward by hand."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def box() -> SecretBox:
    return SecretBox(secrets.token_bytes(32))


@pytest.fixture
def config() -> WebhookConfig:
    # The receiver runs on 127.0.0.1, which production refuses; short timeout keeps the timeout case fast.
    return WebhookConfig(timeout_seconds=0.3, max_attempts=12, allow_private_targets=True)


# --- participants and events -----------------------------------------------------------------------------


def _application(name: str, inn: str, ogrn: str) -> ApplicationIn:
    return ApplicationIn(
        kind=ParticipantKind.LEGAL_ENTITY,
        residency=Residency.RESIDENT,
        name=name,
        country="RU",
        roles=(ParticipantRole.EXPORTER, ParticipantRole.IMPORTER),
        industry="machinery",
        persons=(PersonIn(PersonRole.DIRECTOR, "Anna Sidorova", "RU"),),
        inn=inn,
        kpp="773601001",
        ogrn=ogrn,
    )


@dataclass
class Parties:
    first: str
    second: str
    ops: Principal
    client_first: Principal
    client_second: Principal


@pytest.fixture
def parties(db: Database, operator: Principal) -> Parties:
    """Two filed participants (webhooks need only that they exist) and a client user of each."""
    first = identity.submit_application(
        db, operator, _application("Uralsk Machine Works JSC", "7707083893", "1027700132195")
    ).participant.id
    second = identity.submit_application(
        db, operator, _application("Volga Import LLC", "7736050003", "1022200525819")
    ).participant.id
    return Parties(
        first=first,
        second=second,
        ops=Principal("ops-1", Role.OPERATOR_ADMIN, name="Oleg Ops"),
        client_first=Principal("client-1", Role.CLIENT, first, "Uralsk treasury"),
        client_second=Principal("client-2", Role.CLIENT, second, "Volga treasury"),
    )


def settlement_event(
    db: Database, participant_id: str, kind: str = "settlement.invoice.settled", object_id: str = "inv-1"
) -> Entry:
    """What the settlement area appends: kind, subject and a payload naming the participant."""
    noun = kind.split(".")[1]
    payload = {
        "participant_id": participant_id,
        "id": object_id,
        "status": kind.rsplit(".", 1)[1],
        "amount_sats": 125_000,
        "currency": "CNY",
        "amount_minor": 1_000_000,
    }
    with db.transaction() as session:
        return registry.append_chained(session, "system:settlement", kind, f"{noun}:{object_id}", payload)


@pytest.fixture(scope="session")
def build() -> SimpleNamespace:
    return SimpleNamespace(event=settlement_event)


# --- the receiver ----------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server: per path, a script of answers (a status code, or "slow" to outlast the timeout);
    once the script is used up it answers 200."""

    base_url: str
    clock: FakeClock
    secrets: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    always: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def next_answer(self, path: str) -> int | str:
        with self.lock:
            script = self.scripts.get(path)
            if script:
                return script.pop(0)
            return self.always.get(path, 200)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            secret = receiver.secrets.get(self.path, "")
            verified = verify_signature(
                secret, self.headers.get(SIGNATURE_HEADER, ""), body, now=receiver.clock().timestamp()
            )
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body, verified))
            answer = receiver.next_answer(self.path)
            if answer == "slow":
                time.sleep(1.0)
                answer = 200
            try:
                self.send_response(int(answer))
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting (the timeout case)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping past the sender's timeout must not block shutdown
    request_queue_size = 128  # the default backlog of 5 drops connections under concurrent senders


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[Receiver]:
    state = Receiver("", clock)
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
