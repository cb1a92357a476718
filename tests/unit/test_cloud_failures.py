"""Provider failures through the pipeline a call gets (`build_tts` / `build_llm` / `build_stt`)
against the fake vendors: retryable failures are retried on the cloud provider, the rest fall
back to the local engine at once, and the caller's audio or answer always comes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import llm as lk_llm

from agent.contract import AgentConfig
from fake_providers.common import Fault
from fake_providers.elevenlabs import FakeElevenLabs
from fake_providers.openai import FakeOpenAI
from pipelines.cloud import attempt_options, is_fallback, unheard_text
from pipelines.factory import Engines, build_llm, build_stt, build_tts
from pipelines.settings import CloudSettings, ProviderCredentials

ELEVEN_KEY = "sk_unit_eleven_0001"
OPENAI_KEY = "sk-unit-openai-0002"
KEYS = ProviderCredentials(elevenlabs=ELEVEN_KEY, openai=OPENAI_KEY)
VOICE = "EXAVITQu4vr4xnSDxMaL"
TEXT = "Your order will be ready in ten minutes."


@pytest.fixture
async def eleven() -> AsyncIterator[FakeElevenLabs]:
    async with FakeElevenLabs(valid_keys=[ELEVEN_KEY], fixed_transcript="two croissants") as f:
        yield f


@pytest.fixture
async def oai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(api_keys=[OPENAI_KEY], fixed_transcript="two croissants")
    async with fake:
        yield fake


@pytest.fixture
def cloud_engines(engines, eleven, oai) -> Engines:
    clone = object.__new__(Engines)
    settings = dataclasses.replace(
        engines.settings,
        cloud=CloudSettings(
            elevenlabs_base_url=eleven.base_url,
            openai_base_url=oai.base_url,
            timeout=2.0,
            max_retry=2,
            retry_interval=0.05,
            tts_timeout=1.0,
            tts_max_retry=2,
        ),
    )
    clone.__dict__.update(engines.__dict__, settings=settings)
    return clone


def statuses(fake, route: str) -> list[int | None]:
    return [r.status for r in fake.state.requests if r.route == route]


async def speak(tts, cloud: CloudSettings) -> float:
    """Seconds of audio the TTS streams for TEXT, with a call's connect options."""
    samples = 0
    stream = tts.stream(
        conn_options=attempt_options(cloud, cloud_first=is_fallback(tts), voice=True)
    )
    stream.push_text(TEXT)
    stream.end_input()
    async with stream:
        async for audio in stream:
            samples += audio.frame.samples_per_channel
    return samples / tts.sample_rate


async def test_elevenlabs_voice_speaks_when_healthy(http, cloud_engines, eleven):
    tts = build_tts(AgentConfig(voice_id=VOICE), cloud_engines, KEYS)
    assert await speak(tts, cloud_engines.settings.cloud) > 1.0
    assert [r.api_key for r in eleven.state.requests if r.route == "tts_ws"] == [ELEVEN_KEY]
    assert tts._status[0].available


async def test_a_refused_websocket_is_retried_then_served_by_elevenlabs(
    http, cloud_engines, eleven
):
    eleven.set_fault("tts_ws", status=503, times=1)
    tts = build_tts(AgentConfig(voice_id=VOICE), cloud_engines, KEYS)
    assert await speak(tts, cloud_engines.settings.cloud) > 1.0
    handshakes = [r for r in eleven.state.requests if r.route == "tts_ws"]
    assert len(handshakes) == 2  # refused once, then served
    assert tts._status[0].available, "a retried success keeps ElevenLabs as the voice"


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=401),  # a revoked key: not retryable
        Fault(status=500),  # down for good
        Fault(drop_after_chunks=0),  # the websocket drops before any audio
        Fault(latency_ms=4000),  # slower than the attempt timeout
    ],
    ids=["401", "500", "dropped", "timeout"],
)
async def test_elevenlabs_failures_fall_back_to_the_local_voice(
    http, cloud_engines, eleven, fault, caplog
):
    eleven.state.faults["tts_ws"] = fault
    tts = build_tts(AgentConfig(voice_id=VOICE), cloud_engines, KEYS)
    changes = []
    tts.on("tts_availability_changed", lambda ev: changes.append((ev.tts.label, ev.available)))
    assert (
        await speak(tts, cloud_engines.settings.cloud) > 1.0
    )  # the caller still hears the whole sentence
    assert changes and changes[0] == ("livekit.plugins.elevenlabs.tts.TTS", False)
    # The framework logs each retry; the fallback then probes ElevenLabs in the background.
    retries = caplog.text.count("retrying in")
    if fault.status == 401:
        assert retries == 0, "a rejected key is not retried"
    else:
        assert retries == 2, "a retryable failure is retried before falling back"
    await tts.aclose()


