"""Answering from knowledge, for every channel: the passages a question retrieves, and the
words that put them before the model.

`Retriever` searches an agent's passages wherever they are kept (`PassageStore`: the store,
through the control plane's repository); each process keeps one index per agent and model,
rebuilt when the agent's knowledge changes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Hashable, Sequence
from typing import Protocol

from knowledge.embeddings import Embedder, Vectors, from_bytes
from knowledge.index import IndexCache, Passage, PassageRef, VectorIndex, script_of, stack

from .contract import KnowledgeSettings

__all__ = [
    "PROCESS_INDEXES",
    "Passage",
    "PassageStore",
    "Retriever",
    "knowledge_prompt",
    "relevant",
]

PROCESS_INDEXES = IndexCache()
"""The indexes of the agents this process serves."""


class StoredPassageLike(Protocol):
    @property
    def chunk_id(self) -> uuid.UUID: ...
    @property
    def item_id(self) -> uuid.UUID: ...
    @property
    def source(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def embedding(self) -> bytes: ...


class PassageStore(Protocol):
    async def revision(self, agent_id: uuid.UUID) -> Hashable: ...

    async def passages(self, agent_id: uuid.UUID, model: str) -> Sequence[StoredPassageLike]: ...


class Retriever:
    """The passages of one agent's knowledge closest to a question."""

    def __init__(
        self,
        agent_id: uuid.UUID,
        store: PassageStore,
        embedder: Embedder,
        settings: KnowledgeSettings,
        indexes: IndexCache = PROCESS_INDEXES,
        recheck_seconds: float = 2.0,
    ) -> None:
        self.agent_id = agent_id
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.indexes = indexes
        self.recheck_seconds = recheck_seconds
        """How long the agent's knowledge is taken as unchanged: a call's turns do not each
        ask the store (an item added or deleted applies within this)."""
        self._checked: tuple[float, VectorIndex] | None = None

    async def index(self) -> VectorIndex:
        """The agent's index."""
        now = time.monotonic()
        if self._checked is not None and now - self._checked[0] < self.recheck_seconds:
            return self._checked[1]
        index = await self._current_index()
        self._checked = (now, index)
        return index

    async def _current_index(self) -> VectorIndex:
        revision = await self.store.revision(self.agent_id)

        async def load() -> VectorIndex:
            rows = await self.store.passages(self.agent_id, self.embedder.model)
            refs = [PassageRef(str(r.chunk_id), str(r.item_id), r.source, r.text) for r in rows]
            vectors = [from_bytes(r.embedding) for r in rows]
            dims = vectors[0].shape[0] if vectors else 0
            return VectorIndex(refs, stack(vectors, dims))

        return await self.indexes.get((self.agent_id, self.embedder.model), revision, load)

    async def search(
        self,
        question: str,
        *,
        top_k: int | None = None,
        min_score: float | None = None,
        margin: float | None = None,
    ) -> list[Passage]:
        """The best passages for `question`, best first; those under the agent's `min_score`
        (none: the knowledge has no answer) or more than its `score_margin` under the best are
        left out."""
        index = await self.index()
        if not len(index) or not question.strip():
            return []
        query = await self.embedder.query(question)
        return self._best(index, question, query, top_k, min_score, margin)

    async def lookup(self, question: str) -> list[Passage] | None:
        """`search` with the agent's settings; None when the agent has no knowledge at all
        (the model is then told nothing about it). Once the agent has had knowledge, the
        question is embedded while the index is checked (a store query), not after it."""
        if not question.strip():
            return None if not len(await self.index()) else []
        had_knowledge = self._checked is not None and len(self._checked[1]) > 0
        early = asyncio.ensure_future(self.embedder.query(question)) if had_knowledge else None
        try:
            index = await self.index()
            if not len(index):
                return None
            query = await (early or self.embedder.query(question))
            return self._best(index, question, query)
        finally:
            if early is not None:
                early.cancel()  # a no-op once used; else the index failed or is empty

    def _best(
        self,
        index: VectorIndex,
        question: str,
        query: Vectors,
        top_k: int | None = None,
        min_score: float | None = None,
        margin: float | None = None,
    ) -> list[Passage]:
        min_score = min_score if min_score is not None else self.settings.min_score
        found = index.search(
            query,
            top_k=top_k if top_k is not None else self.settings.top_k,
            min_score=min_score,
            script=script_of(question),
            cross_language_allowance=self.settings.cross_language_allowance,
        )
        keep = relevant(found, self.settings, min_score, margin)
        return [p for p, kept in zip(found, keep, strict=True) if kept]


def relevant(
    passages: Sequence[Passage],
    settings: KnowledgeSettings,
    min_score: float | None = None,
    margin: float | None = None,
) -> list[bool]:
    """Which of a search's passages a call puts before the model: those reaching the agent's
    `min_score` and within its `score_margin` of the best, a passage in another script than
    the question counted `cross_language_allowance` higher."""
    bar = settings.min_score if min_score is None else min_score
    margin = settings.score_margin if margin is None else margin
    standing = [
        p.score + (settings.cross_language_allowance if p.cross_language else 0.0) for p in passages
    ]
    if standing:
        bar = max(bar, max(standing) - margin)
    return [s >= bar for s in standing]


def knowledge_prompt(passages: Sequence[Passage]) -> str:
    """What the model reads before the caller's question: the passages with their sources,
    or, when none is relevant, that the knowledge base has no answer."""
    if not passages:
        return (
            "The knowledge base has nothing about the caller's last words. If they ask about "
            "the business (its products, prices, hours or policies), say you do not know "
            "rather than guessing."
        )
    lines = [
        "Answer from these passages of the knowledge base when they answer the caller; "
        "do not invent facts that are not in them."
    ]
    for number, passage in enumerate(passages, start=1):
        lines.append(f"[{number}] ({passage.source}) {passage.text}")
    return "\n".join(lines)
