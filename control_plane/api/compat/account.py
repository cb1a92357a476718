"""`/v1/api/get-api-key`, `/v1/api/verify` and `/v1/api/webhooks`: seed 001's keys taken with
a user's password, its key check, and its webhook subscriptions, in its envelope. The
administrator's keys (`python -m control_plane create-key`) may do everything and never
expire; a key taken with a password has its user's permissions at most, and expires."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...schemas.envelope import envelope_of, ok
from ...schemas.seed_conversations import IssuedApiKey, KeyCheck, KeyRequest
from ...schemas.webhooks import WebhookCreate, WebhookCreated, WebhookList, WebhookPublic
from ...security import PERMISSIONS
from ...services.refusal import Refused
from ...services.users import WRONG_CREDENTIALS, check_credentials, issue_user_key
from ...services.webhooks import subscribe
from ...store.repositories import WebhookRepository
from ..deps import CompanyDep, KeyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import ADMIN, RequestGuard, SeedRoute

router = APIRouter(prefix="/v1/api", tags=["account"], route_class=SeedRoute)


@router.post(
    "/get-api-key",
    status_code=201,
    responses=error_responses(400, 401, 403, 429),
    response_model=envelope_of(IssuedApiKey),
)
async def get_api_key(body: KeyRequest, request: Request, session: SessionDep) -> dict[str, Any]:
    """A new API key for the user with this email and password (shown once), with the
    `permissions` asked for (by default all the user's role may: `admin` users everything,
    `member` read, write and delete, `viewer` read), expiring after `expires_in_days`. A wrong
    email or password is one 401 (which of them is not said); too many are 429."""
    guard: RequestGuard = request.app.state.guard
    wait = await guard.may_try_password(request, body.email)
    if wait is not None:
        raise Refused(429, f"Too many failed sign-ins; retry in {int(wait)} s")
    user = await check_credentials(session, body.email, body.password)
    if user is None:
        await guard.wrong_password(request, body.email)
        raise Refused(401, WRONG_CREDENTIALS, code="INVALID_CREDENTIALS")
    taken = await issue_user_key(
        session,
        user,
        permissions=None if body.permissions is None else list(body.permissions),
        days=body.expires_in_days,
        name=body.name,
    )
    await session.commit()
    record = taken.issued.record
    assert record.expires_at is not None
    issued = IssuedApiKey(
        api_key=taken.issued.key,
        key_id=record.id,
        expires_at=record.expires_at,
        permissions=taken.permissions,
    )
    return ok(issued.model_dump(mode="json"), "API key created")


@router.get(
    "/verify", responses=error_responses(401, 403, 429), response_model=envelope_of(KeyCheck)
)
async def verify(request: Request, key: KeyDep) -> dict[str, Any]:
    """Whether the key is valid (401 otherwise, also once expired), whose it is, what it may
    do, until when, and its rate limit."""
    check = KeyCheck(
        valid=True,
        account_id=key.company_id,
        key_id=key.id,
        permissions=list(PERMISSIONS if key.permissions is None else key.permissions),
        rate_limit=request.app.state.guard.key_limit(key),
        expires_at=key.expires_at,
    )
    return ok(check.model_dump(mode="json"))


@router.post(
    "/webhooks",
    status_code=201,
    responses=error_responses(400, 401, 403, 409, 429),
    response_model=envelope_of(WebhookCreated),
    dependencies=[ADMIN],
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
    "/webhooks",
    responses=error_responses(401, 403, 429),
    response_model=envelope_of(WebhookList),
    dependencies=[ADMIN],
)
async def list_webhooks(session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """The company's webhooks."""
    hooks = await WebhookRepository(session).list(company_id=company_id)
    return ok({"webhooks": [WebhookPublic.of(h).model_dump(mode="json") for h in hooks]})
