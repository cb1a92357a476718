"""`/webhooks`: subscriptions to the company's events, and their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from ...jobs.webhooks import EVENTS
from ...schemas.webhooks import Delivery, EventType, WebhookCreate, WebhookCreated, WebhookPublic
from ...services.webhooks import subscribe
from ...store.models import Webhook
from ...store.repositories import WebhookDeliveryRepository, WebhookRepository
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import ADMIN, GuardedRoute

router = APIRouter(
    prefix="/webhooks", tags=["webhooks"], route_class=GuardedRoute, dependencies=[ADMIN]
)

NOT_FOUND = "Webhook not found"


@router.get("/events", responses=error_responses(401, 429))
async def list_event_types(_company_id: CompanyDep) -> list[EventType]:
    """The events a webhook can subscribe to (`*` for all)."""
    return [EventType(event=e, description=d) for e, d in EVENTS.items()]


@router.post("", status_code=201, responses=error_responses(400, 401, 409, 429))
async def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> WebhookCreated:
    """Subscribe `url` to `events`. Deliveries are POSTs signed with the secret. The URL must
    reach a public address (`EGRESS_ALLOWED_NETWORKS` relaxes that) and carry no
    credentials."""
    hook, generated = await subscribe(session, settings, vault, company_id, body)
    return WebhookCreated.of(hook, secret=generated)


@router.get("", responses=error_responses(401, 429))
async def list_webhooks(session: SessionDep, company_id: CompanyDep) -> list[WebhookPublic]:
    hooks = await WebhookRepository(session).list(company_id=company_id)
    return [WebhookPublic.of(h) for h in hooks]


async def _find(session: SessionDep, company_id: uuid.UUID, webhook_id: str) -> Webhook:
    try:
        parsed = uuid.UUID(webhook_id)
    except ValueError:
        raise HTTPException(404, NOT_FOUND) from None
    hook = await WebhookRepository(session).get(company_id=company_id, webhook_id=parsed)
    if hook is None:
        raise HTTPException(404, NOT_FOUND)
    return hook


@router.delete("/{webhook_id}", status_code=204, responses=error_responses(401, 404, 429))
async def delete_webhook(webhook_id: str, session: SessionDep, company_id: CompanyDep) -> Response:
    """Unsubscribe; deliveries not made yet are dropped."""
    hook = await _find(session, company_id, webhook_id)
    await WebhookRepository(session).delete(webhook=hook)
    await session.commit()
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", responses=error_responses(400, 401, 404, 429))
async def list_deliveries(
    webhook_id: str,
    session: SessionDep,
    company_id: CompanyDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[Delivery]:
    """The webhook's latest deliveries, each with its attempts (status code, error,
    `retry_count`, `next_retry`)."""
    hook = await _find(session, company_id, webhook_id)
    rows = await WebhookDeliveryRepository(session).latest(
        company_id=company_id, webhook_id=hook.id, limit=limit
    )
    return [Delivery.model_validate(r) for r in rows]
