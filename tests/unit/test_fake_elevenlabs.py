"""The fake ElevenLabs server, driven by the real livekit ElevenLabs plugin and plain HTTP.

Every test runs the unchanged client code against the fake by base URL, so a pass means the
fake speaks the wire formats the plugin expects (endpoints, JSON messages, audio encodings,
error statuses).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import numpy as np
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, APIError, APIStatusError
from livekit.agents import stt as agents_stt
from livekit.plugins import elevenlabs

from fake_providers.common import ESPEAK_RATE, synthesize
from fake_providers.elevenlabs import FakeElevenLabs, default_own_voices
from shared.audio import resample

KEY = "xi-test-key"
SENTENCE = "Hello there, this is a test of the fake speech server."
NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)


@pytest.fixture
async def server() -> AsyncIterator[FakeElevenLabs]:
    async with FakeElevenLabs(fixed_transcript="hello world how are you") as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_tts(server: FakeElevenLabs, http: aiohttp.ClientSession, **kwargs) -> elevenlabs.TTS:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("encoding", "pcm_24000")
    return elevenlabs.TTS(base_url=server.base_url, http_session=http, **kwargs)


def speech_frames(text: str, rate: int = 16000, lead: float = 0.4, trail: float = 0.6):
    """espeak-ng speech of `text` with silence around it, as 20 ms frames at `rate`."""
    speech = resample(synthesize(text), ESPEAK_RATE, rate)
    pcm = np.concatenate(
        [np.zeros(int(lead * rate), np.int16), speech, np.zeros(int(trail * rate), np.int16)]
    )
    n = rate // 50
    pcm = np.pad(pcm, (0, -len(pcm) % n))
    return [rtc.AudioFrame(pcm[i : i + n].tobytes(), rate, 1, n) for i in range(0, len(pcm), n)]


def duration(frames: list[rtc.AudioFrame]) -> float:
    return sum(f.samples_per_channel for f in frames) / frames[0].sample_rate


def statuses(server: FakeElevenLabs, route: str) -> list[int | None]:
    return [r.status for r in server.state.requests if r.route == route]


# --- text to speech through the plugin -----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["pcm_24000", "mp3_22050_32"])
async def test_plugin_chunked_synthesis(server, http, encoding):
    tts = make_tts(server, http, encoding=encoding)
    frames = [ev.frame async for ev in tts.synthesize(SENTENCE)]
    rate = int(encoding.split("_")[1])
    assert frames and all(f.sample_rate == rate and f.num_channels == 1 for f in frames)
    assert 1.5 < duration(frames) < 6.0
    samples = np.concatenate([np.frombuffer(f.data, np.int16) for f in frames])
    assert np.abs(samples).max() > 1000  # speech, not silence
    [record] = server.state.requests
    assert record.route == "tts_stream" and record.status == 200 and record.api_key == KEY
    assert record.body["text"] == SENTENCE and record.body["output_format"] == encoding
    assert server.characters_used(KEY) == len(SENTENCE)
    await tts.aclose()


@pytest.mark.parametrize("encoding", ["pcm_24000", "mp3_22050_32", "pcm_16000"])
async def test_plugin_streaming_synthesis(server, http, encoding):
    tts = make_tts(server, http, encoding=encoding)
    stream = tts.stream()
    for piece in ["Hello ", "there. ", "How are ", "you doing ", "today? ", "Fine, thanks."]:
        stream.push_text(piece)
    stream.flush()
    stream.end_input()
    events = [ev async for ev in stream]
    frames = [ev.frame for ev in events]
    assert all(f.sample_rate == int(encoding.split("_")[1]) for f in frames)
    assert 1.5 < duration(frames) < 8.0
    [record] = server.state.requests
    assert record.route == "tts_ws" and record.status == 101
    assert record.body["contexts"] == 1 and record.body["audio_messages"] >= 3
    assert "How are you doing today?" in record.body["text"]
    await tts.aclose()


async def test_plugin_streams_share_one_socket(server, http):
    """Two turns reuse the plugin's websocket as two contexts, like the real multi-stream API."""
    tts = make_tts(server, http)
    for text in ("First turn here.", "And a second turn."):
        stream = tts.stream()
        stream.push_text(text)
        stream.end_input()
        frames = [ev.frame async for ev in stream]
        assert duration(frames) > 0.5
    [record] = server.state.requests
    assert record.body["contexts"] == 2
    await tts.aclose()


