"""Post-call analysis on a real control plane (SQLite and PostgreSQL): a finished conversation
gets a summary, the caller's sentiment, intents, a resolution, the data the agent collects and
its success criteria, from the agent's model (the fake OpenAI, through the real plugin) and
the packaged embeddings; the results reach the conversation APIs, their filters and a signed
`conversation.analyzed` webhook. A model that fails is retried, then the analysis is failed
with the reason and the conversation stays whole; a queued analysis survives a restart."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fake_providers.openai import FakeOpenAI
from tests.helpers import Receiver, poll_until

from .conftest import FAST_WEBHOOKS, ApiServer, database_url_for, running_api_server
from .test_chat import API, bearer, chat_agent

LABELLED_SET = Path(__file__).parents[2] / "benchmarks" / "analysis_set" / "conversations.json"
PORTS = {"sqlite": 8401, "postgresql": 8402}
RESTART_PORT = 8403
ANALYSIS_ENV = {
    "ANALYSIS_POLL_SECONDS": "0.2",
    "ANALYSIS_RETRY_SECONDS": "0.2",
    "ANALYSIS_MAX_ATTEMPTS": "3",
    **FAST_WEBHOOKS,
}
SETTINGS = {
    "intents": ["book_table", "cancel_booking", "complaint"],
    "data_collection": {
        "party_size": {"type": "integer", "minimum": 1, "description": "people in the booking"},
        "date": {
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "booking date, YYYY-MM-DD",
        },
        "name": {"type": "string", "description": "name the booking is under"},
    },
    "success_criteria": [
        {"id": "details_confirmed", "description": "Did the agent read the booking back?"},
        {"id": "upsold", "description": "Did the agent offer a dessert menu?"},
    ],
}
PROMPT_START = "You review a finished conversation"
ANSWER = {
    "summary": "Dana booked a table for four on 14 March.",
    # one outside the agent's list: left out
    "intents": ["book_table", "small_talk"],
    "resolution": "resolved",
    "data_collected": {
        "party_size": "4",  # digits as a string: taken as the number
        "date": "14 March",  # does not match its pattern: left out
        "name": "Dana Whitfield",
        "shoe_size": 42,  # not asked for: left out
    },
    "criteria": {
        "details_confirmed": {"result": True, "evidence": "A table for four on the 14th."},
        "upsold": False,
        "made_up": {"result": True},
    },
}


def replies(messages: list[dict]) -> str:
    """The fake model: the analysis prompt gets the answer (in a code fence, as models do),
    chat turns a short reply."""
    if PROMPT_START in str(messages[-1].get("content")):
        return "Here it is:\n```json\n" + json.dumps(ANSWER) + "\n```"
    return "A table for four on the 14th, under Dana Whitfield. See you then!"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def analysis_api(request, tmp_path_factory, provider_env) -> Iterator[ApiServer]:
    backend = request.param
    database_url = database_url_for(backend, tmp_path_factory.mktemp(f"analysis-{backend}"))
    with running_api_server(
        backend,
        database_url,
        PORTS[backend],
        f"control-plane-analysis-{backend}.log",
        {**provider_env, **ANALYSIS_ENV},
    ) as server:
        yield server


async def booked_chat(server: ApiServer, client: httpx.AsyncClient, **agent_fields) -> str:
    """A chat with a booking in it; its conversation id (its agent's: `booked_chat.agent`)."""
    agent = await chat_agent(client, **agent_fields)
    session_id = None
    for message in (
        "Hi, I'd like a table for four on the 14th of March.",
        "It's Dana Whitfield. Thank you so much, that's perfect!",
    ):
        said = await client.post(
            f"{API}/agents/{agent['id']}/chat",
            json={"message": message, **({"session_id": session_id} if session_id else {})},
            headers=bearer(server.acme),
        )
        assert said.status_code == 200, said.text
        session_id = said.json()["data"]["session_id"]
    booked_chat.agent = agent["id"]  # type: ignore[attr-defined]
    return said.json()["data"]["conversation_id"]


async def analysed(client: httpx.AsyncClient, conversation_id: str, status: str) -> dict:
    url = f"/conversations/{conversation_id}/analysis"

    async def done() -> bool:
        got = await client.get(url)
        return got.status_code == 200 and got.json()["status"] == status

    await poll_until(done, 60, f"the analysis to be {status}")
    return (await client.get(url)).json()


async def test_a_conversation_is_analysed_with_the_agents_fields(
    analysis_api: ApiServer, fake_openai: FakeOpenAI
):
    receiver = Receiver()
    await receiver.start()
    fake_openai.reply_fn = replies
    try:
        async with analysis_api.client(analysis_api.acme) as client:
            hook = await client.post(
                "/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["conversation.analyzed"],
                    "secret": receiver.secret,
                },
            )
            assert hook.status_code == 201, hook.text
            conversation_id = await booked_chat(analysis_api, client, analysis=SETTINGS)
            # an open chat has none until asked
            none = await client.get(f"/conversations/{conversation_id}/analysis")
            assert none.status_code == 404 and "has not ended" in none.json()["detail"]
            queued = await client.post(f"/conversations/{conversation_id}/analysis")
            assert queued.status_code == 202, queued.text
            assert queued.json()["status"] == "pending"

            result = await analysed(client, conversation_id, "completed")
            assert result["error"] is None and result["model"] == "gpt-4o-mini"
            assert result["summary"] == ANSWER["summary"]
            assert result["intents"] == ["book_table"]
            assert result["resolution"] == "resolved" and result["was_resolved"] is True
            assert result["data_collected"] == {"party_size": 4, "name": "Dana Whitfield"}
            assert result["criteria"] == {
                "details_confirmed": {"result": True, "evidence": "A table for four on the 14th."},
                "upsold": {"result": False, "evidence": None},
            }
            # the caller's two messages, scored offline; the call ends happy
            assert [m["index"] for m in result["message_sentiments"]] == [0, 2]
            assert result["message_sentiments"][1]["label"] == "positive"
            assert result["sentiment"] == "positive" and result["sentiment_score"] > 0

            record = (await client.get(f"/conversations/{conversation_id}")).json()
            assert record["analysis"]["summary"] == ANSWER["summary"]
            assert record["sentiment"] == "positive" and record["summary"] == ANSWER["summary"]
            assert record["metadata"]["data_collected"] == result["data_collected"]
            assert record["metrics"]["sentiment_score"] == result["sentiment_score"]
            assert record["metrics"]["resolution_status"] == "resolved"
            assert len(record["transcript"]) == 4

            async def listed(**params: str) -> list[str]:
                page = (await client.get("/conversations", params=params)).json()
                return [c["id"] for c in page["conversations"]]

            assert conversation_id in await listed(sentiment="positive", resolution="resolved")
            assert conversation_id not in await listed(sentiment="negative")
            assert conversation_id not in await listed(resolution="escalated")
            bad = await client.get("/conversations", params={"sentiment": "ecstatic"})
            assert bad.status_code == 400

            seed = bearer(analysis_api.acme)
            items = (
                await client.get(
                    f"{API}/conversations/list", params={"sentiment": "positive"}, headers=seed
                )
            ).json()["data"]["conversations"]
            (item,) = [c for c in items if c["id"] == conversation_id]
            assert (item["sentiment"], item["summary"]) == ("positive", ANSWER["summary"])
            details = (
                await client.get(f"{API}/conversations/{conversation_id}", headers=seed)
            ).json()["data"]
            assert details["metadata"]["data_collected"] == result["data_collected"]

            # seed 001's analytics: the period's intents and sentiment from the analyses
            stats = await client.get(
                f"{API}/analytics/agent/{booked_chat.agent}",  # type: ignore[attr-defined]
                params={"period": "week"},
                headers=seed,
            )
            assert stats.status_code == 200, stats.text
            view = stats.json()["data"]
            assert view["top_intents"] == [{"intent": "book_table", "count": 1, "percentage": 1.0}]
            assert view["sentiment"] == {"positive": 1.0, "neutral": 0.0, "negative": 0.0}
            assert view["analysed"] == 1 and view["overview"]["total_calls"] == 0
            bad_period = await client.get(
                f"{API}/analytics/agent/{booked_chat.agent}",  # type: ignore[attr-defined]
                params={"period": "decade"},
                headers=seed,
            )
            assert bad_period.status_code == 400

            await poll_until(lambda: receiver.events, 30, "the conversation.analyzed webhook")
            (event,) = receiver.events
            assert event["event"] == "conversation.analyzed"
            assert event["data"]["conversation_id"] == conversation_id
            assert event["data"]["status"] == "completed"
            assert event["data"]["data_collected"] == result["data_collected"]

            # Another company sees none of it.
            async with analysis_api.client(analysis_api.globex) as other:
                hidden = await other.get(f"/conversations/{conversation_id}/analysis")
                assert hidden.status_code == 404
                again = await other.post(f"/conversations/{conversation_id}/analysis")
                assert again.status_code == 404
    finally:
        fake_openai.reply_fn = None
        await receiver.stop()