async def test_openai_model_failing_falls_back_to_the_embedded_model(http, cloud_engines, oai):
    oai.state.faults["chat"] = Fault(status=429)
    llm = build_llm(AgentConfig(llm_model="gpt-4o-mini"), cloud_engines.settings, KEYS)
    primary, local = llm._llm_instances
    # The embedded model is not running in unit tests: stand its endpoint in with the fake's
    # healthy twin, so the answer shows which one served.
    healthy = FakeOpenAI(replies=["The embedded model answers."])
    base = await healthy.start()
    try:
        local._client = local._client.with_options(base_url=base)
        ctx = lk_llm.ChatContext()
        ctx.add_message(role="user", content="Do you have croissants?")
        text = ""
        async with llm.chat(chat_ctx=ctx) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    text += chunk.delta.content
    finally:
        await healthy.stop()
    assert text == "The embedded model answers."
    # Tried and retried twice before the fallback (then probed in the background).
    assert statuses(oai, "chat")[:3] == [429] * 3


async def test_openai_transcription_and_speech_through_the_call_pipeline(http, cloud_engines, oai):
    config = AgentConfig(voice_id="openai:alloy", stt_provider="openai")
    tts = build_tts(config, cloud_engines, KEYS)
    assert await speak(tts, cloud_engines.settings.cloud) > 1.0
    assert statuses(oai, "speech") == [200]

    stt = build_stt(config, cloud_engines, KEYS)
    recognizer = stt._stt_instances[0].wrapped_stt
    tone = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220) * 8000).astype(np.int16)
    frame = rtc.AudioFrame(tone.tobytes(), 16000, 1, len(tone))
    event = await recognizer.recognize(frame)
    assert event.alternatives[0].text == "two croissants"
    assert [r.api_key for r in oai.state.requests if r.route == "transcriptions"] == [OPENAI_KEY]


LONG = "Your order will be ready in ten minutes. Thank you for waiting, and have a lovely day."


async def speak_long(tts, cloud: CloudSettings) -> float:
    samples = 0
    stream = tts.stream(conn_options=attempt_options(cloud, cloud_first=True, voice=True))
    for word in LONG.split(" "):  # as an LLM streams it
        stream.push_text(word + " ")
    stream.end_input()
    async with stream:
        async for audio in stream:
            samples += audio.frame.samples_per_channel
    return samples / tts.sample_rate


async def test_a_voice_failing_mid_reply_hands_the_rest_to_the_local_voice(
    http, cloud_engines, eleven
):
    healthy = build_tts(AgentConfig(voice_id=VOICE), cloud_engines, KEYS)
    full = await speak_long(healthy, cloud_engines.settings.cloud)
    await healthy.aclose()

    # Two audio messages (0.4 s) reach the caller, then the websocket drops.
    eleven.state.faults["tts_ws"] = Fault(drop_after_chunks=2)
    tts = build_tts(AgentConfig(voice_id=VOICE), cloud_engines, KEYS)
    heard = await speak_long(tts, cloud_engines.settings.cloud)
    await tts.aclose()
    assert not tts._status[0].available
    # The local voice spoke the rest: about as long as the whole reply (another voice and
    # pace), far more than the 0.4 s the cloud voice managed.
    assert heard > 0.6 * full, (heard, full)


def test_unheard_text_follows_the_spoken_words():
    text = "Your order will be ready in ten minutes. Thank you!"
    assert unheard_text(text, ["Your", "order"]) == "will be ready in ten minutes. Thank you!"
    assert unheard_text(text, ["your ", "ORDER,", "will"]) == "be ready in ten minutes. Thank you!"
    assert unheard_text(text, []) == text
    assert unheard_text(text, ["Your", "odor", "will"]) == "be ready in ten minutes. Thank you!"
    assert unheard_text(text, text.split()) == ""
