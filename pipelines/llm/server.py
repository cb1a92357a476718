"""The embedded LLM: llama-cpp-python's OpenAI-compatible server with a packaged GGUF model."""

from __future__ import annotations

import sys
from pathlib import Path

from ..models import llm_gguf_path

MIB = 1024 * 1024


def llama_server_command(
    *,
    host: str,
    port: int,
    model_path: str | Path | None = None,
    n_threads: int = 2,
    n_ctx: int = 2048,
    model_alias: str = "local",
    cache_mib: int = 2048,
) -> list[str]:
    """Command line that serves the GGUF model at http://host:port/v1 (`pipelines.llm.serve`:
    llama-cpp-python's server with a prompt cache of `cache_mib` that holds no more than that).
    """
    path = llm_gguf_path(model_path)
    return [
        sys.executable,
        "-m",
        "pipelines.llm.serve",
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
        # Calls sharing the server each find another call's conversation in the model's
        # context: the cache keeps their states, so a turn reads only its new words. Three
        # calls of 8 turns: first token p50 0.36 s with 2 GiB, 3.2 s with 256 MiB, 5.6 s with
        # none, the server 0.94 / 0.91 / 0.40 GB (benchmarks/llm_cache.py).
        "--cache",
        "true" if cache_mib > 0 else "false",
        "--cache_size",
        str(cache_mib * MIB),
        # Logits of every prompt token are only needed for `logprobs`; computing and keeping
        # them made prefill ~13% slower and the server ~240 MB larger.
        "--logits_all",
        "false",
        "--verbose",
        "false",
        # One completion at a time: by default a request arriving while another streams ends
        # that one at once, and a call whose request overlaps another call's got an empty
        # reply (two calls at once, on one worker or on several). Queued, both are answered.
        "--interrupt_requests",
        "false",
    ]
