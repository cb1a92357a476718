"""Making ElevenLabs voices through the control plane's client (`control_plane.providers`)
against the local fake ElevenLabs: design previews and keep one, instant clones, deletion, and
the errors the control plane maps to statuses."""

from __future__ import annotations

import contextlib
import io
import wave
from collections.abc import AsyncIterator

import aiohttp
import httpx
import numpy as np
import pytest
from livekit.plugins import elevenlabs as lk_elevenlabs

from control_plane.providers import (
    KeyRejectedError,
    ProviderEndpoints,
    ProviderRequestError,
    ProviderUnavailableError,
    VoiceListCache,
    clone_voice,
    create_designed_voice,
    delete_voice,
    design_voice_previews,
    elevenlabs_speech,
)
from control_plane.voices.catalog import Voice
from fake_providers.common import ESPEAK_RATE, synthesize
from fake_providers.elevenlabs import FakeElevenLabs
from shared.audio import decode_to_mono
from tests.conftest import ELEVENLABS_KEY, ELEVENLABS_OTHER_KEY

pytestmark = pytest.mark.integration

DESCRIPTION = "A calm middle-aged woman with a warm, low voice and a British accent."
PREVIEW_TEXT = (
    "Good morning, and thank you for calling the bakery on Elm Street. We open at seven "
    "every day, and the first loaves come out of the oven at half past."
)
SPOKEN = "Your order will be ready in ten minutes."


@pytest.fixture(scope="module")
def endpoints(fake_elevenlabs: FakeElevenLabs) -> ProviderEndpoints:
    assert fake_elevenlabs.base_url
    return ProviderEndpoints(
        elevenlabs_base_url=fake_elevenlabs.base_url, openai_base_url="http://127.0.0.1:9/v1"
    )


@pytest.fixture
async def made(endpoints: ProviderEndpoints) -> AsyncIterator[list[tuple[str, str]]]:
    """(key, voice_id) of voices a test made; the ones it did not delete go afterwards."""
    voices: list[tuple[str, str]] = []
    yield voices
    for key, voice_id in voices:
        with contextlib.suppress(LookupError):
            await delete_voice(endpoints, key, voice_id)


async def listed(endpoints: ProviderEndpoints, key: str) -> dict[str, Voice]:
    """The key's voices as the control plane lists them (nothing cached)."""
    return {v.voice_id: v for v in await VoiceListCache(ttl=0).voices(key, endpoints)}


def wav_of(pcm: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype("<i2").tobytes())
    return buffer.getvalue()


async def speak(endpoints: ProviderEndpoints, key: str, voice_id: str) -> np.ndarray:
    pcm, _ = await elevenlabs_speech(
        endpoints,
        key,
        voice_id=voice_id,
        text=SPOKEN,
        model_id="eleven_turbo_v2_5",
        language="en",
        stability=0.5,
        similarity_boost=0.75,
        style=0.0,
        speed=1.0,
    )
    return pcm


async def stream_speech(base_url: str, key: str, voice_id: str) -> float:
    """Seconds of speech the websocket TTS (the plugin's streaming path) gives in `voice_id`."""
    async with aiohttp.ClientSession() as session:
        tts = lk_elevenlabs.TTS(
            api_key=key,
            base_url=base_url,
            voice_id=voice_id,
            encoding="pcm_24000",
            http_session=session,
        )
        try:
            stream = tts.stream()
            stream.push_text(SPOKEN)
            stream.end_input()
            frames = [ev.frame async for ev in stream]
        finally:
            await tts.aclose()
    return sum(f.samples_per_channel for f in frames) / 24000


