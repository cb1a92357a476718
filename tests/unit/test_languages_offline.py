"""The offline pieces for languages other than English: the multilingual Whisper base joined
from its two PyPI halves, and the espeak-ng voices."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import PipelineSetupError
from pipelines.tts.espeak import (
    ESPEAK_RATE,
    EspeakTTS,
    espeak_voice,
    espeak_voices,
    pcm_of_wav,
    synthesize_blocking,
)
from pipelines.whisper_base import SOURCES, ensure_whisper_base


def test_whisper_base_is_joined_checked_and_then_reused(tmp_path: Path) -> None:
    model = ensure_whisper_base(tmp_path)
    source = SOURCES[0]
    assert (model / "model.bin").stat().st_size == source.size
    assert (model / ".complete").read_text().strip() == source.sha256
    assert all((model / name).is_file() for name in source.side_files)
    # no temporary directory is left beside it
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["whisper-base"]
    first = (model / "model.bin").stat().st_mtime_ns
    assert ensure_whisper_base(tmp_path) == model
    assert (model / "model.bin").stat().st_mtime_ns == first  # not joined again


def test_a_half_written_model_is_joined_again(tmp_path: Path) -> None:
    leftover = tmp_path / "whisper-base"
    leftover.mkdir()
    (leftover / "model.bin").write_bytes(b"cut short")
    model = ensure_whisper_base(tmp_path)
    assert (model / "model.bin").stat().st_size == SOURCES[0].size


def test_espeak_voices_speak_their_language() -> None:
    ids = {voice.voice_id for voice in espeak_voices()}
    assert {"local:espeak-ar", "local:espeak-ar-female", "local:espeak-fr"} <= ids
    voice = espeak_voice("local:espeak-ar")
    pcm = synthesize_blocking("مرحبا بك", voice, voice_speed=100, pitch="medium")
    audio = np.frombuffer(pcm, np.int16)
    assert 0.3 * ESPEAK_RATE < len(audio) < 3 * ESPEAK_RATE
    assert np.abs(audio).max() > 3000
    # faster speech is shorter
    fast = synthesize_blocking("مرحبا بك", voice, voice_speed=200, pitch="medium")
    assert len(fast) < 0.8 * len(pcm)


def test_espeak_wav_from_a_pipe_is_read_past_its_unset_sizes() -> None:
    header = b"RIFF\xff\xff\xff\x7fWAVEfmt " + (16).to_bytes(4, "little")
    header += (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += ESPEAK_RATE.to_bytes(4, "little") + (ESPEAK_RATE * 2).to_bytes(4, "little")
    header += (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    header += b"data\xff\xff\xff\x7f"
    pcm, rate = pcm_of_wav(header + b"\x01\x00\x02\x00\x03")
    assert (pcm, rate) == (b"\x01\x00\x02\x00", ESPEAK_RATE)


def test_unknown_espeak_voice_names_the_choices() -> None:
    with pytest.raises(PipelineSetupError, match="local:espeak-ar"):
        espeak_voice("local:espeak-xx")


def test_espeak_tts_streams_audio_as_a_livekit_tts() -> None:
    async def speak() -> int:
        tts = EspeakTTS("local:espeak-fr-female", voice_speed=120, pitch="high")
        samples = 0
        async with tts.synthesize("Bonjour, comment puis-je vous aider ?") as stream:
            async for event in stream:
                assert event.frame.sample_rate == ESPEAK_RATE
                samples += event.frame.samples_per_channel
        await tts.aclose()
        return samples

    assert asyncio.run(speak()) > 0.5 * ESPEAK_RATE
