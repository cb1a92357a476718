"""Subscribing a company's webhooks: the rules the native `/webhooks` and seed 001's
`/v1/api/webhooks` share."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ..schemas.webhooks import WebhookCreate
from ..security import ProviderKeyVault
from ..settings import Settings
from ..store.models import Webhook
from ..store.repositories import WebhookRepository
from .refusal import Refused, check_tenant_url


async def subscribe(
    session: AsyncSession,
    settings: Settings,
    vault: ProviderKeyVault,
    company_id: uuid.UUID,
    body: WebhookCreate,
) -> tuple[Webhook, str | None]:
    """The new webhook, committed, and the secret generated for it (None when the body gave
    one). The URL must pass the egress policy; a company has at most
    `MAX_WEBHOOKS_PER_COMPANY`."""
    await check_tenant_url(settings, "url", body.url)
    hooks = WebhookRepository(session)
    count = await hooks.count(company_id=company_id)
    if count >= settings.max_webhooks_per_company:
        raise Refused(
            409,
            f"this company has {count} webhooks, the most allowed "
            f"(MAX_WEBHOOKS_PER_COMPANY); delete one first",
            code="LIMIT_EXCEEDED",
        )
    generated = None if body.secret else "whsec_" + secrets.token_urlsafe(32)
    hook = await hooks.create(
        company_id=company_id,
        url=body.url,
        events=body.events,
        secret_ciphertext=vault.encrypt(body.secret or generated or ""),
        description=body.description,
    )
    await session.commit()
    return hook, generated
