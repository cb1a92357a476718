"""Every call started through the API leaves a record: created with the call, each message
stored as it is said, closed with how the call ended; listed, read and deleted per company."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from livekit import api, rtc

from control_plane.services.calls import AGENT_LEAVE_TIMEOUT
from simulator.stack import Stack
from tests.helpers import Receiver, agent_joined, call_once, capture_threads, poll_until
from tests.integration.conftest import Tenant, admin

pytestmark = pytest.mark.integration

GREETING = "Welcome to the bakery. What would you like?"
QUESTION = "What time do you open tomorrow?"


async def test_a_call_leaves_its_record_transcript_and_recording(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant, store_url: str, recordings_dir: Path
) -> None:
    receiver = Receiver()
    hook_url = await receiver.start()
    try:
        await check_call_record(
            calls_api, calls_tenant, store_url, receiver, hook_url, recordings_dir
        )
    finally:
        await receiver.stop()


async def check_call_record(
    calls_api: str,
    calls_tenant: Tenant,
    store_url: str,
    receiver: Receiver,
    hook_url: str,
    recordings_dir: Path,
) -> None:
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        resp = await client.post(
            "/webhooks",
            json={
                "url": hook_url,
                "events": [
                    "conversation.started", "message.received", "conversation.ended",
                    "conversation.failed",
                ],
                "secret": receiver.secret,
            },
        )  # fmt: skip
        assert resp.status_code == 201, resp.text
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Recorded line",
                    "voice_id": "local:en_US-joe-medium",
                    "active": True,
                    "first_message": GREETING,
                },
            )
        ).json()
        resp = await client.post(
            "/conversations", json={"agent_id": agent["id"], "user_id": "caller-42"}
        )
        assert resp.status_code == 201, resp.text
        started = resp.json()
        conversation_id = started["conversation_id"]

        # The record exists as soon as the call is set up.
        record = (await client.get(f"/conversations/{conversation_id}")).json()
        assert record["status"] == "ongoing" and record["transcript"] == []
        assert record["agent_id"] == agent["id"] and record["user_id"] == "caller-42"

        report = await call_once(started["connection_details"], QUESTION)
        assert report.turns[0].reply is not None

        async def ended() -> dict | None:
            body = (await client.get(f"/conversations/{conversation_id}")).json()
            return body if body["status"] != "ongoing" else None

        record = await poll_until(ended, 60, "the call's record to be closed")
        assert record["status"] == "success"
        assert record["end_reason"] == "caller_hung_up"
        assert record["started_at"] and record["ended_at"]
        assert 1.0 < record["duration"] < 120

        transcript = record["transcript"]
        speakers = [m["speaker"] for m in transcript]
        assert speakers[:3] == ["agent", "user", "agent"], transcript
        assert transcript[0]["text"] == GREETING
        assert "open" in transcript[1]["text"].lower()
        assert transcript[2]["text"].strip()
        times = [m["timestamp"] for m in transcript]
        assert times == sorted(times)
        # Per-turn latency of the answered turn, with its percentiles.
        assert record["metrics"]["turns"]
        assert "p50" in next(v for k, v in record["metrics"].items() if k != "turns")

        # The recording: stereo Ogg/Opus of the whole call, the agent greeting on the right
        # channel before the caller speaks on the left.
        assert record["audio_url"] == f"/conversations/{conversation_id}/audio"
        resp = await client.get(record["audio_url"])
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "audio/ogg"
        assert int(resp.headers["content-length"]) == len(resp.content)
        caller, agent_side, seconds = channel_activity(resp.content)
        assert abs(seconds - record["duration"]) < 2.5, (seconds, record["duration"])
        assert sum(agent_side) * WINDOW > 1.5  # greeting and answer
        assert sum(caller) * WINDOW > 0.5  # the question
        assert agent_side.index(True) < caller.index(True)

        # The company's webhook heard the call as it happened, signed.
        await poll_until(lambda: receiver.events_of("conversation.ended"), 30, "conversation.ended")
        ours = [e for e in receiver.events if e["data"]["conversation_id"] == conversation_id]
        kinds = [e["event"] for e in ours]
        assert kinds[0] == "conversation.started" and kinds[-1] == "conversation.ended"
        said = [e["data"]["text"] for e in ours if e["event"] == "message.received"]
        assert said == [m["text"] for m in transcript]
        ended = ours[-1]["data"]
        assert ended["end_reason"] == "caller_hung_up" and ended["duration"] > 1.0
        assert 401 not in receiver.seen

        # Listing and its filters.
        listed = (await client.get("/conversations", params={"agent_id": agent["id"]})).json()
        assert [c["id"] for c in listed["conversations"]] == [conversation_id]
        assert listed["total"] == 1
        assert (await client.get("/conversations", params={"status": "failed"})).json()[
            "total"
        ] == 0
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        before = (await client.get("/conversations", params={"date_to": past})).json()
        assert before["total"] == 0
        resp = await client.get("/conversations", params={"status": "bogus"})
        assert resp.status_code == 400 and "status" in resp.json()["detail"]

        # The closed call was queued for its analysis and analysed: an agent on the embedded
        # model gets the caller's sentiment only, and is told why.
        async def analysed() -> dict | None:
            got = await client.get(f"/conversations/{conversation_id}/analysis")
            return got.json() if got.status_code == 200 and got.json()["finished_at"] else None

        analysis = await poll_until(analysed, 60, "the call's analysis")
        assert analysis["status"] == "completed", analysis
        assert [m["index"] for m in analysis["message_sentiments"]] == [
            i for i, m in enumerate(transcript) if m["speaker"] == "user"
        ]
        assert analysis["sentiment"] in ("positive", "neutral", "negative")
        assert analysis["summary"] is None and "embedded one" in analysis["error"]

    # Another company sees nothing of it.
    other = admin(store_url, "create-company", "Nosy Inc")
    async with httpx.AsyncClient(
        base_url=calls_api, headers={"x-api-key": other["api_key"]}
    ) as client:
        assert (await client.get(f"/conversations/{conversation_id}")).status_code == 404
        assert (await client.delete(f"/conversations/{conversation_id}")).status_code == 404
        assert (await client.get("/conversations")).json()["total"] == 0

        assert (await client.get(f"/conversations/{conversation_id}/audio")).status_code == 404

    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        assert recordings_of(recordings_dir, conversation_id)
        assert (await client.delete(f"/conversations/{conversation_id}")).status_code == 204
        assert (await client.get(f"/conversations/{conversation_id}")).status_code == 404
        assert not recordings_of(recordings_dir, conversation_id)


WINDOW = 0.1


def recordings_of(directory: Path, conversation_id: str) -> list[Path]:
    return list(directory.glob(f"{conversation_id}.*"))


def channel_activity(ogg: bytes) -> tuple[list[bool], list[bool], float]:
    """Per 100 ms window, whether the caller (left) and the agent (right) channels carry
    sound; and the recording's length in seconds."""
    with av.open(io.BytesIO(ogg)) as container:
        stream = container.streams.audio[0]
        assert stream.channels == 2
        rate = stream.rate
        samples = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    size = int(rate * WINDOW)
    windows = samples[:, : samples.shape[1] // size * size].reshape(2, -1, size)
    loud = np.sqrt((windows.astype(np.float64) ** 2).mean(axis=2)) > 0.01
    return loud[0].tolist(), loud[1].tolist(), samples.shape[1] / rate


async def test_ending_a_call_through_the_api(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant
) -> None:
    """`POST /conversations/{id}/end` disconnects the caller of a live call and the agent
    leaves; the record keeps the outcome and feedback and says how the call ended."""
    worker = idle_stack.processes["worker"].proc
    assert worker is not None
    tracks_before = capture_threads(worker.pid)
    async with httpx.AsyncClient(base_url=calls_api, headers=calls_tenant.headers) as client:
        agent = (
            await client.post(
                "/voice-agents",
                json={
                    "name": "Ended line",
                    "voice_id": "local:en_US-joe-medium",
                    "active": True,
                    "first_message": GREETING,
                },
            )
        ).json()
        started = (
            await client.post("/conversations", json={"agent_id": agent["id"], "user_id": "c-7"})
        ).json()
        conversation_id = started["conversation_id"]
        details = started["connection_details"]
        for rating in (6, 4.5, "5"):
            bad = await client.post(
                f"/conversations/{conversation_id}/end", json={"feedback": {"rating": rating}}
            )
            assert bad.status_code == 400 and "rating" in bad.json()["detail"], rating

        room = rtc.Room()
        left = asyncio.get_running_loop().create_future()
        room.on("disconnected", lambda reason: left.done() or left.set_result(reason))
        await room.connect(details["websocket_url"], details["token"])
        room_name = room.name
        try:
            agent_participant = await asyncio.wait_for(agent_joined(room), 60)
            gone = asyncio.get_running_loop().create_future()
            room.on(
                "participant_disconnected",
                lambda p: (
                    p.identity == agent_participant.identity
                    and not gone.done()
                    and gone.set_result(True)
                ),
            )

            async def joined() -> bool:
                body = (await client.get(f"/conversations/{conversation_id}")).json()
                return body["started_at"] is not None

            await poll_until(joined, 30, "the agent to take the call")
            resp = await client.post(
                f"/conversations/{conversation_id}/end",
                # JSON has one number type: 5.0 is the integer 5
                json={"reason": "resolved", "feedback": {"rating": 5.0, "comments": "Quick."}},
            )
            assert resp.status_code == 202, resp.text
            # The caller is disconnected and the agent leaves.
            await asyncio.wait_for(asyncio.wait([left, gone], return_when="FIRST_COMPLETED"), 30)
        finally:
            await room.disconnect()
        assert left.done() and left.result() == rtc.DisconnectReason.PARTICIPANT_REMOVED
        # The agent left before the room closed, so the worker let go of its published track
        # (a room deleted under the agent leaves it held for good: livekit/rust-sdks#1443),
        # and the room is closed: nobody can join it again.
        # (beyond the room's wait for the agent: a room deleted under it would fail this)
        await poll_until(
            lambda: capture_threads(worker.pid) <= tracks_before,
            AGENT_LEAVE_TIMEOUT + 10,
            "the agent's track released",
        )
        ep = idle_stack.endpoint
        async with api.LiveKitAPI(ep.http_url, ep.api_key, ep.api_secret) as lkapi:

            async def room_closed() -> bool:
                rooms = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room_name]))
                return not rooms.rooms

            await poll_until(room_closed, 20, "the ended call's room to close")

        async def closed() -> dict | None:
            body = (await client.get(f"/conversations/{conversation_id}")).json()
            return body if body["status"] != "ongoing" else None

        record = await poll_until(closed, 60, "the ended call's record to close")
        assert (record["status"], record["end_reason"]) == ("success", "ended_by_api")
        assert record["outcome"] == "resolved"
        assert record["feedback"] == {"rating": 5, "comments": "Quick."}
        again = await client.post(f"/conversations/{conversation_id}/end")
        assert again.status_code == 409

        # A call nobody joined yet ends at once, and its token no longer brings an agent.
        unjoined = (
            await client.post("/conversations", json={"agent_id": agent["id"], "user_id": "c-8"})
        ).json()
        resp = await client.post(f"/conversations/{unjoined['conversation_id']}/end")
        assert resp.status_code == 202
        assert (resp.json()["status"], resp.json()["end_reason"]) == ("success", "ended_by_api")
        audio = await client.get(f"/conversations/{unjoined['conversation_id']}/audio")
        assert audio.status_code == 404 and "no recording" in audio.json()["detail"]
        assert (await client.post("/conversations/conv_nope/end")).status_code == 404
