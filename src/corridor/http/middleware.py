"""ASGI middleware: body-size limit, Idempotency-Key, request metrics and logs."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any

import anyio
import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from corridor.db import Database, metadata
from corridor.http.problems import problem_body
from corridor.logging import get_logger
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = get_logger("corridor.http")


async def send_problem(
    send: Send, status: int, code: str, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    title = code.replace("_", " ").capitalize()
    body = json.dumps(problem_body(status, code, title, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay_receive(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class BodyLimit:
    """Refuse bodies over the limit before anything reads them (413 body_too_large)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_problem(send, 413, "body_too_large", f"the body exceeds {self.max_bytes} bytes")
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            await send_problem(send, 413, "body_too_large", f"the body exceeds {self.max_bytes} bytes")
            return
        await self.app(scope, replay_receive(body), send)


idempotency = Table(
    "http_idempotency",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("locked_until", String(32), nullable=False),
    Column("status", Integer, nullable=True),
    Column("content_type", String(100), nullable=True),
    Column("body", LargeBinary, nullable=True),
    Column("created_at", String(32), nullable=False),
)


# Named apart from the columns: an insert or update reserves the column names for its own values.
_KEY = (idempotency.c.scope == bindparam("of_scope"), idempotency.c.key == bindparam("of_key"))
_CLAIM = insert(idempotency).values(
    scope=bindparam("scope"),
    key=bindparam("key"),
    request_hash=bindparam("request_hash"),
    state="running",
    locked_until=bindparam("locked_until"),
    created_at=bindparam("created_at"),
)
# The same insert on PostgreSQL, as one statement in its own transaction that does not wait for the WAL
# flush: set_config(…, true) is SET LOCAL, and it is still in force when the statement's commit runs.
# A claim lost in a server crash only lets a retry run again, which the lock timeout allows anyway; the
# stored response (finish) is flushed.
_CLAIM_ASYNC_COMMIT = text(
    "INSERT INTO http_idempotency (scope, key, request_hash, state, locked_until, created_at) "
    "SELECT :scope, :key, :request_hash, 'running', :locked_until, :created_at "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
)
_LOCK = select(idempotency).where(*_KEY).with_for_update()
_RELOCK = update(idempotency).where(*_KEY).values(locked_until=bindparam("locked_until"))
_FINISH = (
    update(idempotency)
    .where(*_KEY)
    .values(
        state="done",
        status=bindparam("status"),
        content_type=bindparam("content_type"),
        body=bindparam("body"),
    )
)
_RELEASE = delete(idempotency).where(*_KEY)


class IdempotencyStore:
    """Stored responses keyed by (caller, Idempotency-Key).

    Every request with a key pays for a claim and a finish besides its own work, so both are one
    statement: on PostgreSQL each runs on its own (autocommit), saving the BEGIN and COMMIT round trips.
    SQLite runs them in transactions, which cost no round trips there.
    """

    def __init__(self, db: Database, lock_seconds: int) -> None:
        self.db = db
        self.lock_seconds = lock_seconds
        self.postgres = db.dialect == "postgresql"

    def claim(self, scope: str, key: str, request_hash: str) -> tuple[str, tuple[int, str, bytes] | None]:
        """Returns ('run', None), ('replay', response), ('mismatch', None) or ('busy', None)."""
        now = utc_now()
        locked_until = format_time(now + timedelta(seconds=self.lock_seconds))
        claim = {
            "scope": scope,
            "key": key,
            "request_hash": request_hash,
            "locked_until": locked_until,
            "created_at": format_time(now),
        }
        try:
            if self.postgres:
                with self._autocommit() as connection:
                    connection.execute(_CLAIM_ASYNC_COMMIT, claim)
            else:
                with self.db.transaction() as session:
                    session.execute(_CLAIM, claim)
            return "run", None
        except IntegrityError:
            pass
        with self.db.transaction() as session:
            row = session.execute(_LOCK, {"of_scope": scope, "of_key": key}).first()
            if row is None:
                return "busy", None
            if row.request_hash != request_hash:
                return "mismatch", None
            if row.state == "done":
                return "replay", (
                    int(row.status),
                    row.content_type or "application/json",
                    bytes(row.body or b""),
                )
            if row.locked_until > format_time(now):
                return "busy", None
            session.execute(_RELOCK, {"of_scope": scope, "of_key": key, "locked_until": locked_until})
            return "run", None

    def finish(self, scope: str, key: str, status: int, content_type: str, body: bytes) -> None:
        stored = {
            "of_scope": scope,
            "of_key": key,
            "status": status,
            "content_type": content_type,
            "body": body,
        }
        if self.postgres:
            with self._autocommit() as connection:
                connection.execute(_FINISH, stored)
        else:
            with self.db.transaction() as session:
                session.execute(_FINISH, stored)

    def release(self, scope: str, key: str) -> None:
        with self.db.transaction() as session:
            session.execute(_RELEASE, {"of_scope": scope, "of_key": key})

    def _autocommit(self) -> Connection:
        return self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


class Idempotency:
    """Replays the first response to a repeated (caller, Idempotency-Key); refuses the key with another body.

    The caller is the API key's visible prefix, so two clients can use the same key without colliding.
    Server errors (5xx) and authentication failures release the key, so a retry runs again.
    """

    def __init__(self, app: ASGIApp, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 200:
            await send_problem(
                send, 400, "invalid_idempotency_key", "Idempotency-Key must be 1-200 characters"
            )
            return
        body = await read_body(receive, 1 << 40)
        caller = _caller_scope(scope)
        request_hash = hashlib.sha256(
            b"\x00".join(
                [scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body]
            )
        ).hexdigest()
        verdict, stored = await anyio.to_thread.run_sync(self.store.claim, caller, key, request_hash)
        if verdict == "replay" and stored is not None:
            await _send_stored(send, *stored)
        elif verdict == "mismatch":
            await send_problem(
                send, 409, "idempotency_key_reused", "this Idempotency-Key was used with another request"
            )
        elif verdict == "busy":
            await send_problem(
                send,
                409,
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still running",
            )
        else:
            await self._run_and_store(scope, body, send, caller, key)

    async def _run_and_store(self, scope: Scope, body: bytes, send: Send, caller: str, key: str) -> None:
        captured: dict[str, Any] = {"status": 500, "content_type": "application/json", "chunks": []}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        captured["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured["chunks"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive(body), capture)
        except BaseException:
            await anyio.to_thread.run_sync(self.store.release, caller, key)
            raise
        status = int(captured["status"])
        if status >= 500 or status == 401:
            await anyio.to_thread.run_sync(self.store.release, caller, key)
        else:
            await anyio.to_thread.run_sync(
                self.store.finish, caller, key, status, captured["content_type"], b"".join(captured["chunks"])
            )


def _caller_scope(scope: Scope) -> str:
    authorization = header(scope, b"authorization") or header(scope, b"x-api-key") or ""
    token = authorization.removeprefix("Bearer ").strip()
    parts = token.split("_")
    return f"{parts[0]}_{parts[1]}"[:64] if len(parts) >= 3 else "anonymous"


async def _send_stored(send: Send, status: int, content_type: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


REQUESTS = Counter("corridor_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("corridor_http_request_seconds", "HTTP request duration", ["method", "route"])


class RequestTelemetry:
    """Counts and times every request by route template, and logs one JSON line for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = header(scope, b"x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, record)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "http_request",
                method=scope["method"],
                route=route,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