async def test_a_failing_model_is_retried_then_the_analysis_fails_with_the_reason(
    analysis_api: ApiServer, fake_openai: FakeOpenAI
):
    if analysis_api.backend != "sqlite":
        pytest.skip("backend-independent")
    fake_openai.reply_fn = replies
    async with analysis_api.client(analysis_api.acme) as client:
        try:
            conversation_id = await booked_chat(analysis_api, client, analysis=SETTINGS)
            asked_before = len(fake_openai.state.requests)
            fake_openai.set_fault("chat", status=500)
            assert (await client.post(f"/conversations/{conversation_id}/analysis")).is_success
            result = await analysed(client, conversation_id, "failed")
        finally:
            fake_openai.state.faults.pop("chat", None)
            fake_openai.reply_fn = None
        assert result["attempts"] == 3
        assert result["error"].startswith("the language model could not be reached"), result
        assert result["summary"] is None and result["resolution"] is None
        # the offline part is kept
        assert result["sentiment"] == "positive"
        failed_asks = [r for r in fake_openai.state.requests[asked_before:] if r.route == "chat"]
        assert len(failed_asks) >= 3
        record = (await client.get(f"/conversations/{conversation_id}")).json()
        assert len(record["transcript"]) == 4 and record["analysis"]["status"] == "failed"

        # Deleting the conversation (as retention does) deletes its analysis.
        assert (await client.delete(f"/conversations/{conversation_id}")).status_code == 204
    path = analysis_api.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as db:
        (left,) = db.execute(
            "SELECT count(*) FROM conversation_analyses WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
    assert left == 0


async def test_zero_retention_keeps_no_analysis(analysis_api: ApiServer, fake_openai: FakeOpenAI):
    if analysis_api.backend != "sqlite":
        pytest.skip("backend-independent")
    fake_openai.reply_fn = replies
    try:
        async with analysis_api.client(analysis_api.acme) as client:
            conversation_id = await booked_chat(
                analysis_api, client, analysis=SETTINGS, privacy={"zero_retention": True}
            )
            queued = await client.post(f"/conversations/{conversation_id}/analysis")
            assert queued.status_code == 202

            async def dropped() -> bool:
                got = await client.get(f"/conversations/{conversation_id}/analysis")
                return got.status_code == 404

            await poll_until(dropped, 30, "the analysis to be dropped")
            assert not [
                r
                for r in fake_openai.state.requests
                if r.route == "chat"
                and PROMPT_START in json.dumps(r.body)
                and conversation_id in json.dumps(r.body)
            ]
    finally:
        fake_openai.reply_fn = None


async def test_a_queued_analysis_survives_a_restart(
    tmp_path_factory, provider_env: dict[str, str], fake_openai: FakeOpenAI
):
    database_url = database_url_for("sqlite", tmp_path_factory.mktemp("analysis-restart"))
    env = {**provider_env, **ANALYSIS_ENV}
    fake_openai.reply_fn = replies
    try:
        with running_api_server(
            "sqlite",
            database_url,
            RESTART_PORT,
            "control-plane-analysis-off.log",
            {**env, "ANALYSIS": "false"},
        ) as server:
            async with server.client(server.acme) as client:
                conversation_id = await booked_chat(server, client, analysis=SETTINGS)
                assert (await client.post(f"/conversations/{conversation_id}/analysis")).is_success
                waiting = await client.get(f"/conversations/{conversation_id}/analysis")
                assert waiting.json()["status"] == "pending"
            acme = server.acme
        with running_api_server(
            "sqlite", database_url, RESTART_PORT, "control-plane-analysis-on.log", env
        ) as server:
            server.acme = acme
            async with server.client(acme) as client:
                result = await analysed(client, conversation_id, "completed")
                assert result["summary"] == ANSWER["summary"]
    finally:
        fake_openai.reply_fn = None


async def test_the_sentiment_of_texts_in_any_language(analysis_api: ApiServer):
    if analysis_api.backend != "sqlite":
        pytest.skip("backend-independent")
    texts = [
        "Great service, thank you so much, that was really helpful!",
        "This is the third time it broke, I am furious and want my money back.",
        "شكرا جزيلا، الخدمة ممتازة",
    ]
    async with analysis_api.client() as client:
        seed = bearer(analysis_api.acme)
        got = await client.post(
            f"{API}/analytics/sentiment-batch", json={"texts": texts}, headers=seed
        )
        assert got.status_code == 200, got.text
        results = got.json()["data"]["results"]
        assert [r["text"] for r in results] == texts
        assert [r["sentiment"] for r in results] == ["positive", "negative", "positive"]
        assert results[0]["score"] > 0.5 > results[1]["score"]
        assert all(0.0 <= r["score"] <= 1.0 for r in results)
        empty = await client.post(
            f"{API}/analytics/sentiment-batch", json={"texts": []}, headers=seed
        )
        assert empty.status_code == 400 and empty.json()["success"] is False


async def test_a_transcript_is_tried_against_the_agents_analysis(
    analysis_api: ApiServer, fake_openai: FakeOpenAI
):
    """`POST /voice-agents/{id}/analysis-preview`: the same work as after a call, stored
    nowhere; the embedded model is not asked by default (it cannot write the JSON)."""
    if analysis_api.backend != "sqlite":
        pytest.skip("backend-independent")
    lines = [
        {"speaker": "agent", "text": "Olive & Thyme, how can I help?"},
        {"speaker": "user", "text": "A table for four on the 14th, please. I'm Dana Whitfield."},
        {"speaker": "agent", "text": "Booked: a table for four on the 14th."},
        {"speaker": "user", "text": "Wonderful, thank you!"},
    ]
    fake_openai.reply_fn = replies
    try:
        async with analysis_api.client(analysis_api.acme) as client:
            agent = await chat_agent(client, analysis=SETTINGS)
            url = f"/voice-agents/{agent['id']}/analysis-preview"
            tried = await client.post(url, json={"messages": lines})
            assert tried.status_code == 200, tried.text
            result = tried.json()
            assert result["problem"] is None and result["model"] == "gpt-4o-mini"
            assert result["data_collected"] == {"party_size": 4, "name": "Dana Whitfield"}
            assert result["intents"] == ["book_table"] and result["resolution"] == "resolved"
            assert result["sentiment"] == "positive"
            # other settings, given in the request, instead of the agent's
            other = await client.post(
                url, json={"messages": lines, "analysis": {"data_collection": {}}}
            )
            assert other.json()["data_collected"] == {}
            assert (await client.post(url, json={"messages": []})).status_code == 400
            bad = await client.post(url, json={"messages": [{"speaker": "bot", "text": "hi"}]})
            assert bad.status_code == 400
            fake_openai.set_fault("chat", status=500)
            try:
                down = await client.post(url, json={"messages": lines})
            finally:
                fake_openai.state.faults.pop("chat", None)
            assert down.status_code == 502 and "could not be reached" in down.json()["detail"]

            asked = len(fake_openai.state.requests)
            local = await client.post(
                "/voice-agents",
                json={"name": "Local", "llm_model": "local", "analysis": SETTINGS},
            )
            assert local.status_code == 201, local.text
            offline = await client.post(
                f"/voice-agents/{local.json()['id']}/analysis-preview", json={"messages": lines}
            )
            assert offline.status_code == 200, offline.text
            assert "embedded one, which is not asked" in offline.json()["problem"]
            assert offline.json()["sentiment"] == "positive"
            assert offline.json()["summary"] is None
            assert len(fake_openai.state.requests) == asked
        async with analysis_api.client(analysis_api.globex) as other_company:
            hidden = await other_company.post(url, json={"messages": lines})
            assert hidden.status_code == 404
    finally:
        fake_openai.reply_fn = None


async def test_a_perfect_answer_keeps_every_labelled_value(
    analysis_api: ApiServer, fake_openai: FakeOpenAI
):
    """The labelled set through the preview, the fake model answering each call with its own
    labels: the checks (intents, resolution, each field's JSON Schema, the criteria) keep all
    of them, in English and Arabic."""
    if analysis_api.backend != "sqlite":
        pytest.skip("backend-independent")
    labelled = json.loads(LABELLED_SET.read_text("utf-8"))
    by_ending = {
        "\n".join(
            f"{'Caller' if m['speaker'] == 'user' else 'Agent'}: {m['text']}"
            for m in call["messages"][-2:]
        ): call
        for call in labelled["conversations"]
    }

    def perfect(messages: list[dict]) -> str:
        prompt = str(messages[-1]["content"])
        (call,) = [c for ending, c in by_ending.items() if prompt.endswith(ending)]
        labels = call["labels"]
        return json.dumps(
            {
                "summary": "A call.",
                "intents": labels["intents"],
                "resolution": labels["resolution"],
                "data_collected": labels["data_collected"],
                "criteria": {
                    k: {"result": v, "evidence": "..."} for k, v in labels["criteria"].items()
                },
            },
            ensure_ascii=False,
        )

    fake_openai.reply_fn = perfect
    try:
        async with analysis_api.client(analysis_api.acme) as client:
            agents = {}
            for kind, intents in labelled["intents"].items():
                agents[kind] = (
                    await chat_agent(
                        client,
                        analysis={
                            "intents": intents,
                            "data_collection": labelled["data_fields"][kind]["properties"],
                            "success_criteria": labelled["criteria"][kind],
                        },
                    )
                )["id"]
            lost = []
            for call in labelled["conversations"]:
                got = await client.post(
                    f"/voice-agents/{agents[call['agent_kind']]}/analysis-preview",
                    json={"messages": call["messages"], "language": call["language"]},
                )
                assert got.status_code == 200, got.text
                result, labels = got.json(), call["labels"]
                for part in ("intents", "resolution", "data_collected"):
                    if result[part] != labels[part]:
                        lost.append((call["id"], part, result[part], labels[part]))
                answers = {k: v["result"] for k, v in result["criteria"].items()}
                if answers != labels["criteria"]:
                    lost.append((call["id"], "criteria", answers, labels["criteria"]))
            assert not lost, lost
    finally:
        fake_openai.reply_fn = None
