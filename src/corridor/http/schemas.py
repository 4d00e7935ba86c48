"""Shared bits of the API's Pydantic schemas."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Strict

T = TypeVar("T")

StrictInt = Annotated[int, Strict()]
"""An integer that must arrive as a JSON integer: "100", 1.5 and true are refused, never coerced."""
StrictBool = Annotated[bool, Strict()]


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields; numbers use :data:`StrictInt` so nothing is silently coerced."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
