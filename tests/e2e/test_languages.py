"""Calls in other languages than English: an Arabic and a French agent in a real room.

The agent hears through the multilingual Whisper base and speaks through an espeak-ng voice of
its language. The embedded model does not speak Arabic, so each agent's `llm_base_url` is an
OpenAI-compatible fake that answers one fixed sentence in the agent's language. The caller
speaks espeak-ng in the same language; what it hears of the agent is transcribed by Whisper
base told the language, and the call's stored transcript is read back from the control plane.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import cache

import httpx
import numpy as np
import pytest

from fake_providers.openai import FakeOpenAI
from pipelines import WhisperModelHandle, multilingual_whisper_dir
from pipelines.tts.espeak import ESPEAK_RATE, espeak_voice, synthesize_blocking
from shared.audio import resample
from simulator.audio import CALLER_RATE
from simulator.caller import CallReport, CallScript, Utterance, join_conversation
from simulator.speech import render_speech
from simulator.stack import Stack
from tests.helpers import described, poll_until, words
from tests.integration import conftest as control_plane
from tests.integration.conftest import Tenant

pytestmark = pytest.mark.e2e

# The control plane on the test worker's store, and a company of it (calls it starts reach the
# test worker).
calls_api = control_plane.calls_api
calls_tenant = control_plane.calls_tenant

ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")


def arabic_share(text: str) -> float:
    """The share of the letters of `text` in the Arabic block (U+0600-U+06FF)."""
    letters = [c for c in text if c.isalpha()]
    return sum(bool(ARABIC_SCRIPT.match(c)) for c in letters) / len(letters) if letters else 0.0


@dataclass(frozen=True)
class Language:
    code: str
    voice_id: str
    greeting: str
    said: str
    """What the caller says (espeak-ng in the language)."""
    reply: str
    """The agent model's one answer."""
    content_words: frozenset[str] = frozenset()
    """Words of `said` that Whisper base hears in espeak-ng's voice; empty: it hears the
    script but not the words (Arabic)."""


ARABIC = Language(
    code="ar",
    voice_id="local:espeak-ar",
    greeting="مرحبا بكم في العيادة",
    said="مرحبا، أريد أن أحجز موعدا",
    reply="أهلا بك، كيف يمكنني مساعدتك اليوم؟",
)
FRENCH = Language(
    code="fr",
    voice_id="local:espeak-fr",
    greeting="Bonjour et bienvenue au cabinet.",
    said="Bonjour, je voudrais prendre un rendez-vous demain matin.",
    reply="Très bien, à quelle heure voulez-vous venir demain?",
    content_words=frozenset({"bonjour", "voudrais", "prendre", "rendez-vous", "demain", "matin"}),
)


@cache
def listener_model() -> WhisperModelHandle:
    """Whisper base decoding as a listener (its 30 s window), as `HeardTranscriber` does for
    English with the agent's model."""
    return WhisperModelHandle(str(multilingual_whisper_dir()), cpu_threads=2, short_window=False)


def heard_text(audio: np.ndarray, language: str) -> str:
    """What the caller heard (int16 at CALLER_RATE), transcribed in `language`, after the
    moment of silence a listener has before the speech."""
    pcm = resample(audio, CALLER_RATE, 16000).astype(np.float32) / 32768.0
    pcm = np.concatenate([np.zeros(4800, np.float32), pcm])
    return listener_model().transcribe(pcm, language=language, beam_size=5)


async def call_agent(
    client: httpx.AsyncClient, agent_id: str, lang: Language
) -> tuple[str, CallReport]:
    resp = await client.post("/conversations", json={"agent_id": agent_id, "user_id": "caller-9"})
    assert resp.status_code == 201, resp.text
    started = resp.json()
    details = started["connection_details"]
    script = CallScript(
        turns=[Utterance(render_speech(lang.said, voice=lang.code), lang.said)],
        # the first call of a language loads Whisper base in the worker
        greeting_timeout=60,
        reply_timeout=60,
    )
    report = await join_conversation(
        details["websocket_url"], details["token"], details["room_name"], script
    )
    return started["conversation_id"], report


async def closed_record(client: httpx.AsyncClient, conversation_id: str) -> dict:
    async def closed() -> dict | None:
        body = (await client.get(f"/conversations/{conversation_id}")).json()
        return body if body["status"] != "ongoing" else None

    record: dict = await poll_until(closed, 60, "the call's record to be closed")
    return record


@pytest.mark.parametrize("lang", [ARABIC, FRENCH], ids=lambda lang: lang.code)
async def test_a_call_in_the_agents_language(
    idle_stack: Stack, calls_api: str, calls_tenant: Tenant, lang: Language
) -> None:
    with FakeOpenAI(replies=lambda _messages: lang.reply) as model:
        async with httpx.AsyncClient(
            base_url=calls_api, headers=calls_tenant.headers, timeout=60
        ) as client:
            resp = await client.post(
                "/voice-agents",
                json={
                    "name": f"Clinic ({lang.code})",
                    "language": lang.code,
                    "voice_id": lang.voice_id,
                    "active": True,
                    "first_message": lang.greeting,
                    # the agent's own OpenAI-compatible server for its model, no fallback
                    "llm_model": "local",
                    "llm_base_url": model.base_url,
                },
            )
            assert resp.status_code == 201, resp.text
            conversation_id, report = await call_agent(client, resp.json()["id"], lang)
            record = await closed_record(client, conversation_id)
        asked = [r.body for r in model.state.requests if r.route == "chat"]

    # The caller heard the greeting, then the reply in the agent's voice and language.
    assert report.greeting is not None, "no greeting heard"
    reply = report.turns[0].reply
    assert reply is not None, "no reply heard"
    assert reply.duration > 0.5, described(reply)
    loop = asyncio.get_running_loop()
    reply.transcript = await loop.run_in_executor(None, heard_text, reply.audio, lang.code)
    assert reply.transcript.strip(), described(reply)
    # The whole reply was spoken in the agent's espeak-ng voice: as long as that voice takes
    # to say it (what Whisper base makes of espeak's Arabic varies from call to call, and mixes
    # in English words, so the words are checked in the record below, not by ear).
    voice = espeak_voice(lang.voice_id)
    spoken = synthesize_blocking(lang.reply, voice, voice_speed=100, pitch="medium")
    expected = len(spoken) / (2 * ESPEAK_RATE)
    assert 0.7 * expected < reply.duration < 1.5 * expected, (expected, described(reply))
    if lang.code != "ar":
        assert arabic_share(reply.transcript) == 0.0, described(reply)

    # The record: the greeting, the caller's words as the agent heard them, the model's reply.
    assert record["status"] == "success", record
    transcript = record["transcript"]
    speakers = [m["speaker"] for m in transcript]
    assert speakers[:3] == ["agent", "user", "agent"], transcript
    assert transcript[0]["text"] == lang.greeting
    heard = transcript[1]["text"]
    if lang.content_words:
        assert lang.content_words & words(heard), heard
    else:  # Whisper base told the language writes Arabic (mostly: it can mix in Latin words)
        assert arabic_share(heard) > 0.0, heard
    assert transcript[2]["text"] == lang.reply, transcript
    # The model was asked with what the agent heard.
    said_to_model = [
        str(m.get("content")) for body in asked for m in body["messages"] if m["role"] == "user"
    ]
    assert any(heard in text for text in said_to_model), (heard, said_to_model)