async def test_a_designed_voice_is_kept_listed_spoken_and_deleted(
    endpoints: ProviderEndpoints, fake_elevenlabs: FakeElevenLabs, made: list[tuple[str, str]]
) -> None:
    previews = await design_voice_previews(
        endpoints, ELEVENLABS_KEY, description=DESCRIPTION, text=PREVIEW_TEXT
    )
    assert len(previews) == 3
    assert len({p.generated_voice_id for p in previews}) == 3
    assert len({p.audio for p in previews}) == 3, "the three previews sound the same"
    for preview in previews:
        assert preview.media_type == "audio/mpeg"
        seconds = decode_to_mono(preview.audio, 16000).size / 16000
        assert preview.duration_secs is not None
        assert seconds > 3.0 and abs(seconds - preview.duration_secs) < 0.5
    design = [r for r in fake_elevenlabs.state.requests if r.route == "voice_design"][-1]
    assert design.api_key == ELEVENLABS_KEY and design.status == 200
    assert design.body["voice_description"] == DESCRIPTION

    voice_id = await create_designed_voice(
        endpoints,
        ELEVENLABS_KEY,
        name="Bakery narrator",
        description=DESCRIPTION,
        generated_voice_id=previews[1].generated_voice_id,
        labels={"language": "en", "use_case": "conversational"},
    )
    made.append((ELEVENLABS_KEY, voice_id))
    voice = (await listed(endpoints, ELEVENLABS_KEY))[voice_id]
    assert (voice.name, voice.category, voice.gender) == ("Bakery narrator", "generated", "female")
    assert voice.accent == "british" and voice.use_case == "conversational"
    assert voice_id not in await listed(endpoints, ELEVENLABS_OTHER_KEY)

    assert (await speak(endpoints, ELEVENLABS_KEY, voice_id)).size > 0.5 * 24000
    assert fake_elevenlabs.state.requests[-1].route == "tts_stream"
    assert await stream_speech(endpoints.elevenlabs_base_url, ELEVENLABS_KEY, voice_id) > 0.5
    assert fake_elevenlabs.state.requests[-1].route == "tts_ws"
    with pytest.raises(LookupError):
        await speak(endpoints, ELEVENLABS_OTHER_KEY, voice_id)

    await delete_voice(endpoints, ELEVENLABS_KEY, voice_id)
    assert voice_id not in await listed(endpoints, ELEVENLABS_KEY)
    with pytest.raises(LookupError):
        await delete_voice(endpoints, ELEVENLABS_KEY, voice_id)
    with pytest.raises(LookupError):
        await speak(endpoints, ELEVENLABS_KEY, voice_id)


async def test_design_writes_its_own_text_when_given_none(endpoints: ProviderEndpoints) -> None:
    previews = await design_voice_previews(
        endpoints,
        ELEVENLABS_KEY,
        description="A deep, gravelly old man telling ghost stories.",
        text="",
    )
    assert len(previews) == 3 and all(p.audio for p in previews)


@pytest.mark.parametrize(
    ("description", "text", "field"),
    [
        ("Too short.", PREVIEW_TEXT, "voice_description"),
        (DESCRIPTION, "Hello there.", "text"),
        ("x" * 1001, PREVIEW_TEXT, "voice_description"),
    ],
)
async def test_design_refuses_what_elevenlabs_refuses(
    endpoints: ProviderEndpoints, description: str, text: str, field: str
) -> None:
    with pytest.raises(ProviderRequestError) as refused:
        await design_voice_previews(endpoints, ELEVENLABS_KEY, description=description, text=text)
    assert field in str(refused.value) and "characters" in str(refused.value)


async def test_a_preview_belongs_to_the_key_that_designed_it(
    endpoints: ProviderEndpoints,
) -> None:
    [preview, *_] = await design_voice_previews(
        endpoints, ELEVENLABS_KEY, description=DESCRIPTION, text=PREVIEW_TEXT
    )
    for key, generated_voice_id in [
        (ELEVENLABS_OTHER_KEY, preview.generated_voice_id),
        (ELEVENLABS_KEY, "nOsUcHpReViEw0000000"),
    ]:
        with pytest.raises(LookupError, match="generated_voice_id"):
            await create_designed_voice(
                endpoints,
                key,
                name="Not mine",
                description=DESCRIPTION,
                generated_voice_id=generated_voice_id,
            )
    assert not [
        v for v in (await listed(endpoints, ELEVENLABS_OTHER_KEY)).values() if v.name == "Not mine"
    ]


async def test_a_clone_of_a_recording_is_listed_and_spoken(
    endpoints: ProviderEndpoints, fake_elevenlabs: FakeElevenLabs, made: list[tuple[str, str]]
) -> None:
    recording = wav_of(
        synthesize("Hello, this is my own voice, recorded for a clone of it.", "en-us+f3"),
        ESPEAK_RATE,
    )
    voice_id = await clone_voice(
        endpoints,
        ELEVENLABS_OTHER_KEY,
        name="Front desk",
        files=[("desk.wav", recording, "audio/wav"), ("desk-2.wav", recording, "audio/wav")],
        description="Our receptionist",
        labels={"accent": "american"},
    )
    made.append((ELEVENLABS_OTHER_KEY, voice_id))
    voice = (await listed(endpoints, ELEVENLABS_OTHER_KEY))[voice_id]
    assert (voice.name, voice.category, voice.accent) == ("Front desk", "cloned", "american")
    assert voice.gender == "female", "the clone's gender is heard from the recording"
    assert voice_id not in await listed(endpoints, ELEVENLABS_KEY)
    clone = [r for r in fake_elevenlabs.state.requests if r.route == "voice_clone"][-1]
    assert clone.status == 200 and clone.body["name"] == "Front desk"
    assert [f["filename"] for f in clone.body["files"]] == ["desk.wav", "desk-2.wav"]
    assert (await speak(endpoints, ELEVENLABS_OTHER_KEY, voice_id)).size > 0.5 * 24000


