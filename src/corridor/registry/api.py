"""Registry routes: browse entries, prove inclusion and consistency, checkpoint, verify."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from corridor.access.model import authorize
from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import Page
from corridor.registry import service

router = APIRouter(prefix="/registry", tags=["registry"])


@router.get("/entries")
def list_entries(
    db: DbDep,
    principal: PrincipalDep,
    after: int = Query(0, ge=0, description="Cursor: the last seq already seen."),
    limit: int = Query(100, ge=1, le=1000),
    kind: str | None = None,
    subject: str | None = None,
) -> Page[dict[str, Any]]:
    entries = service.list_entries(db, principal, after, limit, kind, subject)
    cursor = str(entries[-1].seq) if len(entries) == limit else None
    return Page(items=[e.as_dict() for e in entries], next_cursor=cursor)


@router.get("/entries/{seq}/proof")
def inclusion_proof(
    db: DbDep, principal: PrincipalDep, seq: int, tree_size: int | None = None
) -> dict[str, Any]:
    return service.inclusion_bundle(db, principal, seq, tree_size)


@router.get("/consistency")
def consistency_proof(
    db: DbDep, principal: PrincipalDep, first: int = Query(ge=1), second: int = Query(ge=1)
) -> dict[str, Any]:
    return service.consistency_bundle(db, principal, first, second)


@router.get("/checkpoints")
def checkpoints(db: DbDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    return [_checkpoint(c) for c in service.list_checkpoints(db, principal)]


def _checkpoint(checkpoint: service.Checkpoint) -> dict[str, Any]:
    return {
        "tree_size": checkpoint.tree_size,
        "root": checkpoint.root,
        "created_at": checkpoint.created_at,
        "anchor_txid": checkpoint.anchor_txid,
    }


@router.post("/checkpoints", status_code=201)
def create_checkpoint(db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return _checkpoint(service.create_checkpoint(db, principal))


@router.get("/verify")
def verify(db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    authorize(principal, "registry.read")
    return service.verify(db).as_dict()
