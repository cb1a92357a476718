"""HTTP clients for OpenAI-compatible providers, with one TLS context per process.

livekit-plugins-openai builds an `httpx` client for each STT, LLM and TTS it makes, and each
such client loads the system's CA bundle into a TLS context of its own: ~40 ms of CPU and
~1 MB of OpenSSL allocations, two or three times per call (the call's providers are built when
it starts). Those clients end in reference cycles, so the memory stayed until Python's
occasional full collection and came back fragmented: the worker's RSS grew with every call.
The clients made here share one TLS context, loaded once with the same trust store.

They also read a streamed reply's chunks faster: the SDK builds each chunk without validating
it (`construct_type`, ~100 us a chunk here, for every token of every reply), where pydantic
validates the same chunk in ~5 us; a chunk that does not validate is built the SDK's way.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpcore2
import httpx2
import openai
import pydantic
from openai.types.chat import ChatCompletionChunk

from shared.egress import EgressPolicy, httpx_client

TIMEOUT = httpx2.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0)
"""livekit-plugins-openai's own timeouts for the clients it makes."""
LIMITS = httpx2.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120)
"""Theirs too: enough for one call's requests. A client shared by many conversations at once
(the text chat keeps one per agent) needs more: `streams`."""


def limits(streams: int | None = None) -> httpx2.Limits:
    """At most `streams` requests at once (`None`: livekit-plugins-openai's 50). A request
    waiting for a free connection fails after the pool timeout."""
    if streams is None:
        return LIMITS
    return httpx2.Limits(
        max_connections=streams,
        max_keepalive_connections=min(streams, 100),
        keepalive_expiry=LIMITS.keepalive_expiry,
    )


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context for provider connections (the trust store `httpx` would
    load for each client). An `SSLContext` is safe to share between threads and loops."""
    return httpcore2.default_ssl_context()


def openai_client(
    *,
    api_key: str,
    base_url: str | None,
    egress: EgressPolicy | None = None,
    streams: int | None = None,
) -> openai.AsyncClient:
    """An OpenAI SDK client as livekit-plugins-openai makes them (no SDK retries: the
    framework's connect options retry), on the shared TLS context. With `egress` (for a base
    URL a tenant chose), it connects only where the policy allows and follows no redirect.
    `streams`: see `limits`."""
    if egress is None:
        http_client = httpx2.AsyncClient(
            verify=tls_context(), timeout=TIMEOUT, follow_redirects=True, limits=limits(streams)
        )
    else:
        http_client = httpx_client(
            egress,
            http=httpx2,
            core=httpcore2,
            transport_options={"verify": tls_context(), "limits": limits(streams)},
            timeout=TIMEOUT,
        )
    return ProviderClient(
        api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client
    )


class ProviderClient(openai.AsyncClient):
    """The SDK's client, reading streamed chat chunks with pydantic's validation (see the
    module's text)."""

    def _process_response_data(
        self, *, data: object, cast_to: type[Any], response: httpx2.Response
    ) -> Any:
        if cast_to is ChatCompletionChunk and isinstance(data, dict):
            try:
                return ChatCompletionChunk.model_validate(data)
            except pydantic.ValidationError:
                pass  # a server's own shape: built leniently, as the SDK does
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)
