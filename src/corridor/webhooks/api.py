"""Webhook routes: endpoints (the secret is in the creation answer only), the delivery log, redelivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import Page, StrictBool, StrictModel
from corridor.webhooks import service
from corridor.webhooks.model import FOLLOWED_PREFIXES, DeliveryStatus, event_id
from corridor.webhooks.sealing import SecretBox, box_from_file
from corridor.webhooks.service import DeliveryView, EndpointChanges, EndpointIn, WebhookConfig
from corridor.webhooks.store import Endpoint

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def webhook_config(request: Request) -> WebhookConfig:
    return WebhookConfig.from_settings(request.app.state.settings)


def secret_box(config: Annotated[WebhookConfig, Depends(webhook_config)]) -> SecretBox:
    return box_from_file(config.key_file)


ConfigDep = Annotated[WebhookConfig, Depends(webhook_config)]
BoxDep = Annotated[SecretBox, Depends(secret_box)]

_TYPES_HELP = (
    "Exact event types (`settlement.invoice.settled`) or prefixes ending in '.' (`settlement.invoice.`); "
    f"empty: every event ({', '.join(FOLLOWED_PREFIXES)})."
)


class EndpointBody(StrictModel):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL the events are POSTed to.")
    participant_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Default: the caller's own participant."
    )
    event_types: list[str] = Field(default_factory=list, max_length=50, description=_TYPES_HELP)
    description: str = Field(default="", max_length=200)
    enabled: StrictBool = True


class EndpointPatch(StrictModel):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(default=None, max_length=50, description=_TYPES_HELP)
    description: str | None = Field(default=None, max_length=200)
    enabled: StrictBool | None = None


def endpoint_out(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "participant_id": endpoint.participant_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": list(endpoint.event_types),
        "secret_hint": endpoint.secret_hint,
        "enabled": endpoint.enabled,
        "created_by": endpoint.created_by,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def delivery_out(view: DeliveryView) -> dict[str, Any]:
    d = view.delivery
    return {
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "participant_id": d.participant_id,
        "event": {
            "id": event_id(d.event_seq),
            "type": d.event_type,
            "subject": view.event_subject,
            "created": view.event_created,
        },
        "status": d.status,
        "attempt_count": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at,
        "created_at": d.created_at,
        "attempts": view.attempts,
    }


@router.post("/endpoints", status_code=201)
def create_endpoint(
    body: EndpointBody, db: DbDep, principal: PrincipalDep, config: ConfigDep, box: BoxDep
) -> dict[str, Any]:
    spec = EndpointIn(
        url=body.url,
        participant_id=body.participant_id,
        event_types=tuple(body.event_types),
        description=body.description,
        enabled=body.enabled,
    )
    created = service.create_endpoint(db, principal, spec, config=config, box=box)
    return {**endpoint_out(created.endpoint), "secret": created.secret}


@router.get("/endpoints")
def list_endpoints(
    db: DbDep,
    principal: PrincipalDep,
    participant_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    return {"items": [endpoint_out(e) for e in service.list_endpoints(db, principal, participant_id, limit)]}


@router.get("/endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return endpoint_out(service.get_endpoint(db, principal, endpoint_id))


@router.patch("/endpoints/{endpoint_id}")
def update_endpoint(
    endpoint_id: str, body: EndpointPatch, db: DbDep, principal: PrincipalDep, config: ConfigDep
) -> dict[str, Any]:
    changes = EndpointChanges(
        url=body.url,
        event_types=tuple(body.event_types) if body.event_types is not None else None,
        description=body.description,
        enabled=body.enabled,
    )
    return endpoint_out(service.update_endpoint(db, principal, endpoint_id, changes, config=config))


@router.delete("/endpoints/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, db: DbDep, principal: PrincipalDep) -> None:
    service.delete_endpoint(db, principal, endpoint_id)


@router.get("/deliveries")
def list_deliveries(
    db: DbDep,
    principal: PrincipalDep,
    endpoint_id: str | None = None,
    status: DeliveryStatus | None = None,
    participant_id: str | None = None,
    after: str | None = Query(None, description="Cursor: next_cursor of the previous page."),
    limit: int = Query(100, ge=1, le=1000),
) -> Page[dict[str, Any]]:
    views = service.list_deliveries(
        db,
        principal,
        endpoint_id=endpoint_id,
        status=status,
        participant_id=participant_id,
        after=after,
        limit=limit,
    )
    cursor = service.delivery_cursor(views[-1].delivery) if len(views) == limit else None
    return Page(items=[delivery_out(v) for v in views], next_cursor=cursor)


@router.get("/deliveries/{delivery_id}")
def get_delivery(delivery_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return delivery_out(service.get_delivery(db, principal, delivery_id))


@router.post("/deliveries/{delivery_id}/redelivery", status_code=202)
def redeliver(delivery_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return delivery_out(service.redeliver(db, principal, delivery_id))
