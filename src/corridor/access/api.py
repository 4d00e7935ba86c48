"""Access routes: users and API keys (operator administration)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from corridor.access import service
from corridor.access.model import Role
from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictModel

router = APIRouter(tags=["access"])


class UserIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    participant_id: str | None = Field(default=None, max_length=64)


class KeyIn(StrictModel):
    label: str = Field(default="", max_length=200)


@router.get("/me")
def whoami(principal: PrincipalDep) -> dict[str, Any]:
    return {"user_id": principal.user_id, "role": principal.role, "participant_id": principal.participant_id}


@router.post("/users", status_code=201)
def create_user(body: UserIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    user = service.create_user(db, principal, body.name, body.role, body.participant_id)
    return {"id": user.user_id, "name": user.name, "role": user.role, "participant_id": user.participant_id}


@router.post("/users/{user_id}/keys", status_code=201)
def create_key(user_id: str, body: KeyIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    issued = service.create_key(db, principal, user_id, body.label)
    return {"id": issued.key_id, "prefix": issued.prefix, "key": issued.key, "role": issued.role}


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, db: DbDep, principal: PrincipalDep) -> None:
    service.revoke_key(db, principal, key_id)
