"""`/v1/api/knowledge-base/...`: seed 001's knowledge-base API.

Items are ingested off the request: each is answered at once with `status: processing`, and
`GET /v1/api/knowledge-base/{id}` (or the list) shows it turn `ready` or `failed` with the
reason. `POST /v1/api/knowledge-base/search` shows what a call would retrieve, with scores.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from agent.knowledge import relevant
from knowledge.documents import ACCEPTED_FILES, UnsupportedDocumentError, format_of

from ...schemas.envelope import envelope_of, ok
from ...schemas.knowledge import (
    ItemType,
    KnowledgeItemList,
    KnowledgeItemView,
    KnowledgeSearch,
    SearchResult,
    TextItemCreate,
    UrlItemCreate,
)
from ...services import knowledge as service
from ...services.refusal import check_tenant_url
from ...store.models import KnowledgeItem, VoiceAgent
from ...store.repositories import KnowledgeRepository
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import seed_error_responses as error_responses
from ..guard import SeedRoute
from .common import company_agent, parse_id, seed_error

router = APIRouter(prefix="/v1/api/knowledge-base", tags=["knowledge base"], route_class=SeedRoute)


async def _item(session: SessionDep, company_id: uuid.UUID, item_id: str) -> KnowledgeItem:
    parsed = parse_id(item_id)
    item = (
        await KnowledgeRepository(session).get(company_id=company_id, item_id=parsed)
        if parsed is not None
        else None
    )
    if item is None:
        raise seed_error(404, "Knowledge item not found", "NOT_FOUND", "id")
    return item


async def _room_for_one_more(
    session: SessionDep, settings: SettingsDep, company_id: uuid.UUID, agent: VoiceAgent
) -> None:
    limit = settings.knowledge_max_items_per_agent
    if await KnowledgeRepository(session).count(company_id=company_id, agent_id=agent.id) >= limit:
        raise seed_error(
            409, f"the agent has {limit} knowledge items, the most it may have", "LIMIT_EXCEEDED"
        )


async def _added(request: Request, session: SessionDep, item: KnowledgeItem) -> dict[str, Any]:
    view = service.item_view(item)
    await session.commit()
    ingester = getattr(request.app.state, "ingester", None)
    if ingester is not None:
        ingester.wake.set()
    return ok(view, "Knowledge item added; it is being processed")


ItemEnvelope = envelope_of(KnowledgeItemView)


@router.get(
    "/list",
    responses=error_responses(400, 401, 404, 429),
    response_model=envelope_of(KnowledgeItemList),
)
async def list_items(
    session: SessionDep,
    company_id: CompanyDep,
    agent_id: Annotated[str | None, Query(description="Only this agent's items")] = None,
    type: Annotated[ItemType | None, Query(description="Only items of this type")] = None,
) -> dict[str, Any]:
    """The company's knowledge items, oldest first."""
    parsed = None
    if agent_id is not None:
        parsed = (await company_agent(session, company_id, agent_id)).id
    items = await KnowledgeRepository(session).list(
        company_id=company_id, agent_id=parsed, type=type
    )
    return ok({"items": [service.item_view(item) for item in items]})


