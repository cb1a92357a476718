"""Audio and timing for the fake ElevenLabs: chunking encoded audio, MP3 stream pieces,
character alignment, where speech is in a recording, Scribe-style word timings."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from shared.audio import OutputFormat

_TAG = re.compile(r"<[^>]{0,200}>")


def _clean_text(text: str) -> str:
    return " ".join(_TAG.sub(" ", text).split())


def _chunk_bytes(
    audio: bytes, fmt: OutputFormat, duration_s: float, chunk_ms: float
) -> list[bytes]:
    """Split encoded audio into pieces of about `chunk_ms`, on sample boundaries for raw PCM."""
    if not audio:
        return []
    if fmt.codec == "pcm":
        size = max(2, int(fmt.sample_rate * chunk_ms / 1000) * 2)
    elif fmt.codec in ("ulaw", "alaw"):
        size = max(1, int(fmt.sample_rate * chunk_ms / 1000))
    else:
        size = max(256, int(len(audio) * chunk_ms / 1000 / max(duration_s, 1e-3)))
    return [audio[i : i + size] for i in range(0, len(audio), size)]


_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_stream_part(data: bytes, *, keep_info_frame: bool) -> bytes:
    """`data` (an encoded MP3 file) as a piece of a continuing MPEG audio stream.

    The muxer starts every file with an ID3v2 tag and a LAME "Info" frame. ElevenLabs streams
    carry neither, and in the middle of a stream they break or click in a decoder, so the tag is
    cut always and the Info frame unless this is the first piece.
    """
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        data = data[10 + size + (10 if data[5] & 0x10 else 0) :]
    if keep_info_frame or len(data) < 4 or data[0] != 0xFF or (data[1] & 0xE0) != 0xE0:
        return data
    version = (data[1] >> 3) & 3
    bitrate_index, rate_index, padding = data[2] >> 4, (data[2] >> 2) & 3, (data[2] >> 1) & 1
    if version == 1 or rate_index == 3 or bitrate_index in (0, 15):
        return data
    bitrate = _MP3_BITRATES[1 if version == 3 else 2][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    length = (144 if version == 3 else 72) * bitrate // rate + padding
    if b"Info" in data[4:48] or b"Xing" in data[4:48]:
        return data[length:]
    return data


def _char_times(text: str, duration_ms: float) -> tuple[list[str], list[float], list[float]]:
    """Characters of `text` spread evenly over `duration_ms` (spaces count half)."""
    chars = list(text)
    if not chars:
        return [], [], []
    weights = np.array([0.5 if c.isspace() else 1.0 for c in chars])
    durs = weights / weights.sum() * duration_ms
    starts = np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    return chars, starts.tolist(), durs.tolist()


def _voiced_mask(pcm: np.ndarray, rate: int, frame_ms: int = 20, dbfs: float = -45.0) -> np.ndarray:
    """One bool per `frame_ms` frame: louder than `dbfs`."""
    n = int(rate * frame_ms / 1000)
    if pcm.size < n or n == 0:
        return np.zeros(0, dtype=bool)
    frames = pcm[: pcm.size // n * n].astype(np.float32).reshape(-1, n) / 32768.0
    rms = np.sqrt(np.mean(frames * frames, axis=1)) + 1e-9
    return 20 * np.log10(rms) > dbfs


def _speech_span(pcm: np.ndarray, rate: int) -> tuple[float, float, float]:
    """(start s, end s, voiced s) of the audible part of int16 mono `pcm`."""
    mask = _voiced_mask(pcm, rate)
    if not mask.any():
        return 0.0, 0.0, 0.0
    idx = np.flatnonzero(mask)
    return idx[0] * 0.02, (idx[-1] + 1) * 0.02, float(mask.sum()) * 0.02


def _words(text: str, start: float, end: float, offset: float = 0.0) -> list[dict[str, Any]]:
    """Scribe-style ``words`` (words and spacings) spread over the speech span."""
    tokens = text.split()
    if not tokens:
        return []
    weights = [len(t) + 1.0 for t in tokens]
    total = sum(weights)
    span = max(end - start, 0.05 * len(tokens))
    out: list[dict[str, Any]] = []
    t = start
    for i, (token, weight) in enumerate(zip(tokens, weights, strict=True)):
        dur = span * weight / total
        word_end = t + dur * 0.85
        out.append(
            {
                "text": token,
                "start": round(offset + t, 3),
                "end": round(offset + word_end, 3),
                "type": "word",
                "logprob": -0.05,
            }
        )
        if i < len(tokens) - 1:
            out.append(
                {
                    "text": " ",
                    "start": round(offset + word_end, 3),
                    "end": round(offset + t + dur, 3),
                    "type": "spacing",
                    "logprob": 0.0,
                }
            )
        t += dur
    return out


def _ulaw_to_int16(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa.astype(np.int32) << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)
