"""The embedded LLM: llama-cpp-python's OpenAI-compatible server with a packaged GGUF model."""

from __future__ import annotations

import sys
from pathlib import Path

from ..models import llm_gguf_path


def llama_server_command(
    *,
    host: str,
    port: int,
    model_path: str | Path | None = None,
    n_threads: int = 2,
    n_ctx: int = 2048,
    model_alias: str = "local",
) -> list[str]:
    """Command line that serves the GGUF model at http://host:port/v1."""
    path = llm_gguf_path(model_path)
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        model_alias,
        "--host",
        host,
        "--port",
        str(port),
        "--n_threads",
        str(n_threads),
        "--n_ctx",
        str(n_ctx),
        # Conversation prefixes repeat turn after turn; the cache skips re-reading them.
        "--cache",
        "true",
        "--verbose",
        "false",
        # One completion at a time: by default a request arriving while another streams ends
        # that one at once, and a call whose request overlaps another call's got an empty
        # reply (two calls at once, on one worker or on several). Queued, both are answered.
        "--interrupt_requests",
        "false",
    ]
