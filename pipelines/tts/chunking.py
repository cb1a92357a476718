"""Split streamed LLM text into the pieces a sentence-at-a-time TTS synthesises.

The first audio of a reply can only start once its first piece is complete, so pieces end at
sentence punctuation and also at clause punctuation (comma, semicolon, colon) once the clause
has a few words: "The capital of France is Paris, a city famous for ..." starts speaking after
"Paris," instead of after the whole sentence. Arabic punctuation (؟ ، ؛) counts too; the period
of an abbreviation or initial ("Dr. Smith", "e.g.", "J. Smith") does not end a sentence.
Streaming reuses livekit-agents' `BufferedSentenceStream`.
"""

from __future__ import annotations

import functools
import re

from livekit.agents import tokenize
from livekit.agents.tokenize import token_stream
from livekit.agents.tokenize.tokenizer import SentenceStream

_SENTENCE_END = re.compile(r"[.!?؟…]+[\"')\]]*(?=\s)")
_ABBREVIATION = re.compile(
    r"(?:^|(?<=\s))(?:mr|mrs|ms|dr|prof|st|sr|jr|vs|etc|approx|no|e\.g|i\.e|a\.m|p\.m"
    r"|[A-Za-z])\.$",
    re.IGNORECASE,
)
"""Words whose period is not a sentence end ("Dr. Smith", "e.g. bread", "J. Smith")."""
_CLAUSE_END = re.compile(r"[,;:،؛]+(?=\s)")


def split_chunks(text: str, *, min_clause_words: int | None = 4) -> list[tuple[str, int, int]]:
    """Pieces of `text` as (piece, start, end); the last piece may be unfinished. A clause
    ends a piece once it has `min_clause_words` words; with None, only sentences do."""
    pieces: list[tuple[str, int, int]] = []
    start = 0
    boundaries = sorted(
        [
            (m.end(), "sentence")
            for m in _SENTENCE_END.finditer(text)
            if not _ABBREVIATION.search(text[max(0, m.end() - 12) : m.end()])
        ]
        + [(m.end(), "clause") for m in _CLAUSE_END.finditer(text)]
    )
    for end, kind in boundaries:
        if end <= start:
            continue
        piece = text[start:end].strip()
        if not piece:
            continue
        if kind == "clause" and (min_clause_words is None or len(piece.split()) < min_clause_words):
            continue
        pieces.append((piece, start, end))
        start = end
    rest = text[start:].strip()
    if rest:
        pieces.append((rest, start, len(text)))
    return pieces


class SpeechChunker(tokenize.SentenceTokenizer):
    """A livekit `SentenceTokenizer` that also cuts at clauses, for low first-audio latency."""

    def __init__(self, *, min_clause_words: int | None = 4, min_chunk_chars: int = 2) -> None:
        self._split = functools.partial(split_chunks, min_clause_words=min_clause_words)
        self._min_chunk_chars = min_chunk_chars

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return [piece for piece, _, _ in self._split(text)]

    def stream(self, *, language: str | None = None) -> SentenceStream:
        return token_stream.BufferedSentenceStream(
            tokenizer=self._split,
            min_token_len=self._min_chunk_chars,
            min_ctx_len=self._min_chunk_chars,
        )
