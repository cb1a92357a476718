"""Agents' knowledge: items, their embedded passages, and the claims of the ingestion job.

The knowledge job and the worker's retrieval serve every company at once: their methods
span companies, and say so.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..claims import claim_rows
from ..models import KnowledgeChunk, KnowledgeItem, utcnow

PROCESSING, READY, FAILED = "processing", "ready", "failed"


class ClaimedItem(NamedTuple):
    id: uuid.UUID
    claimed_until: datetime


class StoredPassage(NamedTuple):
    chunk_id: uuid.UUID
    item_id: uuid.UUID
    source: str
    text: str
    embedding: bytes


class KnowledgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # A company's items -------------------------------------------------------------------

    async def create(
        self, *, company_id: uuid.UUID, agent_id: uuid.UUID, **values: Any
    ) -> KnowledgeItem:
        now = utcnow()
        item = KnowledgeItem(
            company_id=company_id,
            agent_id=agent_id,
            status=PROCESSING,
            chunks_count=0,
            attempts=0,
            created_at=now,
            updated_at=now,
            **values,
        )
        self.session.add(item)
        await self.session.flush()
        return item

    async def list(
        self,
        *,
        company_id: uuid.UUID,
        agent_id: uuid.UUID | None = None,
        type: str | None = None,
    ) -> Sequence[KnowledgeItem]:
        query = select(KnowledgeItem).where(KnowledgeItem.company_id == company_id)
        if agent_id is not None:
            query = query.where(KnowledgeItem.agent_id == agent_id)
        if type is not None:
            query = query.where(KnowledgeItem.type == type)
        result = await self.session.scalars(query.order_by(KnowledgeItem.created_at))
        return result.all()

    async def get(self, *, company_id: uuid.UUID, item_id: uuid.UUID) -> KnowledgeItem | None:
        return await self.session.scalar(
            select(KnowledgeItem).where(
                KnowledgeItem.id == item_id, KnowledgeItem.company_id == company_id
            )
        )

    async def count(self, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            KnowledgeItem.company_id == company_id, KnowledgeItem.agent_id == agent_id
        )
        return await self.session.scalar(query) or 0

    async def delete(self, *, item: KnowledgeItem) -> None:
        """Forget the item; its passages go with it (ON DELETE CASCADE)."""
        await self.session.delete(item)
        await self.session.flush()

    async def summary(
        self, *, company_id: uuid.UUID, agent_id: uuid.UUID
    ) -> tuple[int, datetime | None]:
        """How many items the agent has, and when one last changed."""
        row = (
            await self.session.execute(
                select(func.count(), func.max(KnowledgeItem.updated_at)).where(
                    KnowledgeItem.company_id == company_id, KnowledgeItem.agent_id == agent_id
                )
            )
        ).one()
        return int(row[0]), row[1]

    # Retrieval (the worker's and the search API's) ---------------------------------------

    async def revision(self, *, agent_id: uuid.UUID) -> tuple[int, str | None]:
        """Changes whenever the agent's ready knowledge does (an item ingested, refreshed or
        deleted): the key of a process's cached index."""
        row = (
            await self.session.execute(
                select(func.count(), func.max(KnowledgeItem.ingested_at)).where(
                    KnowledgeItem.agent_id == agent_id, KnowledgeItem.chunks_count > 0
                )
            )
        ).one()
        return int(row[0]), row[1].isoformat() if row[1] is not None else None

    async def passages(self, *, agent_id: uuid.UUID, model: str) -> builtins.list[StoredPassage]:
        """Every passage of the agent embedded by `model`, in document order."""
        rows = await self.session.execute(
            select(
                KnowledgeChunk.id,
                KnowledgeChunk.item_id,
                KnowledgeItem.name,
                KnowledgeChunk.text,
                KnowledgeChunk.embedding,
            )
            .join(KnowledgeItem, KnowledgeItem.id == KnowledgeChunk.item_id)
            .where(KnowledgeChunk.agent_id == agent_id, KnowledgeChunk.embedding_model == model)
            .order_by(KnowledgeItem.created_at, KnowledgeChunk.position)
        )
        return [StoredPassage(*row) for row in rows.all()]

    # The ingestion job (spans companies) -------------------------------------------------

    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> builtins.list[ClaimedItem]:
        """Claim up to `limit` items to ingest, across companies: new ones (`processing`) and
        URLs due for a refresh (`claims.claim_rows`)."""
        claimed, until = await claim_rows(
            self.session,
            key=KnowledgeItem.id,
            locked_until=KnowledgeItem.locked_until,
            due=or_(
                KnowledgeItem.status == PROCESSING,
                and_(
                    KnowledgeItem.next_refresh_at.is_not(None),
                    KnowledgeItem.next_refresh_at <= now,
                ),
            ),
            order_by=KnowledgeItem.created_at,
            now=now,
            lease=lease,
            limit=limit,
            values={"attempts": KnowledgeItem.attempts + 1},
        )
        return [ClaimedItem(item_id, until) for item_id in claimed]

    async def extend(self, *, item: ClaimedItem, until: datetime) -> ClaimedItem | None:
        """Hold the item longer (a long document still embedding); None when the claim is no
        longer the job's."""
        result = await self.session.execute(
            update(KnowledgeItem)
            .where(KnowledgeItem.id == item.id, KnowledgeItem.locked_until == item.claimed_until)
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        )
        return ClaimedItem(item.id, until) if result.rowcount else None  # type: ignore[attr-defined]

    async def get_for_ingest(self, *, item_id: uuid.UUID) -> KnowledgeItem | None:
        """An item the job claimed, whatever its company (None once deleted)."""
        return await self.session.get(KnowledgeItem, item_id)

    async def store_passages(
        self,
        *,
        item: ClaimedItem,
        company_id: uuid.UUID,
        agent_id: uuid.UUID,
        texts: Sequence[str],
        embeddings: Sequence[bytes],
        model: str,
        values: dict[str, Any],
    ) -> bool:
        """Replace the item's passages and mark it `ready`, only while the claim is still the
        job's: False, and nothing written, when it expired (another job took it over) or the
        item was deleted."""
        now = utcnow()
        result = await self.session.execute(
            update(KnowledgeItem)
            .where(KnowledgeItem.id == item.id, KnowledgeItem.locked_until == item.claimed_until)
            .values(
                status=READY,
                error=None,
                chunks_count=len(texts),
                source=None,
                locked_until=None,
                attempts=0,
                updated_at=now,
                ingested_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.item_id == item.id))
        if texts:
            await self.session.execute(
                insert(KnowledgeChunk),
                [
                    {
                        "id": uuid.uuid4(),
                        "company_id": company_id,
                        "agent_id": agent_id,
                        "item_id": item.id,
                        "position": position,
                        "text": text,
                        "embedding_model": model,
                        "embedding": blob,
                    }
                    for position, (text, blob) in enumerate(zip(texts, embeddings, strict=True))
                ],
            )
        return True

    async def record_failure(self, *, item: ClaimedItem, values: dict[str, Any]) -> bool:
        """Write a failed ingestion's outcome (`values`: status, error, and `locked_until` to
        pause before a retry), under the same condition as `store_passages`."""
        result = await self.session.execute(
            update(KnowledgeItem)
            .where(KnowledgeItem.id == item.id, KnowledgeItem.locked_until == item.claimed_until)
            .values({"locked_until": None, "updated_at": utcnow(), **values})
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class StorePassages:
    """An agent's passages as retrieval reads them (`agent.knowledge.PassageStore`), each
    read in a short session of its own."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def revision(self, agent_id: uuid.UUID) -> tuple[int, str | None]:
        async with self.sessions() as session:
            return await KnowledgeRepository(session).revision(agent_id=agent_id)

    async def passages(self, agent_id: uuid.UUID, model: str) -> builtins.list[StoredPassage]:
        async with self.sessions() as session:
            return await KnowledgeRepository(session).passages(agent_id=agent_id, model=model)