async def test_plugin_dialogue_model(server, http):
    """eleven_v3 goes through text-to-dialogue (HTTP stream and multi-stream websocket)."""
    tts = make_tts(server, http, model="eleven_v3")
    frames = [ev.frame async for ev in tts.synthesize("A line of dialogue.")]
    assert duration(frames) > 0.5
    stream = tts.stream()
    stream.push_text("Streamed dialogue works too.")
    stream.end_input()
    frames = [ev.frame async for ev in stream]
    assert duration(frames) > 0.5
    assert [r.route for r in server.state.requests] == ["dialogue", "dialogue_ws"]
    await tts.aclose()


async def test_tts_first_byte_latency_profile(http):
    async with FakeElevenLabs(tts_ttfb_ms=150) as fake:
        tts = make_tts(fake, http)
        t0 = time.monotonic()
        async for _ in tts.synthesize("Short."):
            break
        assert time.monotonic() - t0 >= 0.15
        await tts.aclose()


async def test_plugin_unknown_voice_is_404(server, http):
    tts = make_tts(server, http, voice_id="doesNotExist00000000")
    with pytest.raises(APIStatusError) as err:
        await tts.synthesize("Hi.", conn_options=NO_RETRY).collect()
    assert err.value.status_code == 404
    await tts.aclose()


async def test_plugin_bad_key_is_401(http):
    async with FakeElevenLabs(valid_keys={"good"}) as fake:
        tts = make_tts(fake, http, api_key="bad")
        with pytest.raises(APIStatusError) as err:
            await tts.synthesize("Hi.").collect()
        assert err.value.status_code == 401 and not err.value.retryable
        stream = tts.stream()
        stream.push_text("Hi.")
        stream.end_input()
        with pytest.raises(APIStatusError) as err:
            async for _ in stream:
                pass
        assert err.value.status_code == 401
        # one attempt each: a 401 is not retried
        assert statuses(fake, "tts_stream") == [401] and statuses(fake, "tts_ws") == [401]
        assert fake.state.requests[0].body["text"] == "Hi."
        await tts.aclose()


async def test_plugin_retries_an_injected_500(server, http):
    server.set_fault("tts_stream", status=500, times=1)
    tts = make_tts(server, http)
    frames = [ev.frame async for ev in tts.synthesize(SENTENCE)]
    assert duration(frames) > 1.0
    assert statuses(server, "tts_stream") == [500, 200]
    await tts.aclose()


async def test_plugin_retries_a_refused_websocket_handshake(server, http):
    server.set_fault("tts_ws", status=503, times=1)
    tts = make_tts(server, http)
    stream = tts.stream()
    stream.push_text(SENTENCE)
    stream.end_input()
    frames = [ev.frame async for ev in stream]
    assert duration(frames) > 1.0
    assert statuses(server, "tts_ws") == [503, 101]
    await tts.aclose()


async def test_dropped_websocket_fails_the_stream(server, http):
    server.set_fault("tts_ws", drop_after_chunks=2)
    tts = make_tts(server, http)
    stream = tts.stream(conn_options=NO_RETRY)
    stream.push_text(SENTENCE)
    stream.end_input()
    with pytest.raises(APIError):
        async for _ in stream:
            pass
    [record] = server.state.requests
    assert record.body["audio_messages"] == 2 and record.body["dropped_after_chunks"] == 2
    await tts.aclose()


async def test_dropped_http_stream_fails_the_synthesis(server, http):
    server.set_fault("tts_stream", drop_after_chunks=1)
    tts = make_tts(server, http)
    with pytest.raises(APIError):
        await tts.synthesize(SENTENCE, conn_options=NO_RETRY).collect()
    await tts.aclose()


