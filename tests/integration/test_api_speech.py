"""Voice catalog, text-to-speech and speech-to-text through the running control plane."""

from __future__ import annotations

import io

import av
import numpy as np

from shared.audio import decode_to_mono
from tests.integration.conftest import ApiServer

LOCAL_VOICE = "local:en_US-joe-medium"
SARAH = "EXAVITQu4vr4xnSDxMaL"
GREETING = "Hello! Welcome to our customer support. How can I help you today?"


async def test_voice_collections_and_filters(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        english = (await client.get("/voice-agents/english")).json()
        ids = [v["voice_id"] for v in english]
        assert LOCAL_VOICE in ids and SARAH in ids
        local = next(v for v in english if v["voice_id"] == LOCAL_VOICE)
        assert local["provider"] == "local" and "en" in local["languages"]

        # The seed's example: female Arabic voices.
        arabic = (await client.get("/voice-agents/arabic", params={"gender": "female"})).json()
        assert arabic and all(v["gender"] == "female" for v in arabic)
        assert LOCAL_VOICE not in [v["voice_id"] for v in arabic]  # speaks English only

        multilingual = (await client.get("/voice-agents/multilingual")).json()
        assert multilingual
        assert all(v["multilingual"] or {"ar", "en"} <= set(v["languages"]) for v in multilingual)

        british = (await client.get("/voice-agents/english", params={"accent": "british"})).json()
        assert british and all(v["accent"] == "british" for v in british)
        featured = (
            await client.get("/voice-agents/english", params={"featured_only": "true"})
        ).json()
        assert featured and all(v["featured"] for v in featured)
        assert len(featured) < len(english)
        three = (await client.get("/voice-agents/english", params={"max_voices": 3})).json()
        assert len(three) == 3

        for params in [{"gender": "robot"}, {"max_voices": 0}, {"featured_only": "perhaps"}]:
            resp = await client.get("/voice-agents/english", params=params)
            assert resp.status_code == 400, params
            assert next(iter(params)) in resp.json()["detail"]


def peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))])


async def tts(client, text: str = GREETING, voice: str = LOCAL_VOICE, **body):
    return await client.post(
        f"/voice-agents/elevenlabs/voices/{voice}/tts", json={"text": text, **body}
    )