async def test_a_clip_that_is_not_audio_is_refused(endpoints: ProviderEndpoints) -> None:
    before = await listed(endpoints, ELEVENLABS_KEY)
    with pytest.raises(ProviderRequestError, match="notes.txt"):
        await clone_voice(
            endpoints,
            ELEVENLABS_KEY,
            name="Garbage",
            files=[("notes.txt", b"these are not the sounds of a voice" * 20, "audio/mpeg")],
        )
    with pytest.raises(ProviderRequestError, match="files"):
        await clone_voice(endpoints, ELEVENLABS_KEY, name="Nothing", files=[])
    assert await listed(endpoints, ELEVENLABS_KEY) == before


async def test_a_library_voice_cannot_be_deleted(endpoints: ProviderEndpoints) -> None:
    premade = next(
        v for v in (await listed(endpoints, ELEVENLABS_KEY)).values() if v.category == "premade"
    )
    with pytest.raises(ProviderRequestError):
        await delete_voice(endpoints, ELEVENLABS_KEY, premade.voice_id)
    assert premade.voice_id in await listed(endpoints, ELEVENLABS_KEY)


async def test_a_rejected_key_is_a_key_error(endpoints: ProviderEndpoints) -> None:
    wrong = "sk_test_eleven_wrong_9999"
    with pytest.raises(KeyRejectedError):
        await design_voice_previews(endpoints, wrong, description=DESCRIPTION, text=PREVIEW_TEXT)
    with pytest.raises(KeyRejectedError):
        await create_designed_voice(
            endpoints, wrong, name="x", description=DESCRIPTION, generated_voice_id="abc"
        )
    with pytest.raises(KeyRejectedError):
        await clone_voice(endpoints, wrong, name="x", files=[("a.wav", b"RIFF", "audio/wav")])
    with pytest.raises(KeyRejectedError):
        await delete_voice(endpoints, wrong, "21m00Tcm4TlvDq8ikWAM")


async def test_an_outage_is_unavailable(
    endpoints: ProviderEndpoints, fake_elevenlabs: FakeElevenLabs
) -> None:
    fake_elevenlabs.set_fault("voice_design", status=503, times=1)
    try:
        with pytest.raises(ProviderUnavailableError):
            await design_voice_previews(
                endpoints, ELEVENLABS_KEY, description=DESCRIPTION, text=PREVIEW_TEXT
            )
    finally:
        fake_elevenlabs.state.faults.pop("voice_design", None)
    unreachable = ProviderEndpoints("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(ProviderUnavailableError):
        await delete_voice(unreachable, ELEVENLABS_KEY, "21m00Tcm4TlvDq8ikWAM")


async def test_the_older_design_paths_answer_alike(
    endpoints: ProviderEndpoints, made: list[tuple[str, str]]
) -> None:
    """``create-previews`` and ``create-voice-from-preview``, which older clients still call."""
    async with httpx.AsyncClient(
        base_url=endpoints.elevenlabs_base_url, headers={"xi-api-key": ELEVENLABS_KEY}, timeout=60
    ) as client:
        resp = await client.post(
            "/text-to-voice/create-previews",
            json={"voice_description": DESCRIPTION, "text": PREVIEW_TEXT},
        )
        assert resp.status_code == 200, resp.text
        previews = resp.json()["previews"]
        assert len(previews) == 3 and resp.json()["text"] == PREVIEW_TEXT
        resp = await client.post(
            "/text-to-voice/create-voice-from-preview",
            json={
                "voice_name": "Legacy narrator",
                "voice_description": DESCRIPTION,
                "generated_voice_id": previews[0]["generated_voice_id"],
            },
        )
        assert resp.status_code == 200, resp.text
    voice_id = resp.json()["voice_id"]
    made.append((ELEVENLABS_KEY, voice_id))
    assert resp.json()["category"] == "generated"
    assert voice_id in await listed(endpoints, ELEVENLABS_KEY)
