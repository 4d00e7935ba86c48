"""Domain errors with stable codes.

Every error a caller can cause carries a ``code`` that never changes once published; the HTTP layer turns
it into an RFC 9457 problem document and the CLI into a message and a non-zero exit.
"""

from __future__ import annotations

from typing import Any


class CorridorError(Exception):
    """Base of all errors with a stable code. ``status`` is the HTTP status it maps to."""

    status = 400
    title = "Bad request"

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra


class ValidationFailed(CorridorError):
    status = 422
    title = "Invalid input"


class NotFound(CorridorError):
    status = 404
    title = "Not found"


class Conflict(CorridorError):
    status = 409
    title = "Conflict"


class Unauthenticated(CorridorError):
    status = 401
    title = "Unauthenticated"


class Forbidden(CorridorError):
    status = 403
    title = "Forbidden"


class PolicyRefused(CorridorError):
    """A business rule of the regime refuses the operation (scope, limits, screening)."""

    status = 422
    title = "Refused by policy"


class Unavailable(CorridorError):
    status = 503
    title = "Service unavailable"
