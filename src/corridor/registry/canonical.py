"""Canonical JSON: the one byte encoding that registry hashes are computed over.

Keys sorted, no insignificant white space, UTF-8 without escaping non-ASCII, integers as digits. Floats
are refused (money is integers or decimal strings); ``Decimal``, dates, UUIDs and bytes are turned into
strings first by :func:`to_json_value`, so the same value always encodes to the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


class NotCanonical(ValueError):
    """The value cannot be encoded canonically (a float, NaN, a non-string key, an unknown type)."""


def format_time(moment: datetime) -> str:
    """UTC, microseconds, trailing Z: the only time format entries carry."""
    if moment.tzinfo is None:
        raise NotCanonical("naive datetime: registry times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_json_value(value: Any) -> JsonValue:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise NotCanonical("floats are not allowed in canonical JSON; use int or Decimal")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NotCanonical("non-finite Decimal")
        return format(value, "f")
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Enum):
        return to_json_value(value.value)
    if isinstance(value, Mapping):
        return _mapping_to_json(value)
    if isinstance(value, Sequence):
        return [to_json_value(item) for item in value]
    raise NotCanonical(f"cannot encode {type(value).__name__} canonically")


def _mapping_to_json(value: Mapping[Any, Any]) -> dict[str, JsonValue]:
    result: dict[str, JsonValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise NotCanonical(f"object keys must be strings, got {type(key).__name__}")
        result[key] = to_json_value(item)
    return result


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        to_json_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")
