from __future__ import annotations

import wave

import numpy as np
import pytest

from shared.audio import resample
from simulator.audio import (
    Segment,
    frame_rms_dbfs,
    read_wav,
    speech_segments,
    write_wav,
)

RATE = 48000


def tone(seconds: float, rate: int = RATE, hz: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (level * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(round(seconds * rate), dtype=np.int16)


def test_segments_merge_short_gaps_and_split_long_ones():
    # 0.25 s lead, tone 0.2, gap 0.1, tone 0.2, gap 1.0, tone 0.3, 0.25 s tail.
    pieces = [silence(0.25), tone(0.2), silence(0.1), tone(0.2), silence(1.0), tone(0.3)]
    samples = np.concatenate([*pieces, silence(0.25)])
    segments = speech_segments(samples, RATE, min_gap=0.35)
    assert len(segments) == 2
    first, second = segments
    assert first.start == pytest.approx(0.25, abs=0.015)
    assert first.end == pytest.approx(0.75, abs=0.015)
    assert second.start == pytest.approx(1.75, abs=0.015)
    assert second.end == pytest.approx(2.05, abs=0.015)
    assert second.duration == pytest.approx(0.3, abs=0.02)


def test_small_min_gap_splits_every_tone():
    samples = np.concatenate([tone(0.2), silence(0.1), tone(0.2), silence(1.0), tone(0.3)])
    segments = speech_segments(samples, RATE, min_gap=0.05)
    assert [round(s.duration, 2) for s in segments] == [0.2, 0.2, 0.3]
    assert [round(s.start, 2) for s in segments] == [0.0, 0.3, 1.5]


def test_segments_at_other_rates():
    rate = 16000
    samples = np.concatenate([silence(0.5, rate), tone(0.4, rate), silence(0.5, rate)])
    assert speech_segments(samples, rate) == [Segment(0.5, 0.9)]


def test_silence_and_quiet_audio_have_no_segments():
    assert speech_segments(silence(1.0), RATE) == []
    assert speech_segments(np.zeros(0, np.int16), RATE) == []
    assert speech_segments(tone(1.0, level=0.001), RATE) == []  # -63 dBFS, under -45


def test_threshold_decides_what_is_loud():
    quiet = tone(0.5, level=0.01)  # about -43 dBFS RMS
    assert speech_segments(quiet, RATE, threshold_dbfs=-45) != []
    assert speech_segments(quiet, RATE, threshold_dbfs=-40) == []


def test_blips_shorter_than_min_speech_are_dropped():
    samples = np.concatenate([silence(0.5), tone(0.03), silence(0.5), tone(0.2), silence(0.2)])
    segments = speech_segments(samples, RATE)
    assert len(segments) == 1
    assert segments[0].start == pytest.approx(1.03, abs=0.015)


def test_frame_rms_dbfs():
    assert frame_rms_dbfs(np.zeros(0, np.int16)) == -120.0
    assert frame_rms_dbfs(np.zeros(480, np.int16)) < -100.0
    full_square = np.array([32767, -32768] * 240, dtype=np.int16)
    assert frame_rms_dbfs(full_square) == pytest.approx(0.0, abs=0.01)
    # A sine at amplitude A has RMS A/sqrt(2): -3 dB below its peak level.
    assert frame_rms_dbfs(tone(1.0, level=0.5)) == pytest.approx(-6.02 - 3.01, abs=0.05)


def test_frame_rms_dbfs_of_digital_silence_is_minus_120():
    assert frame_rms_dbfs(np.zeros(480, np.int16)) == pytest.approx(-120.0)


@pytest.mark.parametrize(("src", "dst"), [(48000, 16000), (16000, 48000), (22050, 24000)])
def test_resample_preserves_duration_and_pitch(src, dst):
    samples = tone(1.0, rate=src, hz=500)
    out = resample(samples, src, dst)
    assert out.dtype == np.int16
    assert len(out) == pytest.approx(dst, rel=0.01)
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    assert np.argmax(spectrum) * dst / len(out) == pytest.approx(500, abs=3)
    assert frame_rms_dbfs(out[dst // 10 : -dst // 10]) == pytest.approx(
        frame_rms_dbfs(samples), abs=0.5
    )


def test_resample_same_rate_or_empty_is_identity():
    samples = tone(0.1)
    assert resample(samples, RATE, RATE) is samples
    assert len(resample(np.zeros(0, np.int16), RATE, 16000)) == 0


def test_wav_round_trip(tmp_path):
    path = tmp_path / "a.wav"
    samples = np.concatenate([tone(0.3, rate=24000), silence(0.2, rate=24000)])
    write_wav(path, samples, 24000)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
    assert np.array_equal(read_wav(path, rate=24000), samples)
    upsampled = read_wav(path)  # default: the caller's 48 kHz
    assert len(upsampled) == pytest.approx(2 * len(samples), rel=0.01)


def test_read_wav_downmixes_stereo(tmp_path):
    path = tmp_path / "stereo.wav"
    left = tone(0.2, rate=16000)
    right = np.zeros_like(left)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    mono = read_wav(path, rate=16000)
    assert len(mono) == len(left)
    assert np.abs(mono.astype(np.int32) - left.astype(np.int32) // 2).max() <= 1


def test_read_wav_rejects_8_bit(tmp_path):
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(800))
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(path)
