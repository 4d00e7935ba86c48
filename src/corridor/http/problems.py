"""RFC 9457 problem documents: every error the API returns has this shape and a stable ``code``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from corridor.errors import CorridorError
from corridor.logging import get_logger

PROBLEM_TYPE_BASE = "https://corridor.dev/problems/"
log = get_logger("corridor.http")


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The RFC 9457 document every error response carries (routes and middleware alike)."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    body.update(extra)
    return body


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = problem_body(status, code, title, detail, **extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "type": error.get("type"),
            "msg": error.get("msg"),
        }
        for error in exc.errors()
    ]
    if any(error["type"] == "json_invalid" for error in errors):
        return problem_response(400, "malformed_json", "Malformed JSON", "the request body is not valid JSON")
    return problem_response(
        422, "validation_error", "Invalid input", "the request does not match the schema", errors=errors
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(CorridorError)
    async def _domain(_request: Request, exc: CorridorError) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            413: "body_too_large",
            415: "unsupported_media_type",
        }
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        return problem_response(exc.status_code, code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
        return problem_response(
            500, "internal_error", "Internal error", "an unexpected error occurred; it was logged"
        )
