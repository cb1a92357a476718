"""The fake OpenAI server, driven by the real clients: the openai SDK and livekit's plugin."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np
import openai
import pytest
from livekit import rtc
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIStatusError,
    function_tool,
    llm,
)
from livekit.plugins import openai as lk_openai

from fake_providers.common import ESPEAK_RATE, Fault, synthesize
from fake_providers.openai import FakeOpenAI
from shared.audio import decode_to_mono, resample

KEY = "sk-fake-test-key"
TRANSCRIPT = "the quick brown fox"
SPOKEN = "I would like to check the weather for tomorrow"
NO_RETRY = APIConnectOptions(max_retry=0, timeout=5)
ONE_RETRY = APIConnectOptions(max_retry=2, retry_interval=0.01, timeout=5)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["location", "unit", "days"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@pytest.fixture
async def fake():
    server = FakeOpenAI(
        api_keys={KEY},
        fixed_transcript=TRANSCRIPT,
        tool_triggers={"weather in paris": ("get_weather", {"location": "Paris"})},
        retry_after_s=7,
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake):
    c = openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0)
    yield c
    await c.close()


def speech_frame(text: str, rate: int = 24000) -> rtc.AudioFrame:
    pcm = resample(synthesize(text), ESPEAK_RATE, rate)
    return rtc.AudioFrame(pcm.tobytes(), rate, 1, len(pcm))


def speech_seconds(text: str) -> float:
    return len(synthesize(text)) / ESPEAK_RATE


def routes(fake: FakeOpenAI) -> list[tuple[str, int | None]]:
    return [(r.route, r.status) for r in fake.state.requests]


async def collect_tool_calls(stream) -> tuple[dict[int, dict], str | None]:
    calls: dict[int, dict] = {}
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = call["id"] or tc.id
                call["name"] += tc.function.name or ""
                call["arguments"] += tc.function.arguments or ""
    return calls, finish


# --- openai SDK -----------------------------------------------------------------------------


async def test_sdk_lists_models(client):
    page = await client.models.list()
    ids = [m.id for m in page.data]
    assert {"gpt-4o-mini", "whisper-1", "gpt-4o-mini-tts"} <= set(ids)
    assert (await client.models.retrieve("whisper-1")).id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")


async def test_sdk_streams_text_with_final_usage_chunk(client):
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What time is it?"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: What time is it. Here is my answer."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 10
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 10
    assert chunks[-1].usage.total_tokens > 10


async def test_sdk_non_streaming_uses_scripted_replies_in_order():
    fake = FakeOpenAI(replies=["First answer.", "Second answer."])
    async with fake, openai.AsyncOpenAI(base_url=fake.base_url, api_key="k") as c:
        answers = []
        for _ in range(3):
            resp = await c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi there"}]
            )
            assert resp.choices[0].finish_reason == "stop"
            answers.append(resp.choices[0].message.content)
    assert answers == ["First answer.", "Second answer.", "You said: Hi there. Here is my answer."]


async def test_sdk_streams_a_triggered_tool_call_then_answers_with_its_result(client, fake):
    messages = [{"role": "user", "content": "What's the weather in Paris today?"}]
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    calls, finish = await collect_tool_calls(stream)
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == {"location": "Paris"}

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": calls[0]["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny, 21 degrees"},
    ]
    resp = await client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
    )
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content == "Here is what I found: sunny, 21 degrees."
    assert fake.state.requests[-1].body["messages"][-1]["role"] == "tool"


async def test_sdk_tool_named_in_text_gets_schema_shaped_arguments(client):
    resp = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "please get weather for Oslo"}],
        tools=[WEATHER_TOOL],
    )
    (call,) = resp.choices[0].message.tool_calls
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {
        "location": "please get weather for Oslo",
        "unit": "celsius",
        "days": 1,
    }
    # Without tools, or with tool_choice="none", the same words get a text answer.
    resp = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "please get weather for Oslo"}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].message.content.startswith("You said: please get weather")
    # A named tool_choice forces the call even when the text does not mention the tool.
    resp = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"


async def test_ttft_and_token_pacing_are_applied():
    fake = FakeOpenAI(ttft_ms=150, token_ms=20)
    async with fake, openai.AsyncOpenAI(base_url=fake.base_url, api_key="k") as c:
        started = time.monotonic()
        stream = await c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
        )
        arrivals = []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic() - started)
    assert arrivals[0] >= 0.15
    # 9 tokens: 8 gaps of at least 20 ms after the first one
    assert len(arrivals) == 9
    assert arrivals[-1] - arrivals[0] >= 8 * 0.02


async def test_a_longer_prompt_is_read_for_longer_before_the_first_token():
    fake = FakeOpenAI(prefill_ms_per_1k=400)
    async with fake, openai.AsyncOpenAI(base_url=fake.base_url, api_key="k") as c:

        async def first_token(prompt: str) -> float:
            started = time.monotonic()
            stream = await c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    return time.monotonic() - started
            raise AssertionError("no content")

        short = await first_token("hi")
        # 750 words count as 1,000 tokens (+3 for the message): 400 ms more to read
        long = await first_token(" ".join(["word"] * 750))
    assert long - short >= 0.38, (short, long)


async def test_sdk_transcription_formats(client):
    wav = rtc.combine_audio_frames([speech_frame("hello")]).to_wav_bytes()
    plain = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("a.wav", wav, "audio/wav")
    )
    assert plain.text == TRANSCRIPT
    assert plain.usage.type == "tokens"

    text = await client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", wav, "audio/wav"), response_format="text"
    )
    assert text.strip() == TRANSCRIPT

    verbose = await client.audio.transcriptions.create(
        model="whisper-1",
        file=("a.wav", wav, "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
        language="en",
    )
    assert verbose.language == "english"
    assert [w.word for w in verbose.words] == TRANSCRIPT.split()
    assert verbose.duration == pytest.approx(speech_seconds("hello"), abs=0.02)

    events = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("a.wav", wav, "audio/wav"), stream=True
    )
    events = [ev async for ev in events]
    assert [ev.type for ev in events] == ["transcript.text.delta"] * 4 + ["transcript.text.done"]
    assert "".join(ev.delta for ev in events[:-1]) == TRANSCRIPT == events[-1].text

    with pytest.raises(openai.BadRequestError) as info:
        await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe",
            file=("a.wav", wav, "audio/wav"),
            response_format="verbose_json",
        )
    assert info.value.body["param"] == "response_format"
    with pytest.raises(openai.BadRequestError) as info:
        await client.audio.transcriptions.create(
            model="whisper-1", file=("a.wav", b"not audio at all", "audio/wav")
        )
    assert info.value.body["code"] == "invalid_value"


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("mp3", "audio/mpeg"),
        ("opus", "audio/opus"),
        ("aac", "audio/aac"),
        ("flac", "audio/flac"),
        ("wav", "audio/wav"),
        ("pcm", "audio/pcm"),
    ],
)
async def test_sdk_speech_in_every_response_format(client, fmt, content_type):
    text = "Good morning"
    async with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=text, response_format=fmt
    ) as resp:
        assert resp.headers["content-type"] == content_type
        chunks = [c async for c in resp.iter_bytes()]
    data = b"".join(chunks)
    samples = len(data) // 2 if fmt == "pcm" else len(decode_to_mono(data, 24000))
    seconds = samples / 24000
    assert seconds == pytest.approx(speech_seconds(text), abs=0.12)


async def test_sdk_speech_speed_and_validation(client):
    slow = await client.audio.speech.create(
        model="tts-1", voice="alloy", input="Good morning", response_format="pcm", speed=0.5
    )
    assert len(slow.content) / 2 / 24000 == pytest.approx(2 * speech_seconds("Good morning"), 0.01)
    with pytest.raises(openai.BadRequestError) as info:
        await client.audio.speech.create(model="tts-1", voice="alloy", input="x", speed=9)
    assert info.value.body["param"] == "speed"
    with pytest.raises(openai.BadRequestError) as info:
        await client.audio.speech.create(
            model="tts-1", voice="alloy", input="x", stream_format="sse"
        )
    assert info.value.body["param"] == "stream_format"


# --- livekit plugin -------------------------------------------------------------------------


async def test_livekit_llm_streams_text_and_usage(fake):
    model = lk_openai.LLM(model="gpt-4o-mini", base_url=fake.base_url, api_key=KEY)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="system", content="You are helpful.")
    ctx.add_message(role="user", content="Tell me a joke")
    text, usage = "", None
    async with model.chat(chat_ctx=ctx, conn_options=NO_RETRY) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                text += chunk.delta.content
            usage = chunk.usage or usage
    await model.aclose()
    assert text == "You said: Tell me a joke. Here is my answer."
    assert usage is not None and usage.completion_tokens == 10
    body = fake.state.requests[-1].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_livekit_llm_tool_call(fake):
    @function_tool
    async def get_weather(location: str) -> str:
        """Current weather for a city.

        Args:
            location: the city
        """
        return "sunny"

    model = lk_openai.LLM(model="gpt-4o-mini", base_url=fake.base_url, api_key=KEY)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="How is the weather in Paris?")
    calls = []
    async with model.chat(chat_ctx=ctx, tools=[get_weather], conn_options=NO_RETRY) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.tool_calls:
                calls.extend(chunk.delta.tool_calls)
    await model.aclose()
    assert [c.name for c in calls] == ["get_weather"]
    assert json.loads(calls[0].arguments) == {"location": "Paris"}


async def test_livekit_stt_recognize_with_fixed_transcript(fake):
    stt = lk_openai.STT(model="gpt-4o-mini-transcribe", base_url=fake.base_url, api_key=KEY)
    assert stt.capabilities.streaming is False  # the transcriptions endpoint, not realtime
    event = await stt.recognize([speech_frame("testing one two")], conn_options=NO_RETRY)
    await stt.aclose()
    assert event.alternatives[0].text == TRANSCRIPT
    record = fake.state.requests[-1]
    assert (record.route, record.status) == ("transcriptions", 200)
    assert record.body["model"] == "gpt-4o-mini-transcribe"
    assert record.body["response_format"] == "json"
    assert record.body["language"] == "en"
    assert record.body["file"]["bytes"] > 44


async def test_livekit_stt_recognize_with_whisper():
    async with FakeOpenAI() as fake:
        stt = lk_openai.STT(model="whisper-1", base_url=fake.base_url, api_key=KEY)
        event = await stt.recognize([speech_frame(SPOKEN, 16000)], conn_options=NO_RETRY)
        await stt.aclose()
        assert fake.state.requests[-1].body["response_format"] == "verbose_json"
    heard = set(event.alternatives[0].text.lower().strip(".").split())
    want = SPOKEN.lower().split()
    assert sum(w in heard for w in want) / len(want) >= 0.7
    assert event.alternatives[0].language == "en"


async def test_livekit_tts_sse_mp3_default(fake):
    text = "Hello there, this is a test."
    tts = lk_openai.TTS(model="gpt-4o-mini-tts", voice="alloy", base_url=fake.base_url, api_key=KEY)
    async with tts.synthesize(text, conn_options=NO_RETRY) as stream:
        frames = [ev.frame async for ev in stream]
    await tts.aclose()
    body = fake.state.requests[-1].body
    assert body["stream_format"] == "sse" and body["response_format"] == "mp3"
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(24000, 1)}
    seconds = sum(f.samples_per_channel for f in frames) / 24000
    assert seconds == pytest.approx(speech_seconds(text), abs=0.12)
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    assert np.abs(pcm).max() > 1000


async def test_livekit_tts_raw_pcm_stream(fake):
    text = "Raw audio please."
    tts = lk_openai.TTS(
        model="tts-1",
        voice="alloy",
        base_url=fake.base_url,
        api_key=KEY,
        response_format="pcm",
    )
    async with tts.synthesize(text, conn_options=NO_RETRY) as stream:
        frames = [ev.frame async for ev in stream]
    await tts.aclose()
    assert fake.state.requests[-1].body["stream_format"] == "audio"
    expected = resample(synthesize(text), ESPEAK_RATE, 24000)
    received = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    # Raw s16le passes through bit-exact; the emitter may pad its last frame with silence.
    assert np.array_equal(received[: len(expected)], expected)
    assert not received[len(expected) :].any()


# --- failures -------------------------------------------------------------------------------


async def test_bad_key_is_401_for_the_sdk_and_the_plugin(fake):
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-wrong") as c:
        with pytest.raises(openai.AuthenticationError) as info:
            await c.models.list()
    assert info.value.status_code == 401
    assert info.value.body == {
        "message": info.value.body["message"],
        "type": "invalid_request_error",
        "code": "invalid_api_key",
        "param": None,
    }
    assert "sk-wrong" not in info.value.body["message"]

    model = lk_openai.LLM(model="gpt-4o-mini", base_url=fake.base_url, api_key="sk-wrong")
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="hi")
    with pytest.raises(APIStatusError) as lk_info:
        async with model.chat(chat_ctx=ctx, conn_options=ONE_RETRY) as stream:
            async for _ in stream:
                pass
    await model.aclose()
    assert lk_info.value.status_code == 401
    assert routes(fake).count(("chat", 401)) == 1  # not retried

    tts = lk_openai.TTS(base_url=fake.base_url, api_key="sk-wrong")
    with pytest.raises(APIStatusError) as lk_info:
        await tts.synthesize("hi", conn_options=NO_RETRY).collect()
    await tts.aclose()
    assert lk_info.value.status_code == 401


async def test_injected_503_once_is_retried_by_the_plugin(fake):
    fake.state.faults["chat"] = Fault(status=503, times=1)
    fake.state.faults["speech"] = Fault(status=503, times=1)
    model = lk_openai.LLM(model="gpt-4o-mini", base_url=fake.base_url, api_key=KEY)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="Are you there?")
    text = ""
    async with model.chat(chat_ctx=ctx, conn_options=ONE_RETRY) as stream:
        async for chunk in stream:
            text += (chunk.delta and chunk.delta.content) or ""
    await model.aclose()
    assert text == "You said: Are you there. Here is my answer."

    tts = lk_openai.TTS(base_url=fake.base_url, api_key=KEY)
    frame = await tts.synthesize("Still here.", conn_options=ONE_RETRY).collect()
    await tts.aclose()
    assert frame.samples_per_channel > 0.3 * 24000
    assert routes(fake) == [("chat", 503), ("chat", 200), ("speech", 503), ("speech", 200)]


async def test_drop_mid_stream_raises_connection_errors(fake):
    fake.state.faults["chat"] = Fault(drop_after_chunks=3)
    fake.state.faults["speech"] = Fault(drop_after_chunks=2)

    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0) as c:
        stream = await c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        received = []
        with pytest.raises(openai.APIConnectionError):
            async for chunk in stream:
                received.append(chunk)
    assert len(received) == 3

    model = lk_openai.LLM(model="gpt-4o-mini", base_url=fake.base_url, api_key=KEY)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content="hello")
    with pytest.raises(APIConnectionError):
        async with model.chat(chat_ctx=ctx, conn_options=NO_RETRY) as stream:
            async for _ in stream:
                pass
    await model.aclose()

    tts = lk_openai.TTS(base_url=fake.base_url, api_key=KEY)
    with pytest.raises(APIConnectionError):
        await tts.synthesize("This sentence will be cut off.", conn_options=NO_RETRY).collect()
    await tts.aclose()


async def test_429_carries_retry_after_and_openai_error_json(fake, client):
    fake.state.faults["transcriptions"] = Fault(status=429, times=1)
    wav = rtc.combine_audio_frames([speech_frame("hi")]).to_wav_bytes()
    with pytest.raises(openai.RateLimitError) as info:
        await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav))
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["code"] == "rate_limit_exceeded"
    assert info.value.request_id.startswith("req_")
    # times=1: the next request goes through
    ok = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav))
    assert ok.text == TRANSCRIPT


async def test_control_routes_over_http(fake):
    root = fake.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as http:
        await http.post(f"{root}/_fake/faults", json={"models": {"status": 500, "times": 1}})
        async with http.get(f"{fake.base_url}/models", headers=headers) as resp:
            assert resp.status == 500
            assert (await resp.json())["error"]["type"] == "server_error"
        async with http.get(f"{fake.base_url}/models", headers=headers) as resp:
            assert resp.status == 200
        async with http.get(f"{fake.base_url}/nope", headers=headers) as resp:
            assert resp.status == 404
            assert "Invalid URL" in (await resp.json())["error"]["message"]
        async with http.get(f"{root}/_fake/requests") as resp:
            log = await resp.json()
        assert [(r["route"], r["status"]) for r in log] == [("models", 500), ("models", 200)]
        await http.post(f"{root}/_fake/config", json={"replies": ["Scripted."]})
        await http.post(f"{root}/_fake/reset")
    assert fake.state.requests == [] and fake.state.faults == {}
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=KEY) as c:
        resp = await c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert resp.choices[0].message.content == "Scripted."


async def test_fault_body_replaces_the_error_json(fake, client):
    custom = {"error": {"message": "quota gone", "type": "insufficient_quota", "code": "x"}}
    fake.state.faults["chat"] = Fault(status=429, body=custom)
    for _ in range(2):  # times=None: every request fails
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        assert info.value.body == custom["error"]
    assert routes(fake) == [("chat", 429), ("chat", 429)]


def test_thread_form_serves_sync_clients():
    with FakeOpenAI(fixed_transcript="sync") as fake:
        c = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        resp = c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "sync call"}]
        )
        c.close()
    assert resp.choices[0].message.content == "You said: sync call. Here is my answer."
    assert fake.state.requests[0].route == "chat"


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("flag", "answers"),
    [
        # a scripted reply is used once, then the default one
        ("--reply", ["From the CLI.", "You said: hi. Here is my answer."]),
        ("--always-reply", ["From the CLI.", "From the CLI."]),
    ],
)
async def test_cli_serves_on_the_given_port(flag: str, answers: list[str]):
    root = ROOT
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fake_providers.openai",
        "--port",
        "0",
        flag,
        "From the CLI.",
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        got = []
        async with openai.AsyncOpenAI(base_url=url, api_key="k") as c:
            for _ in answers:
                resp = await c.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
                got.append(resp.choices[0].message.content)
        assert got == answers
    finally:
        proc.terminate()
        await proc.wait()