async def test_chunk_delay_slows_the_stream(server, http):
    server.set_fault("tts_stream", chunk_delay_ms=40)
    tts = make_tts(server, http)
    t0 = time.monotonic()
    frames = [ev.frame async for ev in tts.synthesize(SENTENCE)]
    chunks = -(-int(duration(frames) * 1000) // int(server.audio_chunk_ms))
    assert time.monotonic() - t0 >= 0.04 * (chunks - 2)
    await tts.aclose()


# --- the websocket protocols, spoken directly ----------------------------------------------------


async def test_multi_stream_input_contexts(server, http):
    """Two interleaved contexts: audio with alignment per context, isFinal after close_context."""
    url = server.base_url.replace("http", "ws")
    ws_url = f"{url}/text-to-speech/{default_own_voices(KEY)[0]['voice_id']}/multi-stream-input"
    async with http.ws_connect(
        f"{ws_url}?model_id=eleven_flash_v2_5&output_format=pcm_16000",
        headers={"xi-api-key": KEY},
    ) as ws:
        for ctx in ("a", "b"):
            await ws.send_json({"text": " ", "context_id": ctx, "voice_settings": {}})
        await ws.send_json({"text": "Context A speaks. ", "context_id": "a"})
        await ws.send_json({"text": "Context B speaks", "context_id": "b", "flush": True})
        for ctx in ("a", "b"):
            await ws.send_json({"context_id": ctx, "close_context": True})
        audio: dict[str, bytes] = {"a": b"", "b": b""}
        chars: dict[str, str] = {"a": "", "b": ""}
        finals = set()
        while finals != {"a", "b"}:
            msg = json.loads((await ws.receive(timeout=10)).data)
            ctx = msg["contextId"]
            if msg.get("isFinal"):
                finals.add(ctx)
                continue
            audio[ctx] += base64.b64decode(msg["audio"])
            if msg["normalizedAlignment"]:
                chars[ctx] += "".join(msg["normalizedAlignment"]["chars"])
        assert chars == {"a": "Context A speaks. ", "b": "Context B speaks"}
        assert all(len(pcm) / 2 / 16000 > 0.5 for pcm in audio.values())


async def test_stream_input_single_context_with_key_in_first_message(server, http):
    url = server.base_url.replace("http", "ws")
    ws_url = f"{url}/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input"
    async with http.ws_connect(f"{ws_url}?model_id=eleven_turbo_v2_5") as ws:
        await ws.send_json({"text": " ", "xi_api_key": KEY})
        await ws.send_json({"text": "Hello from the single context. "})
        await ws.send_json({"text": ""})  # EOS
        messages = []
        async for msg in ws:
            messages.append(json.loads(msg.data))
        assert messages[-1] == {"isFinal": True}
        mp3 = b"".join(base64.b64decode(m["audio"]) for m in messages[:-1])
        assert len(mp3) > 4000 and mp3[:2] == b"\xff\xfb"  # bare MPEG-1 frames, 44.1 kHz
    assert ws.closed and server.state.requests[0].api_key == KEY


async def test_websocket_key_in_message_must_be_valid(http):
    async with FakeElevenLabs(valid_keys={"good"}) as fake:
        url = fake.base_url.replace("http", "ws")
        async with http.ws_connect(f"{url}/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input") as ws:
            await ws.send_json({"text": " ", "xi_api_key": "bad"})
            msg = await ws.receive_json(timeout=5)
            assert msg["error"] == "invalid_api_key"
            await ws.receive(timeout=5)
            assert ws.close_code == 1008


# --- speech to text ------------------------------------------------------------------------------


async def test_plugin_recognize_fixed_transcript(server, http):
    stt = elevenlabs.STT(api_key=KEY, base_url=server.base_url, http_session=http)
    event = await stt.recognize(speech_frames("hello world how are you"))
    alt = event.alternatives[0]
    assert event.type == agents_stt.SpeechEventType.FINAL_TRANSCRIPT
    assert alt.text == "hello world how are you" and alt.language == "en"
    assert 0.2 < alt.start_time < alt.end_time < 3.0
    assert [w for w in alt.words or []][:2] == ["hello", " "]
    [record] = server.state.requests
    assert record.route == "stt" and record.body["model_id"] == "scribe_v1"


async def test_plugin_recognize_silence_is_empty(server, http):
    stt = elevenlabs.STT(api_key=KEY, base_url=server.base_url, http_session=http)
    silence = [rtc.AudioFrame.create(16000, 1, 320) for _ in range(50)]
    event = await stt.recognize(silence)
    assert event.alternatives[0].text == ""


async def test_plugin_recognize_with_whisper(http):
    async with FakeElevenLabs() as fake:
        stt = elevenlabs.STT(api_key=KEY, base_url=fake.base_url, http_session=http)
        event = await stt.recognize(speech_frames("hello world, how are you today"))
        heard = event.alternatives[0].text.lower()
        assert "world" in heard and "today" in heard


async def test_plugin_recognize_bad_key_is_401(http):
    async with FakeElevenLabs(valid_keys={"good"}) as fake:
        stt = elevenlabs.STT(api_key="bad", base_url=fake.base_url, http_session=http)
        with pytest.raises(APIStatusError) as err:
            await stt.recognize(speech_frames("hi"), conn_options=NO_RETRY)
        assert err.value.status_code == 401


@pytest.mark.parametrize("server_vad", [None, {}], ids=["manual-commit", "server-vad"])
async def test_plugin_realtime_stream(server, http, server_vad):
    stt = elevenlabs.STT(
        api_key=KEY,
        base_url=server.base_url,
        http_session=http,
        model="scribe_v2_realtime",
        server_vad=server_vad,
    )
    stream = stt.stream()
    for frame in speech_frames("hello world how are you", trail=1.8):
        stream.push_frame(frame)
    if server_vad is None:
        stream.flush()
    events = []
    async for event in stream:
        events.append(event)
        if event.type == agents_stt.SpeechEventType.FINAL_TRANSCRIPT:
            break
    await stream.aclose()
    types = [e.type for e in events]
    assert agents_stt.SpeechEventType.START_OF_SPEECH in types
    final = events[-1].alternatives[0]
    assert final.text == "hello world how are you" and final.language == "en"
    for e in events:
        if e.type == agents_stt.SpeechEventType.INTERIM_TRANSCRIPT:
            assert "hello world how are you".startswith(e.alternatives[0].text)
    [record] = server.state.requests
    assert record.route == "stt_ws" and record.body["commits"] == 1
    assert record.body["commit_strategy"] == ("manual" if server_vad is None else "vad")


async def test_realtime_commit_needs_enough_audio(server, http):
    url = server.base_url.replace("http", "ws")
    async with http.ws_connect(
        f"{url}/speech-to-text/realtime?model_id=scribe_v2_realtime&audio_format=pcm_16000",
        headers={"xi-api-key": KEY},
    ) as ws:
        assert (await ws.receive_json(timeout=5))["message_type"] == "session_started"
        audio = base64.b64encode(np.zeros(1600, np.int16).tobytes()).decode()  # 0.1 s
        await ws.send_json(
            {"message_type": "input_audio_chunk", "audio_base_64": audio, "commit": True}
        )
        msg = await ws.receive_json(timeout=5)
        assert msg["message_type"] == "commit_throttled"
        await ws.receive(timeout=5)
        assert ws.closed


async def test_realtime_single_use_token(server, http):
    async with http.post(
        f"{server.base_url}/single-use-token/realtime_scribe", headers={"xi-api-key": KEY}
    ) as resp:
        token = (await resp.json())["token"]
    url = server.base_url.replace("http", "ws")
    query = f"model_id=scribe_v2_realtime&token={token}"
    async with http.ws_connect(f"{url}/speech-to-text/realtime?{query}") as ws:
        assert (await ws.receive_json(timeout=5))["message_type"] == "session_started"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await http.ws_connect(f"{url}/speech-to-text/realtime?{query}")  # single use
    assert err.value.status == 401


async def test_realtime_dropped_socket_fails_the_stream(server, http):
    server.set_fault("stt_ws", drop_after_chunks=5)
    stt = elevenlabs.STT(
        api_key=KEY, base_url=server.base_url, http_session=http, model="scribe_v2_realtime"
    )
    stream = stt.stream(conn_options=NO_RETRY)
    for frame in speech_frames("hello world"):
        stream.push_frame(frame)
    stream.flush()
    with pytest.raises(APIError):
        async for _ in stream:
            pass
    await stream.aclose()


# --- account routes over plain HTTP --------------------------------------------------------------


def test_user_and_voices_over_httpx_from_a_thread():
    with FakeElevenLabs(character_limit=5000) as fake:
        headers = {"xi-api-key": KEY}
        with httpx.Client(base_url=fake.base_url, timeout=10) as client:
            user = client.get("/user", headers=headers)
            assert user.status_code == 200
            sub = user.json()["subscription"]
            assert sub["tier"] == "creator" and sub["character_limit"] == 5000
            assert sub["character_count"] == 0 and user.json()["user_id"]

            bad = client.get("/user", headers={"xi-api-key": ""})
            assert bad.status_code == 401
            assert bad.json()["detail"]["status"] == "invalid_api_key"

            voices = client.get("/voices", headers=headers).json()["voices"]
            own = [v for v in voices if v["category"] in ("cloned", "generated")]
            assert len(own) == 2 and all(v["is_owner"] for v in own)
            premade = [v for v in voices if v["category"] == "premade"]
            assert len(premade) > 20 and {"gender", "accent"} <= premade[0]["labels"].keys()
            other = client.get("/voices", headers={"xi-api-key": "other"}).json()["voices"]
            assert {v["voice_id"] for v in own}.isdisjoint(v["voice_id"] for v in other)

            v2 = httpx.get(
                f"{fake.root_url}/v2/voices",
                params={"voice_type": "personal", "page_size": 1},
                headers=headers,
            ).json()
            assert v2["total_count"] == 2 and v2["has_more"] and len(v2["voices"]) == 1

            # an own voice speaks for its owner only, and costs characters
            voice_id = own[0]["voice_id"]
            body = {"text": "Hi there.", "model_id": "eleven_turbo_v2_5"}
            mine = client.post(
                f"/text-to-speech/{voice_id}",
                params={"output_format": "pcm_16000"},
                json=body,
                headers=headers,
            )
            assert mine.status_code == 200 and mine.headers["content-type"] == "audio/pcm"
            assert len(mine.content) / 2 / 16000 > 0.3
            theirs = client.post(
                f"/text-to-speech/{voice_id}", json=body, headers={"xi-api-key": "other"}
            )
            assert theirs.status_code == 404
            assert theirs.json()["detail"]["status"] == "voice_not_found"
            sub = client.get("/user/subscription", headers=headers).json()
            assert sub["character_count"] == len(body["text"])

            long = {"text": "x " * 3000, "model_id": "eleven_turbo_v2_5"}
            over = client.post(f"/text-to-speech/{voice_id}", json=long, headers=headers)
            assert over.status_code == 401
            assert over.json()["detail"]["status"] == "quota_exceeded"

            # faults can be set over HTTP too
            set_fault = httpx.post(
                f"{fake.root_url}/_fake/faults", json={"user": {"status": 429, "times": 1}}
            )
            assert set_fault.status_code == 200
            assert client.get("/user", headers=headers).status_code == 429
            assert client.get("/user", headers=headers).status_code == 200
            logged = httpx.get(f"{fake.root_url}/_fake/requests").json()
            user_statuses = [r["status"] for r in logged if r["route"] == "user"]
            assert user_statuses == [200, 401, 200, 429, 200]  # /user/subscription is "user"


async def test_plugin_lists_voices(server, http):
    tts = make_tts(server, http)
    voices = await tts.list_voices()
    categories = {v.category for v in voices}
    assert {"premade", "cloned", "generated"} <= categories
    assert any(v.id == elevenlabs.tts.DEFAULT_VOICE_ID for v in voices)
    await tts.aclose()


async def test_custom_own_voices_per_key(http):
    mine = [{"voice_id": "MyVoice0000000000001", "name": "Mine", "category": "professional"}]
    async with FakeElevenLabs(own_voices={KEY: mine, "*": []}) as fake:
        async with http.get(f"{fake.base_url}/voices", headers={"xi-api-key": KEY}) as resp:
            voices = (await resp.json())["voices"]
        async with http.get(f"{fake.base_url}/voices", headers={"xi-api-key": "x"}) as resp:
            others = (await resp.json())["voices"]
        assert [v["name"] for v in voices if v["is_owner"]] == ["Mine"]
        assert not any(v["is_owner"] for v in others)
        tts = make_tts(fake, http, voice_id="MyVoice0000000000001")
        frames = [ev.frame async for ev in tts.synthesize("My own voice.")]
        assert duration(frames) > 0.5
        await tts.aclose()


async def test_latency_fault_delays_the_answer(server, http):
    server.set_fault("voices", latency_ms=120)
    t0 = time.monotonic()
    async with http.get(f"{server.base_url}/voices", headers={"xi-api-key": KEY}) as resp:
        assert resp.status == 200
    assert time.monotonic() - t0 >= 0.12
