"""Privacy on a real store: the retention purge forgets old calls (transcripts and recordings)
of agents that set `retention_days`; zero retention and `delete_audio` keep what they say;
a call ended through the API closes as `ended_by_api`, or never starts if nobody joined."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import select

from agent_worker.recorder import CallIdentity, ConversationRecorder
from control_plane.jobs.retention import purge
from control_plane.recordings import RecordingStore
from control_plane.schemas.voice_agents import VoiceAgentCreate
from control_plane.store.db import create_engine, session_factory
from control_plane.store.migrate import upgrade
from control_plane.store.models import (
    Company,
    Conversation,
    ConversationMessage,
    VoiceAgent,
    VoicePreviewJob,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from control_plane.store.repositories import ConversationRepository, VoicePreviewRepository
from tests.integration.conftest import database_url_for


def stereo_ogg(path: Path, seconds: float = 1.0) -> Path:
    """A short recording like the worker's: stereo Ogg/Opus, a tone on each channel."""
    rate = 48_000
    t = np.arange(int(rate * seconds)) / rate
    data = np.stack([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 500 * t)]) * 0.3
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate, layout="stereo")
        for start in range(0, data.shape[1], 960):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, start : start + 960], dtype=np.float32),
                format="fltp",
                layout="stereo",
            )
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


async def new_agent(session, company: uuid.UUID, privacy: dict) -> uuid.UUID:
    values = VoiceAgentCreate(
        name="Kept", voice_id="local:en_US-joe-medium", privacy=privacy
    ).model_dump(mode="json")
    agent = VoiceAgent(company_id=company, **values)
    session.add(agent)
    await session.flush()
    return agent.id


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_retention_purge_forgets_old_calls(backend, tmp_path):
    asyncio.run(check_purge(database_url_for(backend, tmp_path), tmp_path))


async def check_purge(url: str, tmp_path: Path) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    store = RecordingStore(str(tmp_path / "recordings"))
    now = utcnow()
    company = uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            session.add(Company(id=company, name="Forgetful"))
            await session.flush()
            brief = await new_agent(session, company, {"retention_days": 30})
            keeper = await new_agent(session, company, {})
            calls = {
                # id: (agent, age in days, status)
                "old": (brief, 31, "success"),
                "old_failed": (brief, 45, "failed"),
                "young": (brief, 29, "success"),
                "old_but_ongoing": (brief, 31, "ongoing"),
                "old_kept": (keeper, 400, "success"),
            }
            for name, (agent, days, status) in calls.items():
                store.put(f"conv_{name}.ogg", stereo_ogg(tmp_path / "src.ogg", 0.2))
                session.add(
                    Conversation(
                        id=f"conv_{name}",
                        company_id=company,
                        agent_id=agent,
                        user_id="u",
                        room_name=name,
                        status=status,
                        created_at=now - timedelta(days=days),
                        metrics={},
                        recording=f"conv_{name}.ogg",
                    )
                )
                await session.flush()
                session.add(
                    ConversationMessage(conversation_id=f"conv_{name}", speaker="user", text="hi")
                )
            hook = Webhook(company_id=company, url="http://x", events=[], secret_ciphertext="x")
            session.add(hook)
            await session.flush()
            for status, days in [
                ("delivered", 40),
                ("failed", 40),
                ("pending", 40),
                ("delivered", 1),
            ]:
                session.add(
                    WebhookDelivery(
                        company_id=company,
                        webhook_id=hook.id,
                        event="message.received",
                        payload={"text": "hi"},
                        status=status,
                        created_at=now - timedelta(days=days),
                    )
                )

        async with sessions() as session:
            purged = await purge(session, store, webhook_log_days=30)
        assert (purged.conversations, purged.recordings, purged.webhook_deliveries) == (2, 2, 2)

        async with sessions() as session:
            left = {c.id for c in (await session.scalars(select(Conversation))).all()}
            assert left == {"conv_young", "conv_old_but_ongoing", "conv_old_kept"}
            repo = ConversationRepository(session)
            assert await repo.messages(conversation_id="conv_old") == []
            assert len(await repo.messages(conversation_id="conv_young")) == 1
            statuses = sorted(d.status for d in (await session.scalars(select(WebhookDelivery))))
            assert statuses == ["delivered", "pending"]
        assert not store.exists("conv_old.ogg") and not store.exists("conv_old_failed.ogg")
        assert store.exists("conv_young.ogg") and store.exists("conv_old_kept.ogg")

        async with sessions() as session:
            again = await purge(session, store, webhook_log_days=30)
        assert (again.conversations, again.webhook_deliveries) == (0, 0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("privacy", "fmt", "keeps_text", "keeps_audio"),
    [
        ({}, "ogg", True, True),
        ({}, "mp3", True, True),
        ({"delete_audio": True}, "ogg", True, False),
        ({"zero_retention": True}, "ogg", False, False),
    ],
)
def test_privacy_decides_what_a_call_keeps(privacy, fmt, keeps_text, keeps_audio, tmp_path):
    asyncio.run(
        check_privacy(
            database_url_for("sqlite", tmp_path), tmp_path, privacy, fmt, keeps_text, keeps_audio
        )
    )