async def test_tts_local_voice_in_each_format_family(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        # The seed's example body (ElevenLabs-only settings are accepted and ignored locally).
        resp = await tts(
            client, model_id="eleven_turbo_v2_5", language_code="en",
            voice_stability=0.5, voice_similarity_boost=0.75,
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "audio/mpeg"
        speech = decode_to_mono(resp.content, 16000)
        assert 2.0 < len(speech) / 16000 < 8.0
        assert np.sqrt(np.mean(speech**2)) > 0.01  # not silence

        resp = await tts(client, output_format="pcm_16000")
        assert resp.headers["content-type"] == "audio/pcm"
        pcm = np.frombuffer(resp.content, np.int16)
        # Same text, about the same length (Piper varies phoneme durations a little).
        assert abs(len(pcm) - len(speech)) < 0.15 * len(speech)

        resp = await tts(client, output_format="ulaw_8000")
        assert resp.headers["content-type"] == "audio/basic"
        assert abs(len(resp.content) - len(speech) / 2) < 0.15 * len(speech) / 2  # 1 byte/sample

        resp = await client.post(
            f"/voice-agents/elevenlabs/voices/{LOCAL_VOICE}/tts",
            params={"output_format": "opus_48000_64"},
            json={"text": GREETING},
        )
        assert resp.headers["content-type"] == "audio/ogg"
        with av.open(io.BytesIO(resp.content)) as container:
            assert container.streams.audio[0].codec_context.name == "opus"


async def test_tts_voice_speed_is_honoured(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        normal = await tts(client, output_format="pcm_16000")
        fast = await tts(client, output_format="pcm_16000", voice_speed=150)
    ratio = len(fast.content) / len(normal.content)
    assert 0.55 < ratio < 0.8, ratio


async def test_tts_errors(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        resp = await tts(client, voice=SARAH)
        assert resp.status_code == 409
        assert "ElevenLabs" in resp.json()["detail"] and "key" in resp.json()["detail"]
        resp = await tts(client, voice="local:xx_XX-nobody-low")
        assert resp.status_code == 404
        assert LOCAL_VOICE in resp.json()["detail"]  # says what is installed
        for body, field in [
            ({"text": ""}, "text"),
            ({"text": "hi", "output_format": "wav"}, "output_format"),
            ({"text": "hi", "voice_speed": 1000}, "voice_speed"),
            ({"text": "x" * 5001}, "text"),
        ]:
            resp = await client.post(
                f"/voice-agents/elevenlabs/voices/{LOCAL_VOICE}/tts", json=body
            )
            assert resp.status_code == 400, (body, resp.text)
            assert field in resp.json()["detail"]


def reencode(pcm16k: np.ndarray, container: str, codec: str, rate: int) -> bytes:
    """The speech in another container/codec, as a user's recording might be."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as c:
        stream = c.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm16k[None, :], format="s16", layout="mono")
        frame.sample_rate = 16000
        frame.pts = 0
        for packet in stream.encode(frame):
            c.mux(packet)
        for packet in stream.encode(None):
            c.mux(packet)
    return out.getvalue()


async def test_stt_transcribes_common_containers(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        pcm = np.frombuffer(
            (
                await tts(
                    client, text="Hello, I need help with my order.", output_format="pcm_16000"
                )
            ).content,
            np.int16,
        )
        files = {
            "order.wav": reencode(pcm, "wav", "pcm_s16le", 16000),
            "order.mp3": reencode(pcm, "mp3", "libmp3lame", 22050),
            "order.ogg": reencode(pcm, "ogg", "libopus", 48000),
            "order.webm": reencode(pcm, "webm", "libopus", 48000),
            "order.m4a": reencode(pcm, "ipod", "aac", 16000),
        }
        for name, data in files.items():
            resp = await client.post(
                "/voice-agents/stt", files={"file": (name, data, "application/octet-stream")}
            )
            assert resp.status_code == 200, (name, resp.text)
            text = resp.json()["text"].lower()
            assert "help" in text and "order" in text, (name, text)


async def test_stt_rejects_what_it_cannot_decode(sqlite_api: ApiServer):
    async with sqlite_api.client(sqlite_api.acme) as client:
        resp = await client.post(
            "/voice-agents/stt", files={"file": ("notes.txt", b"not audio " * 200, "text/plain")}
        )
        assert resp.status_code == 400
        assert resp.json()["detail"].startswith("file:")
        resp = await client.post("/voice-agents/stt", files={"other": ("a.wav", b"x")})
        assert resp.status_code == 400
        assert "file" in resp.json()["detail"]


async def test_stt_hears_other_languages_and_says_which(sqlite_api: ApiServer):
    """Non-English speech through the multilingual model, spoken by the espeak-ng voices of the
    TTS route: Spanish and French words come back; espeak's Arabic is hard for Whisper base to
    make out, so Arabic is checked for its script, not its words."""
    async with sqlite_api.client(sqlite_api.acme) as client:

        async def spoken(voice: str, text: str) -> bytes:
            resp = await client.post(
                f"/voice-agents/elevenlabs/voices/{voice}/tts",
                json={"text": text, "output_format": "pcm_16000"},
            )
            assert resp.status_code == 200, resp.text
            pcm = np.frombuffer(resp.content, np.int16)
            assert len(pcm) > 16000 and np.abs(pcm).max() > 3000  # speech, not silence
            return reencode(pcm, "wav", "pcm_s16le", 16000)

        spanish = await spoken(
            "local:espeak-es", "Hola, quisiera reservar una mesa para esta noche."
        )
        for language in ("es", None):  # asked for, then detected
            form = {"language": language} if language else {}
            resp = await client.post(
                "/voice-agents/stt", files={"file": ("es.wav", spanish, "audio/wav")}, data=form
            )
            assert resp.status_code == 200, resp.text
            heard = resp.json()
            assert heard["language"] == "es", heard
            assert "mesa" in heard["text"].lower(), heard
        french = await spoken("local:espeak-fr", "Bonjour, je voudrais une table pour ce soir.")
        resp = await client.post(
            "/voice-agents/stt",
            files={"file": ("fr.wav", french, "audio/wav")},
            data={"language": "fr-FR"},
        )
        assert resp.status_code == 200, resp.text
        assert "soir" in resp.json()["text"].lower(), resp.json()

        arabic = await spoken("local:espeak-ar", "مرحبا، أريد أن أحجز موعدا غدا.")
        resp = await client.post(
            "/voice-agents/stt",
            files={"file": ("ar.wav", arabic, "audio/wav")},
            data={"language": "ar"},
        )
        assert resp.status_code == 200, resp.text
        heard = resp.json()
        assert heard["language"] == "ar"
        assert any("\u0600" <= ch <= "\u06ff" for ch in heard["text"]), heard

        resp = await client.post(
            "/voice-agents/stt",
            files={"file": ("ar.wav", arabic, "audio/wav")},
            data={"language": "not a language"},
        )
        assert resp.status_code == 400
