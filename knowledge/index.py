"""The search over an agent's passages: one float32 matrix per agent and embedding model, a
dot product per question (the vectors are normalised: the product is the cosine).

The passages and their vectors live in the store (transactional, shared by every process);
each process keeps the matrix of the agents it serves, rebuilt when the agent's knowledge
changes (`revision`). At 10,000 passages of 384 dimensions the matrix is 15 MB and a search
takes about a millisecond: benchmarks/RESULTS.md compares it with the store-side indexes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from .embeddings import Vectors


@dataclass(frozen=True)
class Passage:
    """A passage an index returns, with where it came from and how close it is."""

    chunk_id: str
    item_id: str
    source: str
    """The item's name: a title, a file name or a URL."""
    text: str
    score: float


@dataclass(frozen=True)
class PassageRef:
    chunk_id: str
    item_id: str
    source: str
    text: str


class VectorIndex:
    """Exact nearest passages by cosine similarity."""

    def __init__(self, refs: Sequence[PassageRef], matrix: Vectors) -> None:
        if len(refs) != (matrix.shape[0] if matrix.ndim == 2 else 0):
            raise ValueError("one vector per passage")
        self.refs = list(refs)
        self.matrix = matrix

    def __len__(self) -> int:
        return len(self.refs)

    def search(self, query: Vectors, top_k: int = 3, min_score: float = 0.0) -> list[Passage]:
        if not self.refs or top_k <= 0:
            return []
        if query.shape[-1] != self.matrix.shape[1]:
            return []  # another model's vectors: nothing comparable
        scores = self.matrix @ query
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [
            Passage(
                chunk_id=ref.chunk_id,
                item_id=ref.item_id,
                source=ref.source,
                text=ref.text,
                score=round(float(scores[i]), 4),
            )
            for i in best
            if scores[i] >= min_score
            for ref in (self.refs[i],)
        ]


class IndexCache:
    """Indexes by key (an agent and a model), each valid for one `revision` of the agent's
    knowledge; the least recently used are dropped beyond `capacity`. Safe across the event
    loops of one process (each call runs its own)."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, tuple[Hashable, VectorIndex]] = OrderedDict()
        self._lock = threading.Lock()

    async def get(
        self,
        key: Hashable,
        revision: Hashable,
        load: Callable[[], Awaitable[VectorIndex]],
    ) -> VectorIndex:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == revision:
                self._entries.move_to_end(key)
                return hit[1]
        index = await load()
        with self._lock:
            self._entries[key] = (revision, index)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return index

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def stack(vectors: Sequence[Vectors], dimensions: int) -> Vectors:
    if not vectors:
        return np.zeros((0, dimensions), dtype=np.float32)
    return np.ascontiguousarray(np.vstack(vectors), dtype=np.float32)


__all__ = ["IndexCache", "Passage", "PassageRef", "VectorIndex", "stack"]
