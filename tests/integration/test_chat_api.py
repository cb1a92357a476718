"""The chat API (seed 003, `/api/v1/chat`) on a real control plane, SQLite and PostgreSQL,
read by a real Server-Sent Events client: the agent answers through the same LLM chain as its
calls (the fake OpenAI through the real plugin); conversations, deployments and scoped keys,
audio in and out, a client leaving mid-reply, a model failing mid-reply, the error shape and
the rate limits."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from httpx_sse import aconnect_sse

from fake_providers.common import Fault
from fake_providers.openai import FakeOpenAI
from shared.audio import decode_to_mono
from tests.helpers import poll_until

from .conftest import ApiServer, Tenant
from .test_chat import bearer, chat_agent, chat_requests, returns_policy

CHAT = "/api/v1/chat"


def token(tenant: Tenant | str) -> dict[str, str]:
    return {"x-api-token": tenant if isinstance(tenant, str) else tenant.api_key}


def agent_key(agent_id: str, channel: str = "voice", region: str = "us-east-1") -> str:
    return f"agent:{agent_id}:{channel}:{region}"


async def stream(client: httpx.AsyncClient, key: dict[str, str], **form) -> list[dict]:
    """The events of one `agent/stream` request, in order."""
    events = []
    async with aconnect_sse(
        client, "POST", f"{CHAT}/agent/stream", data=form, headers=key
    ) as source:
        assert source.response.status_code == 200, await source.response.aread()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for sse in source.aiter_sse():
            events.append(json.loads(sse.data))
    return events


async def test_a_streamed_reply_comes_in_order_and_is_stored(
    api_server: ApiServer, fake_openai: FakeOpenAI
):
    marker = uuid.uuid4().hex[:8]
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        created = await client.post(
            f"{CHAT}/conversations",
            json={"agent_id": agent["id"], "title": "Support"},
            headers=token(api_server.acme),
        )
        assert created.status_code == 201, created.text
        conversation = created.json()
        assert conversation["title"] == "Support" and conversation["status"] == "ongoing"

        events = await stream(
            client,
            token(api_server.acme),
            agent_key=agent_key(agent["id"]),
            query=f"Tell me about {marker}",
            conversation_id=conversation["id"],
        )
        kinds = [e["type"] for e in events]
        assert kinds[0] == "start" and kinds[-1] == "end", kinds
        assert set(kinds[1:-1]) == {"agent_text_chunk"} and len(kinds) > 3, kinds
        assert {e["conversation_id"] for e in events} == {conversation["id"]}
        reply = f"You said: Tell me about {marker}. Here is my answer."
        assert "".join(e["content"] for e in events[1:-1]) == reply
        assert events[-1]["content"] == reply and events[-1]["was_resolved"] is True

        # The whole reply, continuing the conversation; the model reads the first exchange.
        whole = await client.post(
            f"{CHAT}/agent/chat",
            data={
                "agent_key": agent_key(agent["id"]),
                "query": "And then?",
                "conversation_id": conversation["id"],
            },
            headers=token(api_server.acme),
        )
        assert whole.status_code == 200, whole.text
        body = whole.json()
        assert body["agent_response_text"] == "You said: And then. Here is my answer."
        assert body["conversation_id"] == conversation["id"] and body["was_resolved"] is True
        assert body["response_time_ms"] >= 0
        asked = chat_requests(fake_openai, marker)[-1]["messages"]
        assert [m["role"] for m in asked[1:]] == ["user", "assistant", "user"]

        messages = await client.get(
            f"{CHAT}/conversations/{conversation['id']}/messages",
            params={"limit": 3},
            headers=token(api_server.acme),
        )
        assert messages.status_code == 200, messages.text
        page = messages.json()
        assert page["total"] == 4 and page["has_more"] is True
        assert [(m["role"], m["content"]) for m in page["messages"]] == [
            ("user", f"Tell me about {marker}"),
            ("assistant", reply),
            ("user", "And then?"),
        ]
        listed = await client.get(
            f"{CHAT}/conversations", params={"limit": 100}, headers=token(api_server.acme)
        )
        assert conversation["id"] in [c["id"] for c in listed.json()["conversations"]]

        # Without a conversation: a new one, the request's earlier messages read by the model.
        fresh = await client.post(
            f"{CHAT}/agent/chat",
            data={
                "agent_key": agent_key(agent["id"]),
                "messages": json.dumps([{"role": "user", "content": f"Earlier {marker}"}]),
                "query": "Hello",
            },
            headers=token(api_server.acme),
        )
        assert fresh.status_code == 200, fresh.text
        assert fresh.json()["conversation_id"] != conversation["id"]
        assert chat_requests(fake_openai, f"Earlier {marker}")

        # Another company sees none of it.
        async with api_server.client() as other:
            headers = token(api_server.globex)
            path = f"{CHAT}/conversations/{conversation['id']}"
            assert (await other.get(path, headers=headers)).status_code == 404
            assert (await other.get(f"{path}/messages", headers=headers)).status_code == 404
            mine = await other.get(f"{CHAT}/conversations", headers=headers)
            assert conversation["id"] not in [c["id"] for c in mine.json()["conversations"]]
            refused = await other.post(
                f"{CHAT}/agent/chat",
                data={"agent_key": agent_key(agent["id"]), "query": "Hi"},
                headers=headers,
            )
            assert refused.status_code == 404 and "does not exist" in refused.text


async def test_the_knowledge_answers_and_a_deleted_item_is_gone_from_the_next_message(
    api_server: ApiServer, fake_openai: FakeOpenAI
):
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        key = token(api_server.acme)
        item_id = await returns_policy(client, api_server.acme, agent["id"])
        question = {"agent_key": agent_key(agent["id"])}
        # The fake model serves every test of the session: each ask carries its own marker.
        first, second = (f"{n}-ask-{uuid.uuid4().hex[:8]}" for n in ("first", "second"))
        for marker in (first, second):
            form = {**question, "query": f"How many days do I have to return an item? {marker}"}
            answered = await client.post(f"{CHAT}/agent/chat", data=form, headers=key)
            assert answered.status_code == 200, answered.text
            asked = chat_requests(fake_openai, marker)
            assert len(asked) == 1
            if marker == first:
                assert "within 30 days of delivery" in str(asked[0]["messages"])
                deleted = await client.delete(
                    f"/v1/api/knowledge-base/{item_id}", headers=bearer(api_server.acme)
                )
                assert deleted.status_code == 200, deleted.text
            else:  # the next message after the delete: the agent has no knowledge any more
                assert "30 days" not in str(asked[0]["messages"])
                assert "knowledge base" not in str(asked[0]["messages"])


async def test_bad_requests_get_the_documented_error_shape(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        key = token(api_server.acme)
        cases = [
            ({"agent_key": "agent:nope", "query": "Hi"}, 400, "agent_key"),
            ({"agent_key": agent_key(str(uuid.uuid4())), "query": "Hi"}, 404, "does not exist"),
            ({"agent_key": agent_key(agent["id"])}, 400, "query"),
            ({"agent_key": agent_key(agent["id"]), "query": "Hi", "messages": "[{"}, 400, "JSON"),
            ({"query": "Hi"}, 400, "agent_key"),
        ]
        for form, status, words in cases:
            for route in ("agent/chat", "agent/stream"):
                answer = await client.post(f"{CHAT}/{route}", data=form, headers=key)
                assert answer.status_code == status, (form, answer.text)
                body = answer.json()
                assert set(body) == {"error", "message", "statusCode"}, body
                assert body["statusCode"] == status and words in body["message"], body
        assert (
            await client.post(f"{CHAT}/agent/chat", data={"query": "Hi", "agent_key": "x"})
        ).json()["error"] == "ValidationError"
        # A single-valued parameter given twice is refused, not taken as its last value.
        twice = await client.get(f"{CHAT}/conversations?limit=2&limit=3", headers=key)
        assert twice.status_code == 400 and "limit" in twice.json()["message"]
        far = await client.get(f"{CHAT}/conversations?offset={10**30}", headers=key)
        assert far.status_code == 400 and "offset" in far.json()["message"]
        english = await client.get("/voice-agents/english?category=a&category=b")
        assert english.status_code == 400 and "category" in english.json()["detail"]
        unauthenticated = await client.get(f"{CHAT}/conversations", headers={"x-api-key": ""})
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"] == "UnauthorizedError"

        too_big = await client.post(
            f"{CHAT}/agent/stream",
            data={"agent_key": agent_key(agent["id"])},
            files={"audio": ("big.wav", b"\0" * (300 * 1024), "audio/wav")},
            headers=key,
        )
        assert too_big.status_code == 413, too_big.text
        not_audio = await client.post(
            f"{CHAT}/agent/chat",
            data={"agent_key": agent_key(agent["id"])},
            files={"audio": ("a.wav", b"not audio at all", "audio/wav")},
            headers=key,
        )
        assert not_audio.status_code == 400 and "audio" in not_audio.json()["message"]
        # A web form's file field left blank sends an empty part: no audio, so `query` counts
        # and without it the words are missing.
        blank = {"audio": ("", b"", "application/octet-stream")}
        no_words = await client.post(
            f"{CHAT}/agent/chat", data={"agent_key": agent_key(agent["id"])}, files=blank,
            headers=key,
        )  # fmt: skip
        assert no_words.status_code == 400 and "query" in no_words.json()["message"]
        typed = await client.post(
            f"{CHAT}/agent/chat",
            data={"agent_key": agent_key(agent["id"]), "query": "Hi"},
            files=blank,
            headers=key,
        )
        assert typed.status_code == 200 and typed.json()["agent_response_text"], typed.text


async def test_a_client_leaving_mid_reply_stops_it_and_keeps_what_was_sent(
    api_server: ApiServer, fake_openai: FakeOpenAI
):
    marker = uuid.uuid4().hex[:8]
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        fake_openai.state.faults["chat"] = Fault(chunk_delay_ms=250)
        try:
            async with aconnect_sse(
                client,
                "POST",
                f"{CHAT}/agent/stream",
                data={"agent_key": agent_key(agent["id"]), "query": f"Go on {marker}"},
                headers=token(api_server.acme),
            ) as source:
                async for sse in source.aiter_sse():
                    event = json.loads(sse.data)
                    if event["type"] == "agent_text_chunk":
                        conversation_id = event["conversation_id"]
                        first = event["content"]
                        break
            # The control plane stopped reading the model: its stream was cut short.
            asked = [
                r for r in fake_openai.state.requests if r.route == "chat" and marker in str(r.body)
            ]
            await poll_until(lambda: asked[-1].completed is False, 10, "the model stream cut")
        finally:
            fake_openai.state.faults.pop("chat", None)

        async def stored() -> list[dict]:
            page = await client.get(
                f"{CHAT}/conversations/{conversation_id}/messages", headers=token(api_server.acme)
            )
            messages = page.json()["messages"]
            return messages if len(messages) == 2 else []

        messages = await poll_until(stored, 10, "the user's message and the partial reply")
        assert messages[0] == {**messages[0], "role": "user", "content": f"Go on {marker}"}
        reply = messages[1]
        full = f"You said: Go on {marker}. Here is my answer."
        assert reply["interrupted"] is True and reply["content"].startswith(first.strip())
        assert full.startswith(reply["content"]) and reply["content"] != full


async def test_a_model_failing_mid_reply_sends_error_then_end_and_stores_once(
    api_server: ApiServer, fake_openai: FakeOpenAI
):
    marker = uuid.uuid4().hex[:8]
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        fake_openai.state.faults["chat"] = Fault(drop_after_chunks=4)
        try:
            events = await stream(
                client,
                token(api_server.acme),
                agent_key=agent_key(agent["id"]),
                query=f"Break {marker}",
            )
        finally:
            fake_openai.state.faults.pop("chat", None)
        kinds = [e["type"] for e in events]
        assert kinds[0] == "start" and kinds[-2:] == ["error", "end"], kinds
        assert "agent_text_chunk" in kinds
        sent = "".join(e["content"] for e in events if e["type"] == "agent_text_chunk")
        assert events[-1]["was_resolved"] is False
        page = await client.get(
            f"{CHAT}/conversations/{events[0]['conversation_id']}/messages",
            headers=token(api_server.acme),
        )
        said = [(m["role"], m["content"], m["interrupted"]) for m in page.json()["messages"]]
        assert said == [("user", f"Break {marker}", False), ("assistant", sent.strip(), True)]


async def test_deployments_scope_keys_and_revocation_cuts_them(api_server: ApiServer):
    async with api_server.client(api_server.acme) as client:
        agent = await chat_agent(client)
        other = await chat_agent(client)
        company = token(api_server.acme)
        deployed = await client.post(
            f"{CHAT}/deployments",
            json={"agent_id": agent["id"], "channel": "web", "region": "eu-west-1"},
            headers=company,
        )
        assert deployed.status_code == 201, deployed.text
        deployment = deployed.json()
        assert deployment["agent_key"] == agent_key(agent["id"], "web", "eu-west-1")
        issued = await client.post(
            f"{CHAT}/deployments/{deployment['id']}/keys", json={"name": "site"}, headers=company
        )
        assert issued.status_code == 201, issued.text
        scoped = token(issued.json()["key"])

        async with api_server.client() as site:
            ok = await site.post(
                f"{CHAT}/agent/chat",
                data={"agent_key": deployment["agent_key"], "query": "Hi"},
                headers=scoped,
            )
            assert ok.status_code == 200, ok.text
            conversation_id = ok.json()["conversation_id"]
            mine = await site.get(f"{CHAT}/conversations", headers=scoped)
            assert [c["id"] for c in mine.json()["conversations"]] == [conversation_id]
            assert mine.json()["conversations"][0]["deployment_id"] == deployment["id"]
            # Nothing else: another agent, the rest of the API, managing deployments.
            elsewhere = await site.post(
                f"{CHAT}/agent/chat",
                data={"agent_key": agent_key(other["id"], "web", "eu-west-1"), "query": "Hi"},
                headers=scoped,
            )
            assert elsewhere.status_code == 403, elsewhere.text
            assert (await site.get("/voice-agents", headers=scoped)).status_code == 403
            assert (await site.get(f"{CHAT}/deployments", headers=scoped)).status_code == 403

            revoked = await client.delete(f"{CHAT}/deployments/{deployment['id']}", headers=company)
            assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
            after = await site.post(
                f"{CHAT}/agent/chat",
                data={"agent_key": deployment["agent_key"], "query": "Hi"},
                headers=scoped,
            )
            assert after.status_code == 401, after.text
            assert "revoked" in after.json()["message"]
        by_company = await client.post(
            f"{CHAT}/agent/chat",
            data={"agent_key": deployment["agent_key"], "query": "Hi"},
            headers=company,
        )
        assert by_company.status_code == 403, by_company.text
        # The agent itself still chats where it was not revoked.
        direct = await client.post(
            f"{CHAT}/agent/chat",
            data={"agent_key": agent_key(agent["id"]), "query": "Hi"},
            headers=company,
        )
        assert direct.status_code == 200, direct.text


async def test_audio_in_is_transcribed_and_sentences_come_back_spoken(
    sqlite_api: ApiServer, fake_openai: FakeOpenAI
):
    async with sqlite_api.client(sqlite_api.acme) as client:
        agent = await chat_agent(client)
        spoken = await client.post(
            "/voice-agents/elevenlabs/voices/local:en_US-joe-medium/tts",
            json={"text": "What are your opening hours?"},
            params={"output_format": "mp3_44100_128"},
        )
        assert spoken.status_code == 200, spoken.text
        async with aconnect_sse(
            client,
            "POST",
            f"{CHAT}/agent/stream",
            data={"agent_key": agent_key(agent["id"]), "audio_output": "true"},
            files={"audio": ("question.mp3", spoken.content, "audio/mpeg")},
            headers=token(sqlite_api.acme),
        ) as source:
            assert source.response.status_code == 200, await source.response.aread()
            events = [json.loads(sse.data) async for sse in source.aiter_sse()]
        kinds = [e["type"] for e in events]
        assert kinds[:2] == ["start", "transcribed_text"] and kinds[-1] == "end", kinds
        # Piper samples its voice afresh each time (VITS noise), so Whisper's words may vary
        # a little ("opening now"): the question's words, not a fixed transcript.
        heard = events[1]["content"].lower()
        assert {"what", "your", "opening"} <= set(heard.replace("?", " ").split()), heard
        reply = events[-1]["content"]
        chunks = [e for e in events if e["type"] == "chunk"]
        assert len(chunks) == 2, kinds  # "You said: ...?" and "Here is my answer."
        assert " ".join(c["text"] for c in chunks) == reply
        for chunk in chunks:
            assert chunk["format"] == "mp3_44100_128"
            samples = decode_to_mono(base64.b64decode(chunk["content"]), 16000)
            assert len(samples) > 16000 * 0.5 and abs(samples).max() > 0.05


@pytest.fixture(autouse=True)
def _no_faults_left(fake_openai: FakeOpenAI):
    yield
    fake_openai.state.faults.pop("chat", None)
