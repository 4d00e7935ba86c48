"""JSON-RPC over HTTP on localhost, as bitcoind serves it.

Authentication is HTTP Basic with either the configured user/password or the cookie credentials
(`__cookie__:<random hex>` written to `.cookie`, removed on shutdown). Both JSON-RPC 1.1 (the
legacy protocol: `result` and `error` always present, HTTP status from the error code) and 2.0
(`"jsonrpc": "2.0"`: status always 200, notifications answered with 204) are spoken, and batches.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from corridor.bitcoin.devnode.errors import RpcCode, RpcError
from corridor.bitcoin.devnode.methods import RpcMethods

COOKIE_USER = "__cookie__"
_DECIMAL_MARK = "\x01dec:"
_DECIMAL_IN_JSON = re.compile(r'"\\u0001dec:(-?[0-9.]+)"')
_MAX_BODY = 32 * 1024 * 1024


def _decimal_as_marker(value: Any) -> str:
    if isinstance(value, Decimal):
        return _DECIMAL_MARK + format(value, "f")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _decimal_as_fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    """JSON with Decimal amounts written as plain numbers (8 decimals), never through float."""
    try:
        # orjson writes a getblock of thousands of transactions several times faster than json.
        return orjson.dumps(payload, default=_decimal_as_fragment)
    except orjson.JSONEncodeError:
        # What orjson refuses and json takes: integers past 64 bits and lone surrogates, which can
        # only come from a client's own request id or parameters echoed back.
        return _stdlib_dumps(payload)


def _stdlib_dumps(payload: Any) -> bytes:
    text = json.dumps(payload, default=_decimal_as_marker, separators=(",", ":"))
    return _DECIMAL_IN_JSON.sub(r"\1", text).encode()


def write_cookie(path: Path) -> str:
    password = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{COOKIE_USER}:{password}")
    temp.replace(path)
    return password


@dataclass(frozen=True)
class Credentials:
    pairs: tuple[tuple[str, str], ...]

    def accepts(self, header: str | None) -> bool:
        if header is None or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        ok = False
        for expected_user, expected_password in self.pairs:
            ok |= hmac.compare_digest(user, expected_user) & hmac.compare_digest(password, expected_password)
        return ok


def _error_status(code: int) -> int:
    if code == RpcCode.INVALID_REQUEST:
        return HTTPStatus.BAD_REQUEST
    if code == RpcCode.METHOD_NOT_FOUND:
        return HTTPStatus.NOT_FOUND
    return HTTPStatus.INTERNAL_SERVER_ERROR


class JsonRpcDispatcher:
    def __init__(self, methods: RpcMethods) -> None:
        self.methods = methods

    def handle_body(self, body: bytes) -> tuple[int, bytes | None]:
        """HTTP status and response body for one request body (None body: 204 notification)."""
        try:
            request = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            parse_error: dict[str, Any] = {
                "result": None,
                "error": {"code": RpcCode.PARSE_ERROR, "message": "Parse error"},
                "id": None,
            }
            return HTTPStatus.INTERNAL_SERVER_ERROR, dumps(parse_error)
        if isinstance(request, list):
            replies = [r for r in (self._one(item)[1] for item in request) if r is not None]
            return HTTPStatus.OK, dumps(replies)
        if isinstance(request, dict):
            status, reply = self._one(request)
            if reply is None:
                return HTTPStatus.NO_CONTENT, None
            return status, dumps(reply)
        not_object = {"code": RpcCode.PARSE_ERROR, "message": "Top-level object parse error"}
        return HTTPStatus.INTERNAL_SERVER_ERROR, dumps({"result": None, "error": not_object, "id": None})

    def _one(self, request: Any) -> tuple[int, dict[str, Any] | None]:
        if not isinstance(request, dict):
            error = {"code": RpcCode.INVALID_REQUEST, "message": "Invalid Request object"}
            return HTTPStatus.BAD_REQUEST, {"result": None, "error": error, "id": None}
        is_v2 = request.get("jsonrpc") == "2.0"
        request_id = request.get("id")
        try:
            result = self._call(request)
        except RpcError as exc:
            error = {"code": exc.code, "message": exc.message}
            if is_v2:
                if "id" not in request:
                    return HTTPStatus.NO_CONTENT, None
                return HTTPStatus.OK, {"jsonrpc": "2.0", "error": error, "id": request_id}
            return _error_status(exc.code), {"result": None, "error": error, "id": request_id}
        except Exception as exc:  # Core answers any failure inside a method with RPC_MISC_ERROR.
            error = {"code": RpcCode.MISC_ERROR, "message": str(exc) or type(exc).__name__}
            if is_v2:
                return HTTPStatus.OK, {"jsonrpc": "2.0", "error": error, "id": request_id}
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"result": None, "error": error, "id": request_id}
        if is_v2:
            if "id" not in request:
                return HTTPStatus.NO_CONTENT, None
            return HTTPStatus.OK, {"jsonrpc": "2.0", "result": result, "id": request_id}
        return HTTPStatus.OK, {"result": result, "error": None, "id": request_id}

    def _call(self, request: dict[str, Any]) -> Any:
        method = request.get("method")
        if not isinstance(method, str):
            raise RpcError(RpcCode.INVALID_REQUEST, "Method must be a string")
        params = request.get("params")
        if params is not None and not isinstance(params, list | dict):
            raise RpcError(RpcCode.INVALID_REQUEST, "Params must be an array or object")
        return self.methods.call(method, params)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        if not self.server.credentials.accepts(self.headers.get("Authorization")):
            self._send(HTTPStatus.UNAUTHORIZED, None, {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
            return
        if self.path not in ("/", ""):
            self._send(HTTPStatus.NOT_FOUND, None)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, None)
            return
        status, body = self.server.dispatcher.handle_body(self.rfile.read(length))
        self._send(status, body)

    def do_GET(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, None)

    def _send(self, status: int, body: bytes | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    credentials: Credentials
    dispatcher: JsonRpcDispatcher


class RpcServer:
    """The HTTP side; `start` serves from a background thread, `stop` shuts it down."""

    def __init__(self, methods: RpcMethods, host: str, port: int, credentials: Credentials) -> None:
        self._httpd = _Server((host, port), _Handler)
        self._httpd.credentials = credentials
        self._httpd.dispatcher = JsonRpcDispatcher(methods)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="devnode-rpc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
