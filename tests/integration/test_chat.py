"""Text chat on a real control plane (seed 001's test chat), on SQLite and PostgreSQL: the agent
answers through the same LLM chain as its calls (the fake OpenAI, through the real plugin),
with its prompt, the chat's context, its earlier messages, its knowledge and its tools; the
chat is stored like a call and fires the same webhooks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from fake_providers.openai import FakeOpenAI
from tests.conftest import OPENAI_KEY
from tests.helpers import BookingServer, Receiver, poll_until

from .conftest import ApiServer, Tenant

API = "/v1/api"
RETURNS = (
    "You can return any item within 30 days of delivery for a full refund. Items must be "
    "unused and in their original packaging."
)


def bearer(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


async def chat_agent(client: httpx.AsyncClient, **fields) -> dict:
    assert (
        await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
    ).status_code == 200
    created = await client.post(
        "/voice-agents",
        json={
            "name": "Shop",
            "voice_id": "local:en_US-joe-medium",
            "llm_model": "gpt-4o-mini",
            "active": True,
            "system_prompt": "You are the shop's assistant.",
            **fields,
        },
    )
    assert created.status_code == 201, created.text
    return created.json()


async def returns_policy(client: httpx.AsyncClient, tenant: Tenant, agent_id: str) -> str:
    """The returns policy added to the agent's knowledge, once ingested; its item id."""
    added = await client.post(
        f"{API}/knowledge-base/text",
        json={"agent_id": agent_id, "title": "Returns", "content": RETURNS},
        headers=bearer(tenant),
    )
    assert added.status_code == 201, added.text
    item_id = added.json()["data"]["id"]

    async def ready() -> bool:
        item = await client.get(f"{API}/knowledge-base/{item_id}", headers=bearer(tenant))
        return item.json()["data"]["status"] == "ready"

    await poll_until(ready, 60, "the returns policy to be ingested")
    return str(item_id)


def chat_requests(fake: FakeOpenAI, marker: str) -> list[dict]:
    """The chat completions the fake received whose messages mention `marker`."""
    return [
        r.body
        for r in fake.state.requests
        if r.route == "chat" and isinstance(r.body, dict) and marker in str(r.body["messages"])
    ]


async def test_a_chat_answers_with_context_and_history_and_is_stored(
    api_server: ApiServer, fake_openai: FakeOpenAI
):
    receiver = Receiver()
    await receiver.start()
    marker = uuid.uuid4().hex[:8]
    try:
        async with api_server.client(api_server.acme) as client:
            hook = await client.post(
                "/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["conversation.started", "message.received"],
                    "secret": receiver.secret,
                },
            )
            assert hook.status_code == 201, hook.text
            agent = await chat_agent(client)
            first = await client.post(
                f"{API}/agents/{agent['id']}/chat",
                json={"message": f"Hello {marker}", "context": {"user_name": "John Doe"}},
                headers=bearer(api_server.acme),
            )
            assert first.status_code == 200, first.text
            data = first.json()["data"]
            assert first.json()["success"] is True
            assert data["response"] == f"You said: Hello {marker}. Here is my answer."
            assert data["tools_used"] == [] and data["confidence"] is None
            session_id = data["session_id"]
            assert session_id and data["conversation_id"].startswith("chat_")

            second = await client.post(
                f"{API}/agents/{agent['id']}/chat",
                json={"message": "And the second question?", "session_id": session_id},
                headers=bearer(api_server.acme),
            )
            assert second.status_code == 200, second.text
            assert second.json()["data"]["conversation_id"] == data["conversation_id"]

            # The model read the prompt with the chat's context, then the first exchange.
            asked = chat_requests(fake_openai, marker)[-1]["messages"]
            assert asked[0]["role"] == "system"
            assert "You are the shop's assistant." in asked[0]["content"]
            assert "user_name: John Doe" in asked[0]["content"]
            assert [m["role"] for m in asked[1:]] == ["user", "assistant", "user"]
            assert asked[-1]["content"] == "And the second question?"

            record = (await client.get(f"/conversations/{data['conversation_id']}")).json()
            said = [(m["speaker"], m["text"]) for m in record["transcript"]]
            assert said == [
                ("user", f"Hello {marker}"),
                ("agent", f"You said: Hello {marker}. Here is my answer."),
                ("user", "And the second question?"),
                ("agent", "You said: And the second question. Here is my answer."),
            ]
            assert record["channel"] == "chat" and record["status"] == "ongoing"
            # Counted beside the agent's calls, not among them.
            stats = (await client.get(f"/voice-agents/{agent['id']}/analytics")).json()
            assert (stats["total_chats"], stats["total_calls"]) == (1, 0)
            assert [day["chats"] for day in stats["timeline"]] == [1]

            # Another company neither sees the chat nor continues it.
            async with api_server.client(api_server.globex) as other:
                assert (
                    await other.get(f"/conversations/{data['conversation_id']}")
                ).status_code == 404
                foreign = await other.post(
                    f"{API}/agents/{agent['id']}/chat",
                    json={"message": "hi", "session_id": session_id},
                    headers=bearer(api_server.globex),
                )
                assert foreign.status_code == 404 and foreign.json()["success"] is False

        async def events() -> list | None:
            mine = [
                e
                for e in receiver.events
                if e["data"].get("conversation_id") == data["conversation_id"]
            ]
            return mine if len(mine) >= 5 else None

        got = await poll_until(events, 30, "the chat's webhooks")
        got.sort(key=lambda e: e["created_at"])  # delivered in parallel, stamped in order
        assert [e["event"] for e in got][:2] == ["conversation.started", "message.received"]
        assert [e["data"]["speaker"] for e in got[1:]] == ["user", "agent", "user", "agent"]
        assert all(e["data"]["channel"] == "chat" for e in got)
    finally:
        await receiver.stop()


