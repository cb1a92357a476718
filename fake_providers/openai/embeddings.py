"""The fake OpenAI's embeddings route: `POST /v1/embeddings` as OpenAI documents it (a string
or a list of strings in, one vector per input out, `float` or `base64` encoded).

The vectors are a hashed bag of words (each lower-cased word adds to a few of `dimensions`
buckets), normalised: deterministic, and texts sharing words score higher, so retrieval
through this fake behaves like retrieval through a real model on simple questions."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import numpy as np
from aiohttp import web

from fake_providers.common import Fault, RequestRecord
from fake_providers.openai.core import OpenAICore

DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_WORD = re.compile(r"\w+", re.UNICODE)


def bag_of_words(text: str, dimensions: int) -> np.ndarray:
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        for i in range(2):
            bucket = int.from_bytes(digest[4 * i : 4 * i + 4], "little") % dimensions
            vector[bucket] += 1.0 if i == 0 else 0.5
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


class EmbeddingRoutes(OpenAICore):
    """``POST /v1/embeddings`` (route ``embeddings``)."""

    async def _embeddings(self, request: web.Request, record: RequestRecord, fault: Fault):
        try:
            body = await request.json()
        except ValueError:
            return self._bad_request("We could not parse the JSON body of your request.")
        record.body = body
        if not isinstance(body, dict):
            return self._bad_request("The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._bad_request("you must provide a model parameter", param="model")
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(i, str) for i in inputs)
        ):
            return self._bad_request(
                "'input' must be a non-empty string or array of strings", param="input"
            )
        if any(not text for text in inputs):
            return self._bad_request("'input' cannot contain an empty string", param="input")
        dimensions = body.get("dimensions") or DIMENSIONS.get(model, 256)
        encoding = body.get("encoding_format", "float")
        data: list[dict[str, Any]] = []
        for index, text in enumerate(inputs):
            vector = bag_of_words(text, int(dimensions))
            embedding: Any = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if encoding == "base64"
                else [float(x) for x in vector]
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(_WORD.findall(text)) for text in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
