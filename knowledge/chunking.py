"""Text to passages: paragraphs packed up to a size, long paragraphs cut at sentence ends.

A passage is what a question retrieves and what the LLM reads, so it is short (the embedded
model reads ~200 tokens a second): `max_chars` 500 is about 120 tokens. Each passage after
the first of a long paragraph repeats the sentence before it, so a fact split across the cut
is still whole in one passage.
"""

from __future__ import annotations

import re

MAX_CHARS = 500

_PARAGRAPHS = re.compile(r"\n\s*\n")
# A sentence ends at . ! ? (and their Arabic / CJK forms) followed by space, or at a newline.
_SENTENCES = re.compile(r"(?<=[.!?؟。！？])\s+|\n+")
_SPACES = re.compile(r"[ \t\f\v\r]+")


def _clean(text: str) -> str:
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


def _cut(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than a passage, cut at word boundaries."""
    pieces: list[str] = []
    current = ""
    for word in sentence.split(" "):
        while len(word) > max_chars:  # no spaces at all (a URL, a code): hard cut
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}".strip()
        if len(candidate) > max_chars and current:
            pieces.append(current)
            current = word
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def chunk_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """Passages of at most `max_chars` characters, in document order, none empty."""
    chunks: list[str] = []
    current = ""
    for paragraph in _PARAGRAPHS.split(_clean(text)):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) <= max_chars:
            current = candidate
            continue
        if current:
            chunks.append(current)
            current = ""
        if len(paragraph) <= max_chars:
            current = paragraph
            continue
        sentences = [s for part in _SENTENCES.split(paragraph) if (s := part.strip())]
        pieces = [piece for s in sentences for piece in _cut(s, max_chars)]
        window: list[str] = []
        for piece in pieces:
            if window and len(" ".join([*window, piece])) > max_chars:
                chunks.append(" ".join(window))
                overlap = window[-1]
                window = [overlap] if len(overlap) + 1 + len(piece) <= max_chars else []
            window.append(piece)
        if window:
            current = " ".join(window)
    if current:
        chunks.append(current)
    return chunks
