"""The search over an agent's passages: one float32 matrix per agent and embedding model, a
dot product per question (the vectors are normalised: the product is the cosine).

The passages and their vectors live in the store (transactional, shared by every process);
each process keeps the matrix of the agents it serves, rebuilt when the agent's knowledge
changes (`revision`). At 10,000 passages of 384 dimensions the matrix is 15 MB and a search
takes about a millisecond: benchmarks/RESULTS.md compares it with the store-side indexes.

Knowledge in several languages: a multilingual model scores text in the question's language
higher, whatever it says (an Arabic question about a shop's hours finds a clinic's Arabic
hours before the shop's English ones). When an agent's passages are in more than one script,
the ranking removes each script's mean vector from its passages, and the question's script's
from the question, before comparing them (the language's common direction, not the topic);
the scores reported stay the plain cosines. benchmarks/RESULTS.md measures what it changes.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .embeddings import Vectors

_SCRIPT_RANGES = {
    "latin": ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF)),
    "arabic": ((0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "hebrew": ((0x590, 0x5FF),),
    "cyrillic": ((0x400, 0x52F),),
    "greek": ((0x370, 0x3FF),),
    "devanagari": ((0x900, 0x97F),),
    "thai": ((0xE00, 0xE7F),),
    "hangul": ((0x1100, 0x11FF), (0xAC00, 0xD7AF)),
    "cjk": ((0x3040, 0x30FF), (0x4E00, 0x9FFF)),
}
_SCRIPT_NAMES = list(_SCRIPT_RANGES)
_RANGES = sorted(
    (low, high, _SCRIPT_NAMES.index(name))
    for name, ranges in _SCRIPT_RANGES.items()
    for low, high in ranges
)
_BOUNDS = np.array([edge for low, high, _ in _RANGES for edge in (low, high + 1)])
_NONE = len(_SCRIPT_NAMES)
_SCRIPT_AFTER_EDGE = np.array(
    [_NONE] + [code for *_, script in _RANGES for code in (script, _NONE)], dtype=np.int32
)
"""By the index of the last range edge at or below a code point, plus one: its script, or
`_NONE` between ranges."""


def scripts_of(texts: Sequence[str], sample: int = 300) -> list[str]:
    """The writing system most of each text's first `sample` letters are in (`latin`,
    `arabic`, ...; `other` when none): what tells the languages of a knowledge base apart,
    cheaply (10,000 passages in ~30 ms)."""
    heads = [text[:sample] for text in texts]
    codes = np.frombuffer("".join(heads).encode("utf-32-le"), dtype=np.uint32)
    owner = np.repeat(np.arange(len(heads), dtype=np.int32), [len(h) for h in heads])
    script = _SCRIPT_AFTER_EDGE[np.searchsorted(_BOUNDS, codes, side="right")]
    counts = np.bincount(owner * (_NONE + 1) + script, minlength=len(heads) * (_NONE + 1))
    counts = counts.reshape(len(heads), _NONE + 1)[:, :_NONE]
    best = counts.argmax(axis=1)
    return [_SCRIPT_NAMES[b] if counts[i, b] else "other" for i, b in enumerate(best.tolist())]


def script_of(text: str) -> str:
    return scripts_of([text])[0]


@dataclass(frozen=True)
class Passage:
    """A passage an index returns, with where it came from and how close it is."""

    chunk_id: str
    item_id: str
    source: str
    """The item's name: a title, a file name or a URL."""
    text: str
    score: float
    """The cosine similarity of the passage and the question."""
    cross_language: bool = False
    """The passage is written in another script than the question (an English passage for an
    Arabic question): the model scores such an answer lower than one in the question's
    language, and the agent's bar is lowered by its `cross_language_allowance`."""


@dataclass(frozen=True)
class PassageRef:
    chunk_id: str
    item_id: str
    source: str
    text: str


class VectorIndex:
    """Exact nearest passages by cosine similarity; with passages in several scripts, ranked
    with each script's mean vector removed (see the module's docstring)."""

    MIN_SCRIPT_PASSAGES = 8
    """Passages a script needs for its own mean; fewer are centred on the mean of all."""

    def __init__(self, refs: Sequence[PassageRef], matrix: Vectors) -> None:
        if len(refs) != (matrix.shape[0] if matrix.ndim == 2 else 0):
            raise ValueError("one vector per passage")
        self.refs = list(refs)
        self.matrix = matrix
        self.scripts = scripts_of([ref.text for ref in self.refs])
        self._mean_rows: dict[str, int] = {}
        """Each script's row in `_mean_matrix` (`*`: the mean of all passages)."""
        self._mean_matrix: Vectors | None = None
        self._centred_norms: Vectors | None = None
        self._mean_of_passage: npt.NDArray[np.intp] | None = None
        counts = Counter(self.scripts)
        if len(counts) > 1:
            self._centre(counts)

    def _centre(self, counts: Counter[str]) -> None:
        names = ["*"] + [s for s, n in counts.items() if n >= self.MIN_SCRIPT_PASSAGES]
        rows = {name: i for i, name in enumerate(names)}
        owner = np.array([rows.get(s, 0) for s in self.scripts], dtype=np.intp)
        means = np.zeros((len(names), self.matrix.shape[1]), dtype=np.float32)
        means[0] = self.matrix.mean(axis=0)
        for row in range(1, len(names)):
            means[row] = self.matrix[owner == row].mean(axis=0)
        norms = np.linalg.norm(self.matrix - means[owner], axis=1)
        norms[norms == 0] = 1.0
        self._mean_rows = rows
        self._mean_matrix = means
        self._mean_of_passage = owner
        self._centred_norms = norms.astype(np.float32)

    def __len__(self) -> int:
        return len(self.refs)

    def _ranking_scores(self, query: Vectors, scores: Vectors, script: str | None) -> Vectors:
        if self._mean_matrix is None or self._centred_norms is None:
            return scores
        centred = query - self._mean_matrix[self._mean_rows.get(script or "*", 0)]
        length = float(np.linalg.norm(centred))
        if length == 0:
            return scores
        centred /= length
        # ((p - mean_p) . q_c) / |p - mean_p|, without a second copy of the matrix
        offsets = (self._mean_matrix @ centred)[self._mean_of_passage]
        ranking = (self.matrix @ centred - offsets) / self._centred_norms
        return ranking.astype(np.float32, copy=False)

    def search(
        self,
        query: Vectors,
        top_k: int = 3,
        min_score: float = 0.0,
        *,
        script: str | None = None,
        cross_language_allowance: float = 0.0,
    ) -> list[Passage]:
        """The `top_k` best passages for the question's vector, best first, those whose score
        is under `min_score` left out (`cross_language_allowance` lower for a passage in
        another script than the question's `script`, when it is given)."""
        if not self.refs or top_k <= 0:
            return []
        if query.shape[-1] != self.matrix.shape[1]:
            return []  # another model's vectors: nothing comparable
        scores = self.matrix @ query
        ranking = self._ranking_scores(query, scores, script)
        k = min(top_k, len(scores))
        best = np.argpartition(-ranking, k - 1)[:k]
        best = best[np.argsort(-ranking[best])]
        found = []
        for i in best:
            ref = self.refs[i]
            cross = script is not None and self.scripts[i] != script
            score = float(scores[i])
            if score + (cross_language_allowance if cross else 0.0) < min_score:
                continue
            found.append(
                Passage(ref.chunk_id, ref.item_id, ref.source, ref.text, round(score, 4), cross)
            )
        return found


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


__all__ = ["IndexCache", "Passage", "PassageRef", "VectorIndex", "script_of", "scripts_of", "stack"]
