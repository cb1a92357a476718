"""What both channels tell the model: the instructions with a conversation's context, and the
knowledge just before the last user words."""

from __future__ import annotations

from agent.contract import AgentConfig
from agent.knowledge import Passage
from agent.prompt import (
    CONTEXT_HEADING,
    PERSONALITY_LINE,
    instructions,
    last_user_text,
    with_knowledge,
)
from agent.text import history


def test_the_context_follows_the_system_prompt_one_line_per_key():
    config = AgentConfig(system_prompt="You answer for the shop.")
    assert instructions(config) == "You answer for the shop."
    assert instructions(config, {}) == "You answer for the shop."
    told = instructions(config, {"user_name": "John Doe", "orders": [1, 2], "city": "القاهرة"})
    assert told.splitlines() == [
        "You answer for the shop.",
        "",
        CONTEXT_HEADING,
        "- user_name: John Doe",
        "- orders: [1, 2]",
        "- city: القاهرة",
    ]


def test_knowledge_goes_just_before_the_last_user_words():
    ctx = history(
        "Be brief.",
        [("user", "Hi"), ("assistant", "Hello!"), ("tool", "ignored"), ("user", "")],
        question="How long do returns take?",
    )
    assert [i.role for i in ctx.items] == ["system", "user", "assistant", "user"]
    at, question = last_user_text(ctx) or (None, None)
    assert (at, question) == (3, "How long do returns take?")
    passage = Passage("c1", "i1", "returns", "Within 30 days.", 0.9)
    told = with_knowledge(ctx, at, [passage])
    assert [i.role for i in told.items] == ["system", "user", "assistant", "system", "user"]
    assert "(returns) Within 30 days." in told.items[3].text_content
    assert len(ctx.items) == 4  # the conversation itself is unchanged
    assert last_user_text(history("Be brief.", [])) is None


def test_the_personality_follows_the_system_prompt_before_the_context():
    config = AgentConfig(system_prompt="You answer for the shop.", personality="professional")
    told = instructions(config, {"user_name": "John Doe"})
    assert told.splitlines() == [
        "You answer for the shop.",
        "",
        PERSONALITY_LINE.format("professional"),
        "",
        CONTEXT_HEADING,
        "- user_name: John Doe",
    ]
