"""The sentiment of a caller's messages, offline: a score in [-1, 1] per message, a label
(`positive`, `negative`, `neutral`) and the conversation's overall sentiment.

Every language goes through the packaged multilingual-e5-small: a message is compared with
short anchor lines of known sentiment in English and Arabic (`sentiment_anchors.json`); its
score is the mean similarity of its nearest positive anchors minus that of its nearest negative
ones, scaled into [-1, 1] (damped when neutral anchors are nearer still). On the labelled set
(`benchmarks/analysis_set/`, 80 calls) it labelled 64% of English caller messages right
against VADER's 51% (VADER reads "thanks" and "please" as praise), and got the sign of 81% of
English and 82% of Arabic calls that had one; VADER 66%.

A conversation's overall sentiment weighs later messages more (the n-th of N counts n): a
caller who was angry and ends satisfied ends positive, as a person reading the call would say.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Literal

import numpy as np

from knowledge.embeddings import Embedder, LocalEmbedder

Label = Literal["positive", "negative", "neutral"]
CUT = 0.05
"""|score| under this is neutral."""
NEAREST = 3
"""Anchors of each sentiment a message is compared with (its most similar ones)."""
SCALE = 12.0
"""Similarity differences are small (cosines of one model sit close together): this maps
the usual range onto [-1, 1] before the clip."""


def label(score: float) -> Label:
    if score >= CUT:
        return "positive"
    if score <= -CUT:
        return "negative"
    return "neutral"


def overall(scores: Sequence[float]) -> float:
    """The conversation's sentiment from its messages' scores, later ones weighing more."""
    if not scores:
        return 0.0
    weights = np.arange(1, len(scores) + 1, dtype=np.float64)
    return float(np.dot(weights, np.asarray(scores, dtype=np.float64)) / weights.sum())


@cache
def anchors() -> dict[str, list[str]]:
    data = json.loads(
        resources.files(__package__).joinpath("sentiment_anchors.json").read_text("utf-8")
    )
    return {kind: list(data[kind]) for kind in ("positive", "negative", "neutral")}


class EmbeddingSentiment:
    """Sentiment by nearness to anchor lines, for any language the embedding model reads."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder = embedder or LocalEmbedder()
        self._anchors: dict[str, np.ndarray] | None = None

    async def _anchor_vectors(self) -> dict[str, np.ndarray]:
        if self._anchors is None:
            self._anchors = {
                kind: np.asarray(await self.embedder.passages(lines))
                for kind, lines in anchors().items()
            }
        return self._anchors

    async def scores(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        vectors = await self._anchor_vectors()
        out = []
        for text in texts:
            query = np.asarray(await self.embedder.query(text))
            near = {
                kind: float(np.sort(matrix @ query)[-NEAREST:].mean())
                for kind, matrix in vectors.items()
            }
            # neutral anchors compete too: a plain request nearest to them scores near zero
            lean = near["positive"] - near["negative"]
            calm = near["neutral"] - max(near["positive"], near["negative"])
            score = lean if calm < 0 else lean * 0.25
            out.append(float(np.clip(score * SCALE, -1.0, 1.0)))
        return out


async def message_scores(
    texts: Sequence[str], embedding: EmbeddingSentiment | None = None
) -> list[float]:
    """A score per message, in any language the embedding model reads."""
    return await (embedding or EmbeddingSentiment()).scores(texts)
