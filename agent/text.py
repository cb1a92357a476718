"""A turn of a text conversation, answered as the agent answers on a call: the same
instructions (`prompt.instructions`), the same knowledge before the user's last words
(`prompt.with_knowledge`), the same tools (`tools.build_tools`, MCP toolsets), through the
same livekit-agents LLM (the provider chain with its fallback, `pipelines.build_llm`).

`reply` streams the answer's text as the model writes it; when the model calls tools, they
run (as livekit-agents runs them on a call) and the model answers again with their results,
at most `max_rounds` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from livekit.agents import llm
from livekit.agents.llm.utils import execute_function_call

from .knowledge import Passage, Retriever
from .prompt import last_user_text, with_knowledge

logger = logging.getLogger("agent.text")

MAX_TOOL_ROUNDS = 4
"""Model requests of one reply at most: tool results answered, then tools again, ..."""


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text, as the model wrote it."""

    text: str


@dataclass(frozen=True)
class ToolRan:
    """A tool the model called, and how it went."""

    name: str
    arguments: str
    output: str
    ok: bool
    at: float
    """Unix time it finished."""


@dataclass(frozen=True)
class Knowledge:
    """The passages the user's last words retrieved (none: nothing relevant)."""

    passages: Sequence[Passage]


ReplyEvent = TextDelta | ToolRan | Knowledge


async def reply(
    model: llm.LLM,
    chat_ctx: llm.ChatContext,
    tools: Sequence[llm.Tool | llm.Toolset] = (),
    *,
    knowledge: Retriever | None = None,
    max_rounds: int = MAX_TOOL_ROUNDS,
) -> AsyncIterator[ReplyEvent]:
    """The agent's answer to the last user message of `chat_ctx` (which holds its
    instructions and the conversation so far), as it is written. A failed search answers
    without knowledge; an error of the model raises (the caller decides what the user sees).
    """
    ctx = chat_ctx
    if knowledge is not None:
        found = last_user_text(chat_ctx)
        if found is not None:
            at, question = found
            try:
                passages = await knowledge.lookup(question)
            except Exception as exc:  # an answer without knowledge beats no answer
                logger.warning("knowledge search failed: %s", exc)
            else:
                if passages is not None:
                    yield Knowledge(passages)
                    ctx = with_knowledge(chat_ctx, at, passages)
    tool_ctx = llm.ToolContext(list(tools))
    for _ in range(max_rounds):
        calls: list[llm.FunctionToolCall] = []
        async with model.chat(chat_ctx=ctx, tools=tool_ctx.flatten()) as stream:
            async for chunk in stream:
                if chunk.delta is None:
                    continue
                if chunk.delta.content:
                    yield TextDelta(chunk.delta.content)
                calls.extend(chunk.delta.tool_calls or [])
        if not calls:
            return
        ctx = ctx.copy()
        for call in calls:
            result = await execute_function_call(call, tool_ctx)
            out = result.fnc_call_out
            yield ToolRan(
                name=call.name,
                arguments=call.arguments or "{}",
                output="" if out is None else out.output,
                ok=out is not None and not out.is_error,
                at=time.time(),
            )
            ctx.items.append(result.fnc_call)
            if out is not None:
                ctx.items.append(out)
    logger.warning("reply stopped after %d rounds of tool calls", max_rounds)


def history(
    instructions: str, messages: Sequence[tuple[str, str]], *, question: str | None = None
) -> llm.ChatContext:
    """A chat context: the instructions, then `(role, text)` messages (`user` or
    `assistant`), then `question` as the last user message."""
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=instructions)
    for role, text in messages:
        if role in ("user", "assistant") and text:
            ctx.add_message(role=role, content=text)  # type: ignore[arg-type]
    if question:
        ctx.add_message(role="user", content=question)
    return ctx
