"""Audio encoding and decoding for the REST control plane.

`encode_pcm` turns synthesized speech (mono signed 16-bit PCM) into one of the ElevenLabs
``output_format`` encodings, and `decode_to_mono` turns an uploaded audio file of any common
container and codec into float32 mono samples for speech-to-text. PyAV (FFmpeg) does all of the
encoding, decoding and resampling.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
import numpy as np

__all__ = [
    "DEFAULT_OUTPUT_FORMAT",
    "OUTPUT_FORMATS",
    "AudioDecodeError",
    "AudioFormatError",
    "AudioTooLongError",
    "OutputFormat",
    "decode_to_mono",
    "encode_pcm",
    "parse_output_format",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
]


class AudioFormatError(ValueError):
    """An ``output_format`` name that is not one of `OUTPUT_FORMATS`."""


class AudioTooLongError(ValueError):
    """Decoded audio passed the allowed duration."""


class AudioDecodeError(ValueError):
    """Input bytes that hold no decodable audio."""


@dataclass(frozen=True)
class OutputFormat:
    """One ElevenLabs ``output_format``: codec, sample rate, bitrate and HTTP content type."""

    name: str
    codec: str
    sample_rate: int
    bitrate: int | None
    media_type: str


_MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "pcm": "audio/pcm",
    "ulaw": "audio/basic",
    "alaw": "audio/x-alaw-basic",
    "opus": "audio/ogg",
}

# (container format, encoder) used by PyAV for each codec family.
_MUXERS = {
    "mp3": ("mp3", "libmp3lame"),
    "pcm": ("s16le", "pcm_s16le"),
    "ulaw": ("mulaw", "pcm_mulaw"),
    "alaw": ("alaw", "pcm_alaw"),
    "opus": ("ogg", "libopus"),
}


def _compressed(codec: str, rate: int, kbps: int) -> OutputFormat:
    return OutputFormat(f"{codec}_{rate}_{kbps}", codec, rate, kbps * 1000, _MEDIA_TYPES[codec])


def _raw(codec: str, rate: int) -> OutputFormat:
    return OutputFormat(f"{codec}_{rate}", codec, rate, None, _MEDIA_TYPES[codec])


_ALL_FORMATS = [
    _compressed("mp3", 22050, 32),
    _compressed("mp3", 24000, 48),
    *(_compressed("mp3", 44100, kbps) for kbps in (32, 64, 96, 128, 192)),
    *(_raw("pcm", rate) for rate in (8000, 16000, 22050, 24000, 32000, 44100, 48000)),
    _raw("ulaw", 8000),
    _raw("alaw", 8000),
    *(_compressed("opus", 48000, kbps) for kbps in (32, 64, 96, 128, 192)),
]

OUTPUT_FORMATS: dict[str, OutputFormat] = {fmt.name: fmt for fmt in _ALL_FORMATS}
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"


def parse_output_format(name: str) -> OutputFormat:
    """Look up an ElevenLabs ``output_format`` name; raise `AudioFormatError` if unknown."""
    try:
        return OUTPUT_FORMATS[name]
    except (KeyError, TypeError):
        known = ", ".join(OUTPUT_FORMATS)
        raise AudioFormatError(
            f"unknown output_format {name!r}; expected one of: {known}"
        ) from None


def _as_int16(pcm: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """View mono s16le PCM bytes or an int16 array as a 1-D int16 array."""
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16:
            raise ValueError(f"PCM array must be int16, got {pcm.dtype}")
        if pcm.ndim != 1 and not (pcm.ndim == 2 and 1 in pcm.shape):
            raise ValueError(f"PCM array must be mono (1-D), got shape {pcm.shape}")
        return np.ascontiguousarray(pcm.reshape(-1))
    raw = bytes(pcm)
    if len(raw) % 2:
        raise ValueError("PCM bytes must hold whole 16-bit samples (even length)")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16, copy=False)


def encode_pcm(
    pcm: bytes | np.ndarray, sample_rate: int, output_format: str | OutputFormat
) -> bytes:
    """Encode mono 16-bit PCM at `sample_rate` as a complete file or stream in `output_format`.

    The audio is resampled to the format's rate. Raw formats (``pcm_*``, ``ulaw_8000``,
    ``alaw_8000``) come back without any header; ``mp3_*`` is an MPEG audio stream and
    ``opus_*`` an Ogg Opus file.
    """
    fmt = output_format
    if not isinstance(fmt, OutputFormat):
        fmt = parse_output_format(fmt)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    samples = _as_int16(pcm)

    container_format, encoder = _MUXERS[fmt.codec]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=fmt.sample_rate, layout="mono")
        assert isinstance(stream, av.audio.stream.AudioStream)
        if fmt.bitrate is not None:
            stream.bit_rate = fmt.bitrate
        if samples.size:
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = 0
            frame.time_base = Fraction(1, sample_rate)
            for frame_out in _resample([frame], "s16", fmt.sample_rate):
                container.mux(stream.encode(frame_out))
        container.mux(stream.encode(None))
    return buffer.getvalue()


# Downmix with gains that sum to at most 1, so that identical channels keep their level instead of
# gaining 3 dB (FFmpeg's default for float output), which would clip loud dual-mono recordings.
_DOWNMIX_OPTIONS = {"rematrix_maxval": "1.0"}


def _resample(frames: Iterable[av.AudioFrame], sample_format: str, rate: int) -> Iterator:
    """Convert `frames` to mono `sample_format` at `rate`, flushing the resampler at the end.

    A new resampler is started whenever the input format, layout or rate changes mid-stream
    (MP3 files of different sample rates joined together, for example).
    """
    resampler = None
    source = None
    for frame in frames:
        params = (frame.format.name, frame.layout.name, frame.sample_rate)
        if params != source:
            if resampler is not None:
                yield from _drain(resampler.resample(None))
            resampler = av.AudioResampler(
                format=sample_format, layout="mono", rate=rate, options=_DOWNMIX_OPTIONS
            )
            source = params
        assert resampler is not None
        yield from _drain(resampler.resample(frame))
    if resampler is not None:
        yield from _drain(resampler.resample(None))


def _drain(frames: list) -> Iterator[av.AudioFrame]:
    """Skip the ``None`` a pass-through resampler returns when flushed."""
    return (frame for frame in frames if frame is not None)


def _decoded_frames(container: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    """Decode the first audio stream of `container`, as the ``ffmpeg`` command line does.

    A packet the decoder rejects is skipped, and a read error ends the stream, so a damaged or
    truncated file yields the audio that could be recovered. If nothing at all was decoded the
    last error is raised.
    """
    stream = container.streams.audio[0]
    error: av.error.FFmpegError | None = None
    decoded = False
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            error = exc
            break
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as exc:
            error = exc
            continue
        decoded = decoded or bool(frames)
        yield from frames
    if error is not None and not decoded:
        raise error


def decode_to_mono(
    data: bytes, sample_rate: int = 16000, *, max_seconds: float | None = None
) -> np.ndarray:
    """Decode an audio file to float32 mono samples in [-1, 1] at `sample_rate`.

    Accepts any container and codec FFmpeg can probe (WAV, MP3, Ogg Opus/Vorbis, WebM, M4A/AAC,
    FLAC, ...) and uses the first audio stream; multichannel audio is downmixed. Damaged packets
    are skipped and a truncated file gives the audio before the cut. Raises `AudioDecodeError`
    for empty input, unrecognised data, files without an audio stream and files from which no
    samples could be decoded, and `AudioTooLongError` as soon as the decoded audio passes
    `max_seconds` (a small file can hold hours of silence: decoding stops there).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not data:
        raise AudioDecodeError("empty audio input")
    limit = math.inf if max_seconds is None else max_seconds * sample_rate
    chunks: list[np.ndarray] = []
    decoded = 0
    try:
        with av.open(io.BytesIO(bytes(data)), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("no audio stream in the uploaded file")
            for frame in _resample(_decoded_frames(container), "flt", sample_rate):
                chunks.append(frame.to_ndarray().reshape(-1))
                decoded += len(chunks[-1])
                if decoded > limit:
                    raise AudioTooLongError(f"audio longer than {max_seconds:.0f} s")
    except av.error.FFmpegError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AudioDecodeError(f"cannot decode audio: {reason}") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if not samples.size:
        raise AudioDecodeError("no audio samples could be decoded")
    return np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """int16 mono samples at `dst_rate` (FFmpeg's resampler: deterministic, so a fake that
    resamples its speech gives the same bytes every time)."""
    if src_rate == dst_rate or not len(samples):
        return samples
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = src_rate
    out = [f.to_ndarray().reshape(-1) for f in _resample([frame], "s16", dst_rate)]
    return np.concatenate(out) if out else np.zeros(0, np.int16)


# --- G.711 mu-law (telephone audio: 8 kHz, a byte per sample) ------------------------------------

_ULAW_BIAS = 0x84
_ULAW_CLIP14 = 8159


def _ulaw_decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_ULAW_TO_PCM = _ulaw_decode_table()


def ulaw_decode(data: bytes | bytearray | memoryview) -> np.ndarray:
    """int16 samples of G.711 mu-law bytes (a byte per sample)."""
    return _ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 mu-law bytes of int16 samples (the reference encoder's 14-bit rounding, as
    CPython's `audioop.lin2ulaw`)."""
    pcm = np.asarray(samples, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP14) + 0x21
    segment = np.maximum(np.floor(np.log2(magnitude)).astype(np.int32) - 5, 0)
    code = np.where(
        segment > 7, 0x7F, (np.minimum(segment, 7) << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    )
    return (code ^ mask).astype(np.uint8).tobytes()
