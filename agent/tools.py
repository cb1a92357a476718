"""The tools an agent may call, for every channel: its HTTP tools, the built-in ones
(`end_call`, `transfer_call`, `search_knowledge`), as livekit-agents function tools.

A tool that fails or times out raises `ToolError`: the model reads why and tells the caller,
and the conversation goes on. What each channel does for the built-ins (hang up, hand over,
speak a filler while a slow tool runs) comes in `ToolHooks`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from livekit.agents import llm
from livekit.agents.llm import ToolError, function_tool

from shared.egress import EgressPolicy, httpx_client

from .contract import AgentConfig, BuiltinTool, HttpTool
from .knowledge import Retriever

logger = logging.getLogger("agent.tools")

MAX_RESULT_CHARS = 4000
"""What the model reads of a tool's answer at most (a spoken reply needs little)."""

BUILTIN_DESCRIPTIONS = {
    "end_call": (
        "End the call. Use it when the caller says goodbye or asks to hang up, or when the "
        "conversation is finished."
    ),
    "transfer_call": (
        "Transfer the caller to a person. Use it when the caller asks for a human, or when "
        "you cannot help."
    ),
    "search_knowledge": (
        "Search the business's knowledge base (policies, products, prices, opening hours) "
        "for the answer to a question."
    ),
}

FILLERS = {
    "en": "One moment, please.",
    "ar": "لحظة من فضلك.",
    "de": "Einen Moment, bitte.",
    "es": "Un momento, por favor.",
    "fr": "Un instant, s'il vous plaît.",
    "it": "Un momento, per favore.",
    "pt": "Um momento, por favor.",
}


def tool_source(name: str, config: AgentConfig | None) -> str:
    """Where a tool the model called comes from: `http`, `builtin` or `mcp`."""
    if config is not None:
        for tool in config.tools:
            if tool.type == "http" and getattr(tool, "name", None) == name:
                return "http"
            if tool.type == name:
                return "builtin"
    return "mcp"


def tool_use(
    *,
    name: str,
    config: AgentConfig | None,
    ok: bool,
    arguments: str | None,
    result: str | None,
    at: float,
    keep_content: bool,
) -> dict[str, Any]:
    """One tool call as a conversation's record keeps it (its `metadata.tools_used`, the
    `tool.executed` / `tool.failed` webhooks): arguments and result only when the agent's
    privacy keeps content."""
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        parsed = {"raw": arguments}
    if not isinstance(parsed, dict):
        parsed = {"value": parsed}
    return {
        "name": name,
        "source": tool_source(name, config),
        "status": "success" if ok else "failed",
        "arguments": parsed if keep_content else None,
        "result": (result or "")[:MAX_RESULT_CHARS] if keep_content else None,
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
    }


def filler_line(config: AgentConfig) -> str:
    if config.tool_settings.filler:
        return config.tool_settings.filler
    return FILLERS.get(config.language.split("-")[0].lower(), FILLERS["en"])


@dataclass
class ToolHooks:
    """What the channel does for the tools."""

    end_call: Callable[[str], Awaitable[None]] | None = None
    """Say goodbye and hang up, with the call's end reason."""
    transfer: Callable[[str | None, str], Awaitable[None]] | None = None
    """Hand the caller over to `transfer_to` (None: the agent's default), for a reason."""
    filler: Callable[[], None] | None = None
    """Say the filler line (a tool is slow)."""
    retriever: Retriever | None = None


def build_tools(config: AgentConfig, hooks: ToolHooks, egress: EgressPolicy) -> list[llm.Tool]:
    """The agent's tools (`config.tools`), ready for an `Agent`."""
    tools: list[llm.Tool] = []
    for tool in config.tools:
        if isinstance(tool, HttpTool):
            tools.append(http_tool(tool, egress, hooks, config.tool_settings.filler_after))
        else:
            made = builtin_tool(tool, hooks)
            if made is not None:
                tools.append(made)
    return tools


async def _with_filler(work: Awaitable[Any], hooks: ToolHooks, after: float) -> Any:
    """`work`'s result; the filler is said if it is not done after `after` seconds."""
    task = asyncio.ensure_future(work)
    if hooks.filler is None:
        return await task
    done, _ = await asyncio.wait([task], timeout=after)
    if not done:
        hooks.filler()
    return await task


def http_tool(tool: HttpTool, egress: EgressPolicy, hooks: ToolHooks, filler_after: float) -> Any:
    async def call(raw_arguments: dict[str, Any]) -> str:
        return await _with_filler(_request(tool, raw_arguments, egress), hooks, filler_after)

    return function_tool(
        call,
        raw_schema={
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    )


async def _request(tool: HttpTool, arguments: dict[str, Any], egress: EgressPolicy) -> str:
    query = tool.method in ("GET", "DELETE")
    params = (
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in arguments.items()}
        if query
        else None
    )
    try:
        async with httpx_client(egress, timeout=tool.timeout) as client:
            response = await client.request(
                tool.method,
                tool.url,
                params=params,
                json=None if query else arguments,
                headers=tool.headers,
            )
    except httpx.TimeoutException:
        raise ToolError(f"{tool.name} did not answer within {tool.timeout:g} seconds") from None
    except httpx.HTTPError as exc:
        cause = exc.__cause__ or exc
        raise ToolError(f"{tool.name} could not be reached: {cause}") from None
    if response.status_code >= 400:
        raise ToolError(f"{tool.name} failed: HTTP {response.status_code}")
    return response.text[:MAX_RESULT_CHARS] or "done"


def builtin_tool(tool: BuiltinTool, hooks: ToolHooks) -> Any | None:
    description = tool.description or BUILTIN_DESCRIPTIONS[tool.type]
    if tool.type == "end_call":
        if hooks.end_call is None:
            return None
        end_call = hooks.end_call

        async def end(raw_arguments: dict[str, Any]) -> None:
            # A task of its own: the goodbye runs after this tool returns, not inside it.
            asyncio.ensure_future(end_call("agent_ended"))

        schema = {"type": "object", "properties": {}}
        return function_tool(
            end, raw_schema={"name": "end_call", "description": description, "parameters": schema}
        )
    if tool.type == "transfer_call":
        if hooks.transfer is None:
            return None
        transfer = hooks.transfer
        target = tool.transfer_to

        async def hand_over(raw_arguments: dict[str, Any]) -> None:
            reason = str(raw_arguments.get("reason") or "")
            asyncio.ensure_future(transfer(target, reason))

        schema = {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why, in a few words"}},
        }
        return function_tool(
            hand_over,
            raw_schema={"name": "transfer_call", "description": description, "parameters": schema},
        )
    retriever = hooks.retriever
    if retriever is None:
        return None

    async def search(raw_arguments: dict[str, Any]) -> str:
        question = str(raw_arguments.get("query") or "").strip()
        if not question:
            raise ToolError("search_knowledge needs a query")
        passages = await retriever.search(question)
        if not passages:
            return "Nothing in the knowledge base answers this."
        return "\n".join(f"({p.source}) {p.text}" for p in passages)[:MAX_RESULT_CHARS]

    schema = {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "The question to look up"}},
        "required": ["query"],
    }
    return function_tool(
        search,
        raw_schema={"name": "search_knowledge", "description": description, "parameters": schema},
    )


__all__ = ["ToolHooks", "build_tools", "filler_line"]