async def check_privacy(
    url: str, tmp_path: Path, privacy: dict, fmt: str, keeps_text: bool, keeps_audio: bool
) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    store = RecordingStore(str(tmp_path / "recordings"))
    company = uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            session.add(Company(id=company, name="Private"))
            await session.flush()
            agent = await new_agent(session, company, privacy)
            session.add(
                Webhook(
                    company_id=company,
                    url="http://127.0.0.1:9/hook",
                    events=["message.received"],
                    secret_ciphertext="x",
                )
            )
        call = CallIdentity.under(
            privacy,
            conversation_id="conv_private",
            company_id=company,
            agent_id=agent,
            user_id="caller",
        )
        recorder = ConversationRecorder(
            url, call, "room", store=store, recording_format=fmt, heartbeat=3600
        )
        assert await recorder.start()
        now = utcnow().timestamp()
        recorder.message(
            speaker="agent", text="Hello there.", interrupted=False, created_at=now, metrics={}
        )
        recorder.message(
            speaker="user",
            text="My card number is 4111.",
            interrupted=False,
            created_at=now + 1,
            metrics={"e2e_latency": 0.8},
        )
        await recorder.finish(
            status="success", reason="caller_hung_up", recording=stereo_ogg(tmp_path / "a.ogg")
        )

        async with sessions() as session:
            row = await session.get(Conversation, "conv_private")
            messages = await ConversationRepository(session).messages(conversation_id=row.id)
            events = (await session.scalars(select(WebhookDelivery))).all()
        assert row.status == "success" and row.end_reason == "caller_hung_up"
        assert row.metrics["e2e_latency"]["p50"] == 0.8  # metrics are always kept
        assert [m.text for m in messages] == (
            ["Hello there.", "My card number is 4111."] if keeps_text else []
        )
        # The webhook outbox (kept for webhook_log_days) holds no text the record may not.
        said = [e.payload["data"]["text"] for e in events]
        assert said == (["Hello there.", "My card number is 4111."] if keeps_text else [None, None])
        if keeps_audio:
            assert row.recording == f"conv_private.{fmt}"
            saved = tmp_path / "recordings" / row.recording
            with av.open(str(saved)) as container:
                audio = container.streams.audio[0]
                codecs = ("opus", "libopus") if fmt == "ogg" else ("mp3", "mp3float")
                assert audio.codec_context.name in codecs
                assert audio.channels == 2
                assert 0.8 < float(container.duration / 1e6) < 1.3
        else:
            assert row.recording is None
            assert not list((tmp_path / "recordings").glob("*"))
    finally:
        await engine.dispose()


def test_ending_through_the_api(tmp_path):
    asyncio.run(check_api_end(database_url_for("sqlite", tmp_path)))


async def check_api_end(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    company = uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            session.add(Company(id=company, name="Ended"))
            await session.flush()
            agent = await new_agent(session, company, {})
            for name in ("live", "unjoined"):
                session.add(
                    Conversation(
                        id=f"conv_{name}",
                        company_id=company,
                        agent_id=agent,
                        user_id="u",
                        room_name=name,
                        status="ongoing",
                        created_at=utcnow(),
                        metrics={},
                    )
                )

        def call(name: str) -> CallIdentity:
            return CallIdentity(f"conv_{name}", company, agent, "u")

        # A live call whose end was asked for closes as ended_by_api when the agent leaves,
        # whatever the session's own close reason was.
        live = ConversationRecorder(url, call("live"), "live", heartbeat=3600)
        assert await live.start()
        async with sessions() as session, session.begin():
            (await session.get(Conversation, "conv_live")).end_requested_at = utcnow()
        await live.finish(status="success", reason="caller_hung_up")

        # A call ended before anybody joined: an agent arriving late does not take it.
        async with sessions() as session, session.begin():
            row = await session.get(Conversation, "conv_unjoined")
            row.end_requested_at = row.ended_at = utcnow()
            row.status, row.end_reason = "success", "ended_by_api"
        late = ConversationRecorder(url, call("unjoined"), "unjoined", heartbeat=3600)
        assert not await late.start()

        async with sessions() as session:
            got = {n: await session.get(Conversation, f"conv_{n}") for n in ("live", "unjoined")}
        assert (got["live"].status, got["live"].end_reason) == ("success", "ended_by_api")
        assert got["unjoined"].started_at is None and got["unjoined"].status == "success"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_expired_voice_previews_are_gone(backend, tmp_path):
    asyncio.run(check_previews_expire(database_url_for(backend, tmp_path), tmp_path))


async def check_previews_expire(url: str, tmp_path: Path) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    now = utcnow()
    company = uuid.uuid4()
    try:
        async with sessions() as session, session.begin():
            session.add(Company(id=company, name="Previewer"))
            await session.flush()
            agent = await new_agent(session, company, {})
            jobs = {}
            for name, hours in (("expired", -1), ("kept", 23)):
                job = VoicePreviewJob(
                    company_id=company,
                    agent_id=agent,
                    voice_id="local:espeak-ar",
                    text="مرحبا",
                    status="completed",
                    audio=b"mp3",
                    expires_at=now + timedelta(hours=hours),
                )
                session.add(job)
                await session.flush()
                jobs[name] = job.id
        async with sessions() as session:
            repo = VoicePreviewRepository(session)
            # an expired preview is gone at once, before any purge
            assert (
                await repo.get(company_id=company, agent_id=agent, job_id=jobs["expired"]) is None
            )
            kept = await repo.get(company_id=company, agent_id=agent, job_id=jobs["kept"])
            assert kept is not None and kept.status == "completed"
            # and it is never claimed to be made again
            claimed = await repo.claim_due(now=utcnow(), lease=timedelta(minutes=1), limit=10)
            assert claimed == []
            purged = await purge(session, RecordingStore(str(tmp_path / "recordings")))
            assert purged.voice_previews == 1
            remaining = (await session.scalars(select(VoicePreviewJob.id))).all()
            assert remaining == [jobs["kept"]]
    finally:
        await engine.dispose()
