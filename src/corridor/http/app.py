"""The FastAPI application: routers under /v1, problem+json errors, idempotency, health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from corridor import __version__
from corridor.access.api import router as access_router
from corridor.compliance.screening.api import router as screening_router
from corridor.contracts.api import router as contracts_router
from corridor.custody.api import router as custody_router
from corridor.db import Database
from corridor.db.migrate import is_up_to_date
from corridor.http import problems
from corridor.http.middleware import BodyLimit, Idempotency, IdempotencyStore, RequestTelemetry
from corridor.identity.api import router as identity_router
from corridor.ledger.api import router as ledger_router
from corridor.logging import configure_logging
from corridor.rates.api import router as rates_router
from corridor.registry.api import router as registry_router
from corridor.settings import Settings, get_settings
from corridor.settlement.api import router as settlement_router
from corridor.settlement.refunds_api import router as refunds_router
from corridor.webhooks.api import router as webhooks_router

API_ROUTERS: list[APIRouter] = [
    access_router,
    ledger_router,
    registry_router,
    identity_router,
    contracts_router,
    custody_router,
    screening_router,
    rates_router,
    settlement_router,
    refunds_router,
    webhooks_router,
]


def create_app(db: Database | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    db = db or Database(settings.resolved_database_url())
    app = FastAPI(
        title="Corridor",
        version=__version__,
        description="Regulated cross-border foreign-trade settlement in Bitcoin.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
    )
    app.state.db = db
    app.state.settings = settings
    problems.install(app)
    v1 = APIRouter(prefix="/v1")
    for router in API_ROUTERS:
        v1.include_router(router)
    app.include_router(v1)
    _add_operational_routes(app, db)
    # Outermost first: telemetry sees everything, the body limit runs before anything reads the body.
    app.add_middleware(Idempotency, store=IdempotencyStore(db, settings.idempotency_lock_seconds))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTelemetry)
    return app


def _add_operational_routes(app: FastAPI, db: Database) -> None:
    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            migrated = is_up_to_date(db.url, db.engine)
        except Exception as error:
            return problems.problem_response(503, "database_unavailable", "Not ready", type(error).__name__)
        if not migrated:
            return problems.problem_response(
                503, "migrations_pending", "Not ready", "run `corridor db upgrade`"
            )
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
