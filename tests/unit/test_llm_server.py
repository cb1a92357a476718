"""The embedded LLM server's prompt cache: it holds what it counts, and a cached prompt state
restored in place of another conversation answers as the first reading did."""

from __future__ import annotations

import pytest
from llama_cpp import Llama

from pipelines.llm.serve import CompactRAMCache
from pipelines.llm.server import llama_server_command
from pipelines.models import llm_gguf_path

MIB = 1024 * 1024
SHOP = [
    {"role": "system", "content": "You are the assistant of a shop in Leeds that sells lamps."},
    {"role": "user", "content": "What do you sell, and where is the shop?"},
]
WEATHER = [
    {"role": "system", "content": "You talk about the weather in Norway, briefly."},
    {"role": "user", "content": "Is it cold in Oslo in January?"},
]


@pytest.fixture(scope="module")
def model() -> Llama:
    return Llama(str(llm_gguf_path()), n_ctx=512, n_threads=1, logits_all=False, verbose=False)


def answer(model: Llama, messages: list[dict[str, str]]) -> str:
    out = model.create_chat_completion(messages, max_tokens=12, temperature=0.0)  # type: ignore[arg-type]
    return str(out["choices"][0]["message"]["content"])  # type: ignore[index]


def test_a_cached_state_keeps_one_logits_row_and_answers_as_before(model: Llama):
    cache = CompactRAMCache(capacity_bytes=64 * MIB)
    model.set_cache(cache)
    try:
        first = answer(model, SHOP)
        answer(model, WEATHER)  # the model's context now holds another conversation
        again = answer(model, SHOP)  # read from the cache, not from scratch
    finally:
        model.set_cache(None)
    assert again == first
    states = list(cache.cache_state.values())
    assert len(states) >= 2
    # llama-cpp-python's own cache kept a copy of the logits buffer per state (up to 512 rows
    # of the vocabulary, ~100 MB for this model) that it did not count.
    assert all(s.scores.shape[0] == 1 for s in states)


def test_the_server_runs_with_the_compact_cache_and_without_prompt_logits():
    cmd = llama_server_command(host="127.0.0.1", port=1, cache_mib=128)
    assert cmd[cmd.index("-m") + 1] == "pipelines.llm.serve"
    assert cmd[cmd.index("--cache_size") + 1] == str(128 * MIB)
    assert cmd[cmd.index("--logits_all") + 1] == "false"
    off = llama_server_command(host="127.0.0.1", port=1, cache_mib=0)
    assert off[off.index("--cache") + 1] == "false"