@pytest.fixture
async def booking() -> AsyncIterator[BookingServer]:
    async with BookingServer("Booked for two at seven, reference A12.") as server:
        yield server


async def test_a_chat_calls_the_agents_tool_and_answers_from_its_knowledge(
    api_server: ApiServer, booking: BookingServer
):
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(
            client,
            tools=[
                {
                    "type": "http",
                    "name": "reserve",
                    "description": "Reserve a table",
                    "parameters": {
                        "type": "object",
                        "properties": {"when": {"type": "string"}},
                        "required": ["when"],
                    },
                    "url": booking.url,
                }
            ],
        )
        url = f"{API}/agents/{agent['id']}/chat"
        booked = await client.post(
            url, json={"message": "Please reserve a table"}, headers=bearer(api_server.acme)
        )
        assert booked.status_code == 200, booked.text
        data = booked.json()["data"]
        assert data["tools_used"] == ["reserve"]
        assert len(booking.requests) == 1 and "when" in booking.requests[0]["body"]
        assert "reference A12" in data["response"]
        record = (await client.get(f"/conversations/{data['conversation_id']}")).json()
        assert record["metadata"]["tools_used"] == ["reserve"]
        assert record["tools"][0]["status"] == "success"

        await returns_policy(client, api_server.acme, agent["id"])
        answered = await client.post(
            url,
            json={"message": "How many days do I have to return an item?"},
            headers=bearer(api_server.acme),
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["data"]["confidence"] > 0.82


async def test_bad_chats_get_clear_errors(api_server: ApiServer, fake_openai: FakeOpenAI):
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        url = f"{API}/agents/{agent['id']}/chat"
        auth = bearer(api_server.acme)
        unknown = await client.post(
            f"{API}/agents/{uuid.uuid4()}/chat", json={"message": "hi"}, headers=auth
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "AGENT_NOT_FOUND"
        empty = await client.post(url, json={"message": ""}, headers=auth)
        assert empty.status_code == 400 and empty.json()["error"]["field"] == "message"
        async with api_server.client() as anonymous:
            no_key = await anonymous.post(url, json={"message": "hi"})
        assert no_key.status_code == 401 and no_key.json()["success"] is False

        # The model fails: a clear 502, and the user's message is on the record.
        fake_openai.set_fault("chat", status=500)
        try:
            failed = await client.post(
                url, json={"message": "Is anyone there?", "session_id": "s-fail"}, headers=auth
            )
        finally:
            fake_openai.state.faults.pop("chat", None)
        assert failed.status_code == 502, failed.text
        assert failed.json()["error"]["code"] == "UPSTREAM_ERROR"
        listed = (await client.get("/conversations", params={"agent_id": agent["id"]})).json()
        (chat,) = [c for c in listed["conversations"] if c["channel"] == "chat"]
        record = (await client.get(f"/conversations/{chat['id']}")).json()
        assert [m["text"] for m in record["transcript"]] == ["Is anyone there?"]
