"""What the model is told, for every channel: the agent's instructions for one conversation,
and the knowledge put before the caller's or user's last words."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from livekit.agents import llm

from .contract import AgentConfig
from .knowledge import Passage, knowledge_prompt

PERSONALITY_LINE = "Your manner: {}."
CONTEXT_HEADING = "What is known about this conversation (given when it started):"


def instructions(config: AgentConfig, context: Mapping[str, Any] | None = None) -> str:
    """The agent's system prompt and its personality, then the conversation's own context (a
    call's `initial_context`, a chat's `context`), one `key: value` line each."""
    prompt = config.system_prompt
    if config.personality:
        prompt = f"{prompt}\n\n{PERSONALITY_LINE.format(config.personality)}"
    if not context:
        return prompt
    lines = [CONTEXT_HEADING]
    for key, value in context.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"- {key}: {shown}")
    return f"{prompt}\n\n" + "\n".join(lines)


def last_user_text(chat_ctx: llm.ChatContext) -> tuple[int, str] | None:
    """Where the last user message is in `chat_ctx`, and its text (None: no user words)."""
    for i in range(len(chat_ctx.items) - 1, -1, -1):
        item = chat_ctx.items[i]
        if getattr(item, "role", None) == "user":
            text = (item.text_content or "").strip()  # type: ignore[union-attr]
            return (i, text) if text else None
    return None


def with_knowledge(
    chat_ctx: llm.ChatContext, at: int, passages: Sequence[Passage]
) -> llm.ChatContext:
    """A copy of `chat_ctx` with the knowledge prompt just before item `at` (the last user
    message), so the conversation before it stays a prefix the LLM server has cached."""
    ctx = chat_ctx.copy()
    ctx.items.insert(at, llm.ChatMessage(role="system", content=[knowledge_prompt(passages)]))
    return ctx
