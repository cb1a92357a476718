"""Chat LLM over any OpenAI-compatible endpoint (OpenAI, the embedded llama.cpp server, ...).

This is livekit-plugins-openai's `LLM` (a livekit-agents `llm.LLM`), so the framework's
streaming, tool-call and metrics machinery runs unchanged; only the base URL differs.
"""

from __future__ import annotations

from livekit.plugins import openai as lk_openai

from shared.egress import EgressPolicy

from ..http import openai_client

LOCAL_API_KEY = "local-no-key"


def build_openai_compatible_llm(
    *,
    base_url: str,
    model: str,
    temperature: float,
    max_tokens: int,
    api_key: str | None = None,
    egress: EgressPolicy | None = None,
    streams: int | None = None,
) -> lk_openai.LLM:
    """An LLM client for `base_url`; the key may be empty for local servers. `egress` guards
    the connections of a base URL a tenant chose; `streams` bounds the replies it streams at
    once (`pipelines.http.limits`)."""
    return lk_openai.LLM(
        model=model,
        # No SDK retries (the framework's APIConnectOptions retry), on the shared TLS context.
        client=openai_client(
            api_key=api_key or LOCAL_API_KEY, base_url=base_url, egress=egress, streams=streams
        ),
        temperature=temperature,
        # `max_tokens` is understood by every OpenAI-compatible server, including llama.cpp.
        extra_body={"max_tokens": max_tokens},
    )
