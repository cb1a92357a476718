"""Knowledge-base operations over the store, for the seed-001 surface and any other."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.contract import KnowledgeSettings
from agent.knowledge import Passage, Retriever
from knowledge.embeddings import LOCAL_EMBEDDINGS
from pipelines.embeddings import build_embedder

from ..security import ProviderKeyVault
from ..settings import Settings
from ..store.models import KnowledgeItem, VoiceAgent
from ..store.repositories import ProviderKeyRepository, StorePassages


def item_view(item: KnowledgeItem) -> dict[str, object]:
    """An item as the seed's list shows it, plus its ingestion state."""
    return {
        "id": str(item.id),
        "agent_id": str(item.agent_id),
        "type": item.type,
        "name": item.name,
        "category": item.category,
        "url": item.url,
        "refresh_interval": item.refresh_interval,
        "format": item.format,
        "size_bytes": item.size_bytes,
        "status": item.status,
        "error": item.error,
        "chunks": item.chunks_count,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
        "ingested_at": item.ingested_at.isoformat() if item.ingested_at else None,
        "next_refresh_at": item.next_refresh_at.isoformat() if item.next_refresh_at else None,
    }


def knowledge_settings(agent: VoiceAgent) -> KnowledgeSettings:
    return KnowledgeSettings.model_validate(agent.knowledge or {}, strict=False)


async def search(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    vault: ProviderKeyVault,
    agent: VoiceAgent,
    query: str,
    top_k: int | None,
) -> list[Passage]:
    """What a call of `agent` would retrieve for `query`, with every score (no threshold is
    applied here, so a user sees how close the near misses were)."""
    config = knowledge_settings(agent)
    key = None
    if config.embedding_model != LOCAL_EMBEDDINGS:
        sealed = await ProviderKeyRepository(session).for_agent(
            company_id=agent.company_id, agent_id=agent.id
        )
        if "openai" in sealed:
            key = vault.decrypt(sealed["openai"])
        elif settings.openai_api_key is not None:
            key = settings.openai_api_key.get_secret_value()
    embedder = build_embedder(
        config,
        api_key=key,
        egress=settings.egress_policy(),
        default_base_url=settings.openai_base_url,
    )
    retriever = Retriever(agent.id, StorePassages(sessions), embedder, config)
    return await retriever.search(query, top_k=top_k, min_score=-1.0, margin=1.0)
