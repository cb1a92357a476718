"""Knowledge ingestion, off the request and durable: items wait in the store as `processing`
until a job claims them (for a lease: a job that dies loses nothing), reads them (the text, the
file's bytes, the URL fetched), cuts them into passages, embeds them and stores the passages,
all in one transaction with the item turning `ready`. URLs with a `refresh_interval` come back
when it has passed; a refresh that fails keeps the passages it had and records the error.

Any number of control planes run the job from one store: claims are atomic
(`KnowledgeRepository.claim_due`) and only the job whose claim is current writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from agent.contract import KnowledgeSettings
from knowledge.chunking import chunk_text
from knowledge.documents import Document, DocumentError, UnsupportedDocumentError, extract
from knowledge.embeddings import Embedder, EmbeddingError, Vectors, to_bytes
from knowledge.sources import FetchError, FetchLimits, fetch
from pipelines.embeddings import build_embedder
from shared.egress import EgressPolicy

from ..security import ProviderKeyVault
from ..store.models import KnowledgeItem, VoiceAgent, utcnow
from ..store.outage import OutageLog
from ..store.repositories import ClaimedItem, KnowledgeRepository, ProviderKeyRepository
from ..store.repositories.knowledge import FAILED, PROCESSING, READY
from .polling import PollingLoop

logger = logging.getLogger("control_plane.jobs.knowledge")

MAX_ATTEMPTS = 3
"""Tries of an item whose embedder failed (an endpoint down) before it is `failed`."""


@dataclass(frozen=True)
class IngestSettings:
    """From `Settings.knowledge_*` (documented there)."""

    poll_interval: float = 2.0
    lease: float = 300.0
    batch: int = 4
    embed_batch: int = 64
    """Passages embedded between renewals of an item's claim."""
    egress: EgressPolicy = EgressPolicy()
    fetch: FetchLimits = field(default_factory=FetchLimits)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str | None = None
    """The deployment's endpoint and key for agents whose embeddings are not local and who
    name no endpoint (`embedding_base_url`) or key of their own."""


class Ingester:
    def __init__(
        self,
        sessions: async_sessionmaker,
        vault: Callable[[], ProviderKeyVault],
        settings: IngestSettings,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.settings = settings
        self.loop = PollingLoop(OutageLog(logger, "knowledge ingestion"), settings.poll_interval)
        self.wake = self.loop.wake
        """Set by the API when it adds work: it starts without waiting for the poll."""

    async def run(self) -> None:
        """Work until cancelled."""
        await self.loop.run(self.ingest_due)

    async def ingest_due(self) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await KnowledgeRepository(session).claim_due(
                now=utcnow(),
                lease=timedelta(seconds=self.settings.lease),
                limit=self.settings.batch,
            )
        for item in claimed:  # one at a time: embedding takes the CPU
            await self.ingest(item)
        return len(claimed)

    async def ingest(self, claim: ClaimedItem) -> None:
        async with self.sessions() as session:
            item = await KnowledgeRepository(session).get_for_ingest(item_id=claim.id)
            if item is None:
                return
            agent = await session.get(VoiceAgent, item.agent_id)
            sealed = await ProviderKeyRepository(session).for_agent(
                company_id=item.company_id, agent_id=item.agent_id
            )
        if agent is None:
            return
        refreshing = item.status == READY
        try:
            document = await self._read(item)
            passages = chunk_text(document.text)
            embedder = self._embedder(agent, sealed)
            vectors: list[Vectors] = []
            step = self.settings.embed_batch
            for start in range(0, len(passages), step):
                vectors.extend(await embedder.passages(passages[start : start + step]))
                if start + step < len(passages):
                    renewed = await self._renew(claim)
                    if renewed is None:
                        logger.warning("knowledge item %s: claim lost while embedding", item.id)
                        return
                    claim = renewed
        except (FetchError, DocumentError, UnsupportedDocumentError) as exc:
            await self._failed(claim, item, str(exc), refreshing, retry=False)
            return
        except (EmbeddingError, ValueError) as exc:
            await self._failed(claim, item, str(exc), refreshing, retry=True)
            return
        values = {"format": document.format, "size_bytes": item.size_bytes or len(document.text)}
        if item.refresh_interval:
            values["next_refresh_at"] = utcnow() + timedelta(seconds=item.refresh_interval)
        async with self.sessions() as session, session.begin():
            stored = await KnowledgeRepository(session).store_passages(
                item=claim,
                company_id=item.company_id,
                agent_id=item.agent_id,
                texts=passages,
                embeddings=[to_bytes(v) for v in vectors],
                model=embedder.model,
                values=values,
            )
        if stored:
            logger.info(
                "knowledge item %s %s: %d passages (%s)",
                item.id,
                "refreshed" if refreshing else "ready",
                len(passages),
                embedder.model,
            )
        else:
            logger.warning("knowledge item %s: claim expired or item deleted; not stored", item.id)

    async def _renew(self, claim: ClaimedItem) -> ClaimedItem | None:
        """Extend the claim by a lease (a document longer than a lease takes to embed)."""
        async with self.sessions() as session, session.begin():
            return await KnowledgeRepository(session).extend(
                item=claim, until=utcnow() + timedelta(seconds=self.settings.lease)
            )

    async def _read(self, item: KnowledgeItem) -> Document:
        if item.type == "url":
            assert item.url is not None
            return await fetch(item.url, self.settings.egress, self.settings.fetch)
        source = item.source or b""
        if item.type == "text":
            text = source.decode("utf-8")
            if not text.strip():
                raise DocumentError("the text is empty")
            return Document(format="text", text=f"{item.name}\n\n{text}" if item.name else text)
        return await asyncio.to_thread(extract, source, item.name)

    def _embedder(self, agent: VoiceAgent, sealed: dict[str, str]) -> Embedder:
        settings = KnowledgeSettings.model_validate(agent.knowledge or {}, strict=False)
        key = self.settings.openai_api_key
        if settings.embedding_model != "local" and "openai" in sealed:
            key = self.vault().decrypt(sealed["openai"])
        return build_embedder(
            settings,
            api_key=key,
            egress=self.settings.egress,
            default_base_url=self.settings.openai_base_url,
        )

    async def _failed(
        self, claim: ClaimedItem, item: KnowledgeItem, error: str, refreshing: bool, retry: bool
    ) -> None:
        error = error[:1000]
        if refreshing:
            # The passages it had stay; the next refresh tries again.
            values: dict[str, object] = {"error": f"refresh failed: {error}"}
            if item.refresh_interval:
                values["next_refresh_at"] = utcnow() + timedelta(seconds=item.refresh_interval)
        elif retry and item.attempts < MAX_ATTEMPTS:
            # Left `processing`, claimable again after a pause.
            values = {"status": PROCESSING, "error": error}
            values["locked_until"] = utcnow() + timedelta(seconds=30 * item.attempts)
        else:
            values = {"status": FAILED, "error": error, "source": None}
        async with self.sessions() as session, session.begin():
            await KnowledgeRepository(session).record_failure(item=claim, values=values)
        logger.warning("knowledge item %s: %s", item.id, error)
