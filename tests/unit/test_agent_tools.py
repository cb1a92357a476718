"""Agents' tools without a call: HTTP tools against a real local server (arguments, secret
headers, failures, time-outs, refused addresses), the filler, the built-ins, the sealing of
tool secrets, MCP results read as text."""

from __future__ import annotations

import asyncio
import json

import mcp.types as mcp_types
import pytest
from aiohttp import web
from livekit.agents.llm import ToolError
from livekit.agents.llm.mcp import MCPToolResultContext
from pydantic import ValidationError

from agent.contract import AgentConfig, HttpTool
from agent.mcp import text_result, transport_of
from agent.tools import ToolHooks, _request, _with_filler, build_tools, filler_line
from control_plane.security import ProviderKeyVault
from control_plane.tool_secrets import MASK, ToolSecretError, mask_tools, open_tools, seal_tools
from shared.egress import EgressPolicy

LOOPBACK = EgressPolicy.from_setting("127.0.0.0/8")


@pytest.fixture
async def service():
    seen: list[dict] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(
            {
                "method": request.method,
                "query": dict(request.query),
                "body": await request.json() if request.can_read_body else None,
                "auth": request.headers.get("Authorization"),
            }
        )
        if request.path == "/slow":
            await asyncio.sleep(2)
        if request.path == "/broken":
            return web.Response(status=503)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


def tool(url: str, **fields) -> HttpTool:
    return HttpTool.model_validate(
        {"name": "lookup", "description": "Look up", "url": url, **fields}, strict=False
    )


async def test_arguments_go_in_the_body_or_the_query_with_the_headers(service):
    base, seen = service
    answer = await _request(
        tool(f"{base}/orders", headers={"Authorization": "Bearer s3"}), {"id": 7}, LOOPBACK
    )
    assert json.loads(answer) == {"ok": True}
    await _request(tool(f"{base}/orders", method="GET"), {"id": 7, "tags": ["a"]}, LOOPBACK)
    assert seen[0] == {"method": "POST", "query": {}, "body": {"id": 7}, "auth": "Bearer s3"}
    assert seen[1]["method"] == "GET" and seen[1]["query"] == {"id": "7", "tags": '["a"]'}


async def test_failures_and_time_outs_become_errors_the_model_reads(service):
    base, _ = service
    with pytest.raises(ToolError, match="HTTP 503"):
        await _request(tool(f"{base}/broken"), {}, LOOPBACK)
    with pytest.raises(ToolError, match="did not answer within 0.5 seconds"):
        await _request(tool(f"{base}/slow", timeout=0.5), {}, LOOPBACK)


async def test_a_tool_aimed_at_a_private_address_is_refused_when_it_connects(service):
    base, seen = service
    with pytest.raises(ToolError, match="could not be reached.*(refused|loopback)"):
        await _request(tool(f"{base}/orders"), {}, EgressPolicy())
    with pytest.raises(ToolError, match="could not be reached"):
        await _request(tool("http://169.254.169.254/latest"), {}, LOOPBACK)
    assert seen == []


async def test_the_filler_is_said_only_when_the_tool_is_slow():
    said: list[str] = []
    hooks = ToolHooks(filler=lambda: said.append("filler"))

    async def quick() -> str:
        return "fast"

    async def slow() -> str:
        await asyncio.sleep(0.3)
        return "slow"

    assert await _with_filler(quick(), hooks, 0.2) == "fast" and said == []
    assert await _with_filler(slow(), hooks, 0.1) == "slow" and said == ["filler"]
    config = AgentConfig.model_validate({"language": "ar"}, strict=False)
    assert filler_line(config) == "لحظة من فضلك."
    custom = AgentConfig.model_validate(
        {"tool_settings": {"filler": "Bear with me."}}, strict=False
    )
    assert filler_line(custom) == "Bear with me."


def test_builtins_are_offered_only_when_the_channel_can_run_them():
    config = AgentConfig.model_validate(
        {
            "tools": [
                {"type": "end_call"},
                {"type": "transfer_call", "transfer_to": "+4930123456"},
                {"type": "search_knowledge"},
                {"type": "http", "name": "lookup", "description": "d", "url": "https://x.example/"},
            ]
        },
        strict=False,
    )

    async def noop(*args: object) -> None:
        return None

    names = lambda tools: sorted(t.info.name for t in tools)  # noqa: E731
    assert names(build_tools(config, ToolHooks(), LOOPBACK)) == ["lookup"]
    everything = ToolHooks(end_call=noop, transfer=noop, retriever=object())  # type: ignore[arg-type]
    assert names(build_tools(config, everything, LOOPBACK)) == [
        "end_call",
        "lookup",
        "search_knowledge",
        "transfer_call",
    ]


def test_tool_definitions_are_checked():
    bad = [
        {"type": "http", "name": "1st", "description": "d", "url": "https://x.example/"},
        {"type": "http", "name": "t", "description": "d", "url": "ftp://x.example/"},
        {"type": "http", "name": "t", "description": "d", "url": "https://x", "parameters": {}},
        {
            "type": "http",
            "name": "t",
            "description": "d",
            "url": "https://x",
            "parameters": {"type": "object", "properties": {"a": {"type": "strng"}}},
        },
        {"type": "teleport"},
    ]
    for definition in bad:
        with pytest.raises(ValidationError):
            AgentConfig.model_validate({"tools": [definition]}, strict=False)


def test_tool_headers_are_sealed_masked_and_opened():
    vault = ProviderKeyVault(["x" * 43 + "="])
    tools = [
        {"type": "http", "name": "a", "headers": {"Authorization": "Bearer one"}},
        {"type": "end_call"},
    ]
    sealed = seal_tools(tools, vault, None)
    assert "Bearer one" not in json.dumps(sealed)
    assert mask_tools(sealed)[0]["headers"] == {"Authorization": MASK}
    assert open_tools(sealed, vault)[0]["headers"] == {"Authorization": "Bearer one"}
    # Sent back masked, the stored value stays; a new value replaces it.
    kept = seal_tools(mask_tools(sealed), vault, sealed)
    assert kept[0]["headers"] == sealed[0]["headers"]
    changed = seal_tools([{**tools[0], "headers": {"Authorization": "Bearer two"}}], vault, sealed)
    assert open_tools(changed, vault)[0]["headers"] == {"Authorization": "Bearer two"}
    with pytest.raises(ToolSecretError, match="no value is stored"):
        seal_tools([{**tools[0], "name": "b", "headers": {"X": MASK}}], vault, sealed)


def test_mcp_results_are_read_as_their_text_and_errors_as_tool_errors():
    def ctx(*texts: str, error: bool = False) -> MCPToolResultContext:
        content = [mcp_types.TextContent(type="text", text=t) for t in texts]
        return MCPToolResultContext(
            tool_name="hours",
            arguments={},
            result=mcp_types.CallToolResult(content=content, is_error=error),
        )

    assert text_result(ctx("Open nine to five.")) == "Open nine to five."
    assert text_result(ctx("a", "b")) == "a\nb"
    with pytest.raises(ToolError, match="calendar offline"):
        text_result(ctx("calendar offline", error=True))
    with pytest.raises(ToolError):
        text_result(ctx())
    assert transport_of("https://x.example/sse") == "sse"
    assert transport_of("https://x.example/mcp") == "streamable_http"
    assert transport_of("https://x.example/sse", "streamable_http") == "streamable_http"
