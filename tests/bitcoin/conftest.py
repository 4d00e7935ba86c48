"""A tiny stdlib HTTP server standing in for bitcoind: it replays Core-shaped answers chosen per request."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0


def core_result(result_json: str, request_id: Any) -> Reply:
    """A Core 1.1 success answer; ``result_json`` is raw JSON text so amounts keep their exact digits."""
    return Reply(200, f'{{"result":{result_json},"error":null,"id":{json.dumps(request_id)}}}\n'.encode())


def core_error(code: int, message: str, request_id: Any) -> Reply:
    # Core answers errors with HTTP 500 (404 for an unknown method) in the legacy dialect.
    status = 404 if code == -32601 else 500
    body = {"result": None, "error": {"code": code, "message": message}, "id": request_id}
    return Reply(status, (json.dumps(body) + "\n").encode())


Responder = Callable[[Any], Reply]


def batch_reply(responder: Responder, requests: list[Any]) -> Reply:
    """Core answers a batch with HTTP 200 and one element per request, errors included."""
    parts = [responder(item).body.decode().strip() for item in requests]
    return Reply(200, ("[" + ",".join(parts) + "]\n").encode())


@dataclass
class FakeCore:
    url: str
    user: str
    password: str
    responder: Responder = field(default=lambda _req: Reply(500))
    requests: list[Any] = field(default_factory=list)

    @property
    def methods_seen(self) -> list[str]:
        seen: list[str] = []
        for req in self.requests:
            batch = req if isinstance(req, list) else [req]
            seen.extend(item["method"] for item in batch)
        return seen


@pytest.fixture
def fake_core() -> Iterator[FakeCore]:
    state = FakeCore(url="", user="corridor", password="s3cret:with:colons")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            expected = "Basic " + base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                # Core sends an empty 401 with a WWW-Authenticate challenge.
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="jsonrpc"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = json.loads(raw)
            state.requests.append(request)
            reply = (
                batch_reply(state.responder, request)
                if isinstance(request, list)
                else state.responder(request)
            )
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
