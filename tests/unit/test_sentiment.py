"""Offline sentiment: the multilingual embeddings against anchor lines, in English and Arabic,
and a conversation's overall sentiment leaning on how the caller ends."""

from __future__ import annotations

import asyncio

import pytest

from control_plane.analysis.sentiment import (
    anchors,
    label,
    message_scores,
    overall,
)

CLEAR = [
    ("Thanks a lot, you solved it quickly", "positive"),
    ("My order still hasn't arrived, this is terrible", "negative"),
    ("When will my order be delivered?", "neutral"),
]
CLEAR_ARABIC = [
    ("شكرا لك، لقد حللت مشكلتي بسرعة", "positive"),
    ("هذا سيء جدا، لم يصل طلبي حتى الآن", "negative"),
    ("أريد معرفة موعد التسليم", "neutral"),
]


def test_labels_cut_at_a_small_threshold() -> None:
    assert [label(s) for s in (0.5, 0.05, 0.049, 0.0, -0.049, -0.05, -0.9)] == [
        "positive", "positive", "neutral", "neutral", "neutral", "negative", "negative",
    ]  # fmt: skip


def test_overall_leans_on_how_the_caller_ends() -> None:
    assert overall([]) == 0.0
    angry_then_satisfied = overall([-0.8, -0.5, 0.0, 0.9])
    assert label(angry_then_satisfied) == "positive"
    assert label(overall([0.6, 0.2, -0.7, -0.8])) == "negative"
    assert overall([0.4]) == pytest.approx(0.4)


@pytest.mark.parametrize("lines", [CLEAR, CLEAR_ARABIC], ids=["english", "arabic"])
def test_clear_lines_get_their_sentiment(lines: list[tuple[str, str]]) -> None:
    scores = asyncio.run(message_scores([text for text, _ in lines]))
    assert [label(s) for s in scores] == [want for _, want in lines]
    assert all(-1.0 <= s <= 1.0 for s in scores)


def test_anchor_lines_are_balanced_across_languages() -> None:
    lines = anchors()
    assert set(lines) == {"positive", "negative", "neutral"}
    for kind, texts in lines.items():
        arabic = [t for t in texts if any("\u0600" <= c <= "\u06ff" for c in t)]
        assert len(arabic) >= 5 and len(texts) - len(arabic) >= 5, kind
