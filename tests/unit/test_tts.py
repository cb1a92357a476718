from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from livekit.agents import tts

from pipelines.errors import ModelNotFoundError
from pipelines.tts import PiperTTS, PiperTTSOptions, PiperVoiceHandle
from pipelines.tts.piper import speed_to_length_scale
from shared.audio import resample
from simulator.audio import speech_segments

SENTENCE = "I would like to check the weather for tomorrow morning please"  # 11 words
VOICE_RATE = 22050


async def synthesize(handle: PiperVoiceHandle, text: str, **options) -> list[tts.SynthesizedAudio]:
    engine = PiperTTS(handle, PiperTTSOptions(**options))
    return [ev async for ev in engine.synthesize(text)]


def samples_of(events: list[tts.SynthesizedAudio]) -> np.ndarray:
    return np.concatenate([np.frombuffer(ev.frame.data, dtype=np.int16) for ev in events])


def test_speed_to_length_scale():
    assert speed_to_length_scale(100) == 1.0
    assert speed_to_length_scale(200) == 0.5
    assert speed_to_length_scale(50) == 2.0
    assert speed_to_length_scale(125) == pytest.approx(0.8)
    for bad in (0, -100):
        with pytest.raises(ValueError, match="voice_speed"):
            speed_to_length_scale(bad)


def test_voice_handle_loads_the_packaged_voice(piper_handle):
    assert piper_handle.sample_rate == VOICE_RATE
    assert piper_handle.path.suffix == ".onnx"
    engine = PiperTTS(piper_handle)
    assert engine.sample_rate == VOICE_RATE
    assert engine.num_channels == 1
    assert engine.capabilities.streaming is False
    assert engine.provider == "piper"
    assert engine.model == "en_US-joe-medium"


def test_missing_voice_raises_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="/nonexistent/voice.onnx") as info:
        PiperVoiceHandle("/nonexistent/voice.onnx")
    assert "PIPER_VOICE" in str(info.value)

    onnx = tmp_path / "voice.onnx"
    onnx.write_bytes(b"not a model")  # the .onnx.json config beside it is missing
    with pytest.raises(ModelNotFoundError, match=str(onnx)):
        PiperVoiceHandle(onnx)


async def test_sentence_gives_audible_mono_audio_of_plausible_length(piper_handle):
    events = await synthesize(piper_handle, SENTENCE)
    assert events
    assert {(ev.frame.sample_rate, ev.frame.num_channels) for ev in events} == {(VOICE_RATE, 1)}
    assert len({ev.request_id for ev in events}) == 1
    assert events[-1].is_final

    audio = samples_of(events)
    assert audio.dtype == np.int16
    seconds = len(audio) / VOICE_RATE
    assert 1.5 <= seconds <= 6.0
    segments = speech_segments(audio, VOICE_RATE)
    assert segments
    assert sum(s.duration for s in segments) >= 0.6 * seconds
    assert np.abs(audio.astype(np.int32)).max() > 8000


async def test_every_sentence_of_a_text_is_spoken(piper_handle):
    one = samples_of(await synthesize(piper_handle, "Hello there."))
    three = samples_of(
        await synthesize(piper_handle, "Hello there. How are you today? The weather is lovely.")
    )
    assert len(three) > 2 * len(one)


async def test_empty_text_gives_no_audio(piper_handle):
    events = await synthesize(piper_handle, "")
    assert sum(ev.frame.samples_per_channel for ev in events) == 0


async def test_voice_speed_changes_duration(piper_handle):
    normal = len(samples_of(await synthesize(piper_handle, SENTENCE, voice_speed=100)))
    fast = len(samples_of(await synthesize(piper_handle, SENTENCE, voice_speed=200)))
    slow = len(samples_of(await synthesize(piper_handle, SENTENCE, voice_speed=50)))
    # Piper rounds every phoneme up to whole frames, so 2x speed gives ~0.65x the duration
    # (measured 0.62-0.71 over repeated runs, noise_w makes each run differ), not 0.5x.
    assert 0.45 <= fast / normal <= 0.8
    assert 1.4 <= slow / normal <= 2.3


