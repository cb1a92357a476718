"""`python -m pipelines.llm.serve ...`: llama-cpp-python's OpenAI-compatible server (same
arguments as `python -m llama_cpp.server`) with a prompt cache whose size is what it holds.

llama-cpp-python saves, with each cached prompt state, a copy of the model's logits buffer (up
to 512 rows of the vocabulary, ~100 MB for SmolLM2), which its RAM cache does not count: a
256 MiB cache grew the server past 3 GB on three calls. Without `--logits_all` those rows are
never written (sampling reads the logits inside llama.cpp), so a state keeps one row, which
`load_state` spreads over the rows it restores as it did the copy's unwritten contents.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp
from llama_cpp.llama import LlamaState


class CompactRAMCache(llama_cpp.LlamaRAMCache):
    """`LlamaRAMCache` keeping one row of each state's logits buffer."""

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        if value.scores.ndim == 2 and value.scores.shape[0] > 1:
            value.scores = value.scores[-1:].copy()
        super().__setitem__(key, value)


def main() -> None:
    from llama_cpp.server.__main__ import main as serve

    llama_cpp.LlamaRAMCache = CompactRAMCache  # type: ignore[misc]  # read when the model loads
    serve()


if __name__ == "__main__":
    main()
