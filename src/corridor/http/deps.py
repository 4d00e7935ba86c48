"""Request-scoped dependencies: the database and the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corridor.access.model import Principal
from corridor.access.service import authenticate
from corridor.db import Database


async def get_db(request: Request) -> Database:
    # async: FastAPI runs a plain function dependency in a worker thread, a hop that costs more than this.
    db: Database = request.app.state.db
    return db


def current_principal(request: Request, db: Annotated[Database, Depends(get_db)]) -> Principal:
    authorization = request.headers.get("authorization", "")
    presented = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    presented = presented or request.headers.get("x-api-key")
    return authenticate(db, presented)


DbDep = Annotated[Database, Depends(get_db)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
