"""`/v1/api/verify` and `/v1/api/webhooks`: seed 001's key check and webhook subscriptions,
in its envelope. Keys are issued by the deployment's administrator (`python -m
control_plane create-key`), not by `get-api-key`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...schemas.envelope import envelope_of, ok
from ...schemas.seed_conversations import KeyCheck
from ...schemas.webhooks import WebhookCreate, WebhookCreated, WebhookList, WebhookPublic
from ...services.webhooks import subscribe
from ...store.repositories import WebhookRepository
from ..deps import CompanyDep, KeyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute

router = APIRouter(prefix="/v1/api", tags=["account"], route_class=SeedRoute)

PERMISSIONS = ["read", "write", "delete"]
"""What every company key may do (keys scoped to a deployment serve only its chat)."""


@router.get(
    "/verify", responses=error_responses(401, 403, 429), response_model=envelope_of(KeyCheck)
)
async def verify(request: Request, key: KeyDep) -> dict[str, Any]:
    """Whether the key is valid (401 otherwise), whose it is, and its rate limit."""
    check = KeyCheck(
        valid=True,
        account_id=key.company_id,
        key_id=key.id,
        permissions=PERMISSIONS,
        rate_limit=request.app.state.guard.key_limit(key),
    )
    return ok(check.model_dump(mode="json"))


@router.post(
    "/webhooks",
    status_code=201,
    responses=error_responses(400, 401, 409, 429),
    response_model=envelope_of(WebhookCreated),
)
async def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Subscribe `url` to `events` (`GET /webhooks/events` lists them; `*` for all).
    Deliveries are POSTs signed with the secret (`X-Signature`: hex HMAC-SHA256 of the body)."""
    hook, generated = await subscribe(session, settings, vault, company_id, body)
    return ok(WebhookCreated.of(hook, secret=generated).model_dump(mode="json"), "Webhook created")


@router.get(
    "/webhooks", responses=error_responses(401, 429), response_model=envelope_of(WebhookList)
)
async def list_webhooks(session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """The company's webhooks."""
    hooks = await WebhookRepository(session).list(company_id=company_id)
    return ok({"webhooks": [WebhookPublic.of(h).model_dump(mode="json") for h in hooks]})
