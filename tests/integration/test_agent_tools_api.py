"""Agents' tools through the voice-agents API: secret headers stored sealed and shown
masked, kept when sent back masked, URLs the deployment does not allow refused."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from control_plane.store.db import create_engine
from control_plane.store.models import VoiceAgent

from .conftest import ApiServer

TOOL = {
    "type": "http",
    "name": "lookup_order",
    "description": "Look up an order by its number",
    "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    "url": "https://orders.example.com/lookup",
    "method": "GET",
    "headers": {"Authorization": "Bearer very-secret-token"},
    "timeout": 5,
}


async def stored_tools(database_url: str, agent_id: str) -> str:
    """The agent's `tools` as the store holds them."""
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        value = await conn.scalar(
            select(VoiceAgent.tools).where(VoiceAgent.id == uuid.UUID(agent_id))
        )
    await engine.dispose()
    return json.dumps(value)


async def test_tool_headers_are_secret_and_tool_urls_guarded(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        created = await client.post(
            "/voice-agents",
            json={"name": "Orders", "voice_id": "v", "tools": [TOOL, {"type": "end_call"}]},
        )
        assert created.status_code == 201, created.text
        agent = created.json()
        assert agent["tools"][0]["headers"] == {"Authorization": "********"}
        assert agent["tools"][1] == {
            "type": "end_call",
            "description": None,
            "transfer_to": None,
        }
        raw = await stored_tools(sqlite_api.database_url, agent["id"])
        assert "very-secret-token" not in raw and "sealed:v1:" in raw

        # Sent back as read (masked), the header keeps its value; other fields change.
        tools = agent["tools"]
        tools[0]["timeout"] = 8
        updated = await client.put(f"/voice-agents/{agent['id']}", json={"tools": tools})
        assert updated.status_code == 200, updated.text
        assert updated.json()["tools"][0]["timeout"] == 8
        assert await stored_tools(sqlite_api.database_url, agent["id"]) != raw
        assert "sealed:v1:" in await stored_tools(sqlite_api.database_url, agent["id"])

        masked_new = {**TOOL, "name": "other", "headers": {"X-Key": "********"}}
        refused = await client.put(f"/voice-agents/{agent['id']}", json={"tools": [masked_new]})
        assert refused.status_code == 400 and "no value is stored" in refused.json()["detail"]

        for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.5/internal"):
            refused = await client.post(
                "/voice-agents",
                json={"name": "x", "voice_id": "v", "tools": [{**TOOL, "url": url}]},
            )
            assert refused.status_code == 400, refused.text
            assert refused.json()["detail"].startswith("tools.0.url:")
        invalid = await client.post(
            "/voice-agents",
            json={
                "name": "x",
                "voice_id": "v",
                "tools": [{**TOOL, "parameters": {"type": "array"}}],
            },
        )
        assert invalid.status_code == 400 and "parameters" in invalid.json()["detail"]