@router.post(
    "/text",
    status_code=201,
    responses=error_responses(400, 401, 404, 409, 429),
    response_model=ItemEnvelope,
)
async def add_text(
    body: TextItemCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Add a text (a title and its content)."""
    agent = await company_agent(session, company_id, body.agent_id)
    if len(body.content) > settings.knowledge_max_text_chars:
        raise seed_error(
            400,
            f"content is longer than {settings.knowledge_max_text_chars} characters",
            field="content",
        )
    await _room_for_one_more(session, settings, company_id, agent)
    source = body.content.encode("utf-8")
    item = await KnowledgeRepository(session).create(
        company_id=company_id,
        agent_id=agent.id,
        type="text",
        name=body.title,
        category=body.category,
        format="text",
        source=source,
        size_bytes=len(source),
    )
    return await _added(request, session, item)


@router.post(
    "/url",
    status_code=201,
    responses=error_responses(400, 401, 404, 409, 429),
    response_model=ItemEnvelope,
)
async def add_url(
    body: UrlItemCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """Add a web page or a file on the web; with `refresh_interval` (seconds) it is fetched
    again on that schedule. The URL must reach a public address (`EGRESS_ALLOWED_NETWORKS`
    relaxes that)."""
    agent = await company_agent(session, company_id, body.agent_id)
    if (
        body.refresh_interval is not None
        and body.refresh_interval < settings.knowledge_min_refresh_seconds
    ):
        raise seed_error(
            400,
            f"refresh_interval must be at least {settings.knowledge_min_refresh_seconds} seconds",
            field="refresh_interval",
        )
    await check_tenant_url(settings, "url", body.url)
    await _room_for_one_more(session, settings, company_id, agent)
    item = await KnowledgeRepository(session).create(
        company_id=company_id,
        agent_id=agent.id,
        type="url",
        name=body.name or body.url,
        category=body.category,
        url=body.url,
        refresh_interval=body.refresh_interval,
    )
    return await _added(request, session, item)


@router.post(
    "/file",
    status_code=201,
    responses=error_responses(400, 401, 404, 409, 413, 415, 429),
    response_model=ItemEnvelope,
)
async def add_file(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    company_id: CompanyDep,
    agent_id: Annotated[str, Form(min_length=1)],
    file: Annotated[UploadFile, File(description=f"The document: {ACCEPTED_FILES}")],
    category: Annotated[str | None, Form(max_length=200)] = None,
) -> dict[str, Any]:
    """Upload a document: PDF, DOCX, HTML, Markdown, CSV or plain text."""
    agent = await company_agent(session, company_id, agent_id)
    name = (file.filename or "").strip() or "document"
    try:
        kind = format_of(name, file.content_type)
    except UnsupportedDocumentError as exc:
        raise seed_error(415, str(exc), field="file") from None
    limit = settings.knowledge_max_file_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise seed_error(413, f"the file is larger than {limit} bytes", field="file")
    if not data:
        raise seed_error(400, "the file is empty", field="file")
    await _room_for_one_more(session, settings, company_id, agent)
    item = await KnowledgeRepository(session).create(
        company_id=company_id,
        agent_id=agent.id,
        type="document",
        name=name[:500],
        category=category,
        format=kind,
        source=data,
        size_bytes=len(data),
    )
    return await _added(request, session, item)


@router.post(
    "/search",
    responses=error_responses(400, 401, 404, 429, 502),
    response_model=envelope_of(SearchResult),
)
async def search(
    body: KnowledgeSearch,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    company_id: CompanyDep,
) -> dict[str, Any]:
    """The passages a call of the agent would retrieve for `query`, best first, with their
    similarity scores; `relevant` marks those a call would use (reaching the agent's
    `min_score`, and within its `score_margin` of the best)."""
    from knowledge.embeddings import EmbeddingError

    agent = await company_agent(session, company_id, body.agent_id)
    config = service.knowledge_settings(agent)
    try:
        passages = await service.search(
            session, request.app.state.sessions, settings, vault, agent, body.query, body.top_k
        )
    except EmbeddingError as exc:
        raise seed_error(502, str(exc), "UPSTREAM_ERROR") from None
    used = relevant(passages, config)
    return ok(
        {
            "query": body.query,
            "min_score": config.min_score,
            "passages": [
                {
                    "item_id": p.item_id,
                    "source": p.source,
                    "text": p.text,
                    "score": p.score,
                    "relevant": is_used,
                }
                for p, is_used in zip(passages, used, strict=True)
            ],
        }
    )


@router.get("/{id}", responses=error_responses(401, 404, 429), response_model=ItemEnvelope)
async def get_item(id: str, session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """One knowledge item, with its ingestion status."""
    return ok(service.item_view(await _item(session, company_id, id)))


@router.delete("/{id}", responses=error_responses(401, 404, 429))
async def delete_item(id: str, session: SessionDep, company_id: CompanyDep) -> dict[str, Any]:
    """Delete a knowledge item and its passages; calls stop using them at once."""
    item = await _item(session, company_id, id)
    await KnowledgeRepository(session).delete(item=item)
    await session.commit()
    return ok(message="Knowledge item deleted successfully")
