"""The embedder an agent's knowledge settings name: the packaged model, or an
OpenAI-compatible endpoint through the providers' HTTP client."""

from __future__ import annotations

from agent.contract import KnowledgeSettings
from knowledge.embeddings import LOCAL_EMBEDDINGS, Embedder, LocalEmbedder, OpenAIEmbedder
from shared.egress import EgressPolicy

from .http import openai_client

OPENAI_BASE_URL = "https://api.openai.com/v1"


def build_embedder(
    settings: KnowledgeSettings,
    *,
    api_key: str | None = None,
    egress: EgressPolicy | None = None,
    default_base_url: str = OPENAI_BASE_URL,
) -> Embedder:
    """`egress` guards the connections of a base URL the tenant chose; without one, the
    deployment's OpenAI endpoint (`default_base_url`) is used."""
    if settings.embedding_model == LOCAL_EMBEDDINGS:
        return LocalEmbedder()
    base_url = settings.embedding_base_url
    client = openai_client(
        api_key=api_key or "no-key",
        base_url=base_url or default_base_url,
        egress=egress if base_url else None,
    )
    return OpenAIEmbedder(client, settings.embedding_model)