async def test_update_options_applies_to_the_next_synthesis(piper_handle):
    engine = PiperTTS(piper_handle)
    normal = samples_of([ev async for ev in engine.synthesize(SENTENCE)])
    engine.update_options(voice_speed=200)
    fast = samples_of([ev async for ev in engine.synthesize(SENTENCE)])
    assert len(fast) < 0.8 * len(normal)


async def test_round_trip_through_whisper(piper_handle, whisper_handle, audio_tools):
    audio = samples_of(await synthesize(piper_handle, SENTENCE))
    pcm16k = resample(audio, VOICE_RATE, 16000)
    heard = whisper_handle.transcribe(
        pcm16k.astype(np.float32) / 32768.0, language="en", beam_size=1
    )
    assert {"weather", "tomorrow", "morning"} <= set(audio_tools.words(heard)), heard
    assert audio_tools.word_recall(SENTENCE, heard) >= 0.8, heard


def thread_nice_values() -> dict[int, int]:
    """Nice value of each thread of this process (field 19 of /proc/self/task/<tid>/stat)."""
    values = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        values[int(task.name)] = int(fields[16])
    return values


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice is Linux's")
async def test_synthesis_threads_run_at_the_lower_priority_asked_for():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = set(thread_nice_values())
    handle = PiperVoiceHandle(nice=5)
    try:
        events = await synthesize(handle, "Hello there.")
        assert samples_of(events).size > 0
        synth_tid = handle.executor.submit(threading.get_native_id).result()
        started = {tid: n for tid, n in thread_nice_values().items() if tid not in before}
        assert started[synth_tid] == own + 5
        # onnxruntime's pool threads are started while the model loads on that thread
        assert sum(n == own + 5 for n in started.values()) >= 1 + ((os.cpu_count() or 1) > 1)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
    finally:
        handle.executor.shutdown()


def fundamental(samples: np.ndarray, rate: int) -> float:
    """The median pitch (Hz) of the voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    size = int(rate * 0.04)
    audio = samples.astype(np.float64) / 32768
    pitches = []
    for start in range(0, len(audio) - size, size):
        frame = audio[start : start + size] - audio[start : start + size].mean()
        if np.sqrt((frame**2).mean()) < 0.02:
            continue
        corr = np.correlate(frame, frame, "full")[size - 1 :]
        low, high = int(rate / 400), int(rate / 60)
        lag = low + int(np.argmax(corr[low:high]))
        if corr[lag] > 0.5 * corr[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches))


async def test_pitch_moves_the_voice_and_keeps_its_pace(piper_handle):
    """A pitch factor is said as a higher sample rate, the speech synthesised that much slower:
    played, the voice is higher by the factor and lasts about as long (Piper rounds every
    phoneme up to whole frames, so a slightly longer length scale lengthens the speech less:
    measured 2.6 s against 2.8 s). Piper draws each phoneme's length with noise (one sentence
    lasted 2.66-2.82 s over 20 syntheses, and its pitch moved with it: one pair's ratio ranged
    1.02-1.13), so lengths and pitches compared are medians of three."""
    plain = [await synthesize(piper_handle, SENTENCE) for _ in range(3)]
    high = [await synthesize(piper_handle, SENTENCE, pitch=1.08) for _ in range(3)]
    high_rate = high[0][0].frame.sample_rate
    assert high_rate == round(VOICE_RATE * 1.08)
    plain_seconds = float(np.median([len(samples_of(a)) / VOICE_RATE for a in plain]))
    high_seconds = float(np.median([len(samples_of(a)) / high_rate for a in high]))
    assert high_seconds == pytest.approx(plain_seconds, rel=0.1)
    ratio = float(np.median([fundamental(samples_of(a), high_rate) for a in high])) / float(
        np.median([fundamental(samples_of(a), VOICE_RATE) for a in plain])
    )
    assert ratio == pytest.approx(1.08, abs=0.04)
    engine = PiperTTS(piper_handle, PiperTTSOptions(pitch=0.92))
    assert engine.sample_rate == round(VOICE_RATE * 0.92)
    with pytest.raises(ValueError, match="pitch"):
        engine.update_options(pitch=1.0)
