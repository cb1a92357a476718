"""Encoding to the ElevenLabs output formats and decoding uploaded audio files."""

from __future__ import annotations

import io
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest

from shared.audio import (
    DEFAULT_OUTPUT_FORMAT,
    OUTPUT_FORMATS,
    AudioDecodeError,
    AudioFormatError,
    OutputFormat,
    decode_to_mono,
    encode_pcm,
    parse_output_format,
)

SOURCE_RATE = 22050
TONE_HZ = 440.0
LEVEL = 0.3

ELEVENLABS_NAMES = {
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
}


def tone(seconds: float = 1.0, rate: int = SOURCE_RATE, hz: float = TONE_HZ) -> np.ndarray:
    """A sine at `LEVEL` of full scale as int16 samples."""
    t = np.arange(round(seconds * rate)) / rate
    return (LEVEL * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The frequency of the strongest FFT bin of `samples`."""
    x = np.asarray(samples, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(samples, dtype=np.float64)))))


def ulaw_expand(data: bytes) -> np.ndarray:
    """ITU-T G.711 mu-law to linear 16-bit."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + 0x84) << exponent
    return np.where(u & 0x80, 0x84 - magnitude, magnitude - 0x84)


def alaw_expand(data: bytes) -> np.ndarray:
    """ITU-T G.711 A-law to linear 16-bit."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = (a & 0x0F) << 4
    magnitude = np.where(
        exponent == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(a & 0x80, magnitude, -magnitude)


def make_file(
    container_format: str,
    codec: str,
    *,
    rate: int = 44100,
    channels: np.ndarray | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode a 1 s tone (or the given int16 channels x samples) into a container with PyAV."""
    planes = channels if channels is not None else tone(rate=rate).reshape(1, -1)
    layout = "mono" if planes.shape[0] == 1 else "stereo"
    packed = planes.T.reshape(1, -1) if layout == "stereo" else planes
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(packed), format="s16", layout=layout)
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout, options=options or {})
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


# --- output formats ------------------------------------------------------------------------------


def test_output_formats_are_the_elevenlabs_set():
    assert set(OUTPUT_FORMATS) == ELEVENLABS_NAMES
    assert DEFAULT_OUTPUT_FORMAT in OUTPUT_FORMATS
    for name, fmt in OUTPUT_FORMATS.items():
        assert fmt.name == name
        assert name.startswith(f"{fmt.codec}_{fmt.sample_rate}")


def test_parse_output_format_fields():
    assert parse_output_format("mp3_44100_128") == OutputFormat(
        "mp3_44100_128", "mp3", 44100, 128_000, "audio/mpeg"
    )
    assert parse_output_format("pcm_24000") == OutputFormat(
        "pcm_24000", "pcm", 24000, None, "audio/pcm"
    )
    assert parse_output_format("ulaw_8000").media_type == "audio/basic"
    assert parse_output_format("alaw_8000").media_type == "audio/x-alaw-basic"
    opus = parse_output_format("opus_48000_64")
    assert (opus.codec, opus.sample_rate, opus.bitrate, opus.media_type) == (
        "opus",
        48000,
        64_000,
        "audio/ogg",
    )


@pytest.mark.parametrize("name", ["mp3_44100_320", "wav_44100", "", "MP3_44100_128"])
def test_unknown_output_format_lists_known_names(name):
    with pytest.raises(AudioFormatError) as caught:
        parse_output_format(name)
    assert "mp3_44100_128" in str(caught.value)
    assert "opus_48000_192" in str(caught.value)
    with pytest.raises(AudioFormatError):
        encode_pcm(tone(), SOURCE_RATE, name)


# --- encoding ------------------------------------------------------------------------------------


def _compressed_names() -> list[str]:
    return [n for n, f in OUTPUT_FORMATS.items() if f.codec in ("mp3", "opus")]


@pytest.mark.parametrize("name", _compressed_names())
def test_compressed_formats_round_trip(name):
    fmt = OUTPUT_FORMATS[name]
    data = encode_pcm(tone(), SOURCE_RATE, name)

    with av.open(io.BytesIO(data)) as container:
        assert container.format.name == ("mp3" if fmt.codec == "mp3" else "ogg")
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith(fmt.codec)  # the MP3 decoder is "mp3float"
        assert stream.codec_context.sample_rate == fmt.sample_rate
        assert stream.codec_context.channels == 1
    # About the requested bitrate (container overhead included; mono Opus runs under target).
    assert 0.5 * fmt.bitrate / 8 < len(data) < 1.5 * fmt.bitrate / 8

    decoded = decode_to_mono(data, 16000)
    assert len(decoded) / 16000 == pytest.approx(1.0, abs=0.06)
    assert peak_hz(decoded, 16000) == pytest.approx(TONE_HZ, abs=10)
    assert rms(decoded) == pytest.approx(LEVEL / np.sqrt(2), rel=0.15)


def test_mp3_and_opus_headers():
    assert encode_pcm(tone(), SOURCE_RATE, "opus_48000_64")[:4] == b"OggS"
    assert b"OpusHead" in encode_pcm(tone(), SOURCE_RATE, "opus_48000_64")[:100]
    mp3 = encode_pcm(tone(), SOURCE_RATE, "mp3_44100_128")
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)


@pytest.mark.parametrize("name", [n for n, f in OUTPUT_FORMATS.items() if f.codec == "pcm"])
def test_pcm_formats_are_raw_s16le(name):
    rate = OUTPUT_FORMATS[name].sample_rate
    data = encode_pcm(tone(), SOURCE_RATE, name)
    assert abs(len(data) - 2 * rate) <= 2 * 64
    samples = np.frombuffer(data, dtype="<i2")
    assert peak_hz(samples, rate) == pytest.approx(TONE_HZ, abs=10)
    assert rms(samples) / 32767 == pytest.approx(LEVEL / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    ("name", "expand"), [("ulaw_8000", ulaw_expand), ("alaw_8000", alaw_expand)]
)
def test_g711_formats_are_raw_8khz(name, expand):
    data = encode_pcm(tone(), SOURCE_RATE, name)
    assert abs(len(data) - 8000) <= 64
    samples = expand(data)
    assert peak_hz(samples, 8000) == pytest.approx(TONE_HZ, abs=10)
    assert rms(samples) / 32767 == pytest.approx(LEVEL / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    ("name", "decoder_name", "expand"),
    [("ulaw_8000", "pcm_mulaw", ulaw_expand), ("alaw_8000", "pcm_alaw", alaw_expand)],
)
def test_g711_expansion_matches_ffmpeg_decoder(name, decoder_name, expand):
    data = encode_pcm(tone(), SOURCE_RATE, name)
    decoder = av.CodecContext.create(decoder_name, "r")
    decoder.sample_rate = 8000
    decoder.layout = "mono"
    frames = decoder.decode(av.Packet(data))
    decoded = np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames])
    np.testing.assert_array_equal(decoded, expand(data))


def test_encode_accepts_bytes_and_output_format_objects():
    samples = tone()
    as_array = encode_pcm(samples, SOURCE_RATE, "pcm_16000")
    as_bytes = encode_pcm(samples.astype("<i2").tobytes(), SOURCE_RATE, OUTPUT_FORMATS["pcm_16000"])
    assert as_array == as_bytes


def test_pcm_at_its_own_rate_is_unchanged():
    samples = tone(rate=24000)
    assert encode_pcm(samples, 24000, "pcm_24000") == samples.astype("<i2").tobytes()


@pytest.mark.parametrize("source_rate", [8000, 16000, 48000])
def test_encode_resamples_from_any_input_rate(source_rate):
    data = encode_pcm(tone(rate=source_rate), source_rate, "mp3_24000_48")
    decoded = decode_to_mono(data, 16000)
    assert len(decoded) / 16000 == pytest.approx(1.0, abs=0.06)
    assert peak_hz(decoded, 16000) == pytest.approx(TONE_HZ, abs=10)


def test_encode_empty_input():
    assert encode_pcm(b"", SOURCE_RATE, "pcm_16000") == b""
    assert encode_pcm(np.zeros(0, np.int16), SOURCE_RATE, "ulaw_8000") == b""


def test_encode_rejects_bad_pcm():
    with pytest.raises(ValueError):
        encode_pcm(b"\x00\x01\x02", SOURCE_RATE, "pcm_16000")
    with pytest.raises(ValueError):
        encode_pcm(tone().astype(np.float32), SOURCE_RATE, "pcm_16000")


# --- decoding ------------------------------------------------------------------------------------

# (container, encoder, channels, encoder options)
CONTAINERS = {
    "wav": ("wav", "pcm_s16le", 1, None),
    "mp3": ("mp3", "libmp3lame", 1, None),
    "ogg-opus": ("ogg", "libopus", 1, None),
    # FFmpeg's own Vorbis encoder is experimental and stereo-only.
    "ogg-vorbis": ("ogg", "vorbis", 2, {"strict": "experimental"}),
    "webm-opus": ("webm", "libopus", 1, None),
    "m4a-aac": ("ipod", "aac", 1, None),
    "flac": ("flac", "flac", 1, None),
}


@pytest.mark.parametrize("kind", list(CONTAINERS))
def test_decode_common_containers(kind):
    container_format, codec, channels, options = CONTAINERS[kind]
    rate = 48000 if codec == "libopus" else 44100
    planes = np.tile(tone(rate=rate), (channels, 1))
    data = make_file(container_format, codec, rate=rate, channels=planes, options=options)

    decoded = decode_to_mono(data)
    assert decoded.dtype == np.float32
    assert decoded.ndim == 1
    assert len(decoded) / 16000 == pytest.approx(1.0, abs=0.06)
    assert peak_hz(decoded, 16000) == pytest.approx(TONE_HZ, abs=10)
    assert rms(decoded) == pytest.approx(LEVEL / np.sqrt(2), rel=0.15)
    assert np.abs(decoded).max() <= 1.0


def test_decode_to_other_rate():
    decoded = decode_to_mono(make_file("wav", "pcm_s16le", rate=44100), sample_rate=8000)
    assert len(decoded) == pytest.approx(8000, abs=32)
    assert peak_hz(decoded, 8000) == pytest.approx(TONE_HZ, abs=10)


def test_decode_downmixes_stereo():
    left = tone(rate=44100)
    right = tone(rate=44100, hz=1000.0)
    data = make_file("wav", "pcm_s16le", rate=44100, channels=np.stack([left, right]))
    decoded = decode_to_mono(data)
    assert len(decoded) == pytest.approx(16000, abs=32)
    spectrum = np.abs(np.fft.rfft(decoded * np.hanning(len(decoded))))
    freqs = np.fft.rfftfreq(len(decoded), 1 / 16000)
    at_440 = spectrum[np.argmin(np.abs(freqs - 440))]
    at_1000 = spectrum[np.argmin(np.abs(freqs - 1000))]
    # Both channels survive at similar strength; nothing else is as loud.
    assert at_440 == pytest.approx(at_1000, rel=0.2)
    assert spectrum.max() == pytest.approx(max(at_440, at_1000), rel=0.01)


def test_decode_keeps_the_level_of_dual_mono():
    loud = (0.9 * 32767 * np.sin(2 * np.pi * TONE_HZ * np.arange(44100) / 44100)).astype(np.int16)
    data = make_file("wav", "pcm_s16le", rate=44100, channels=np.stack([loud, loud]))
    decoded = decode_to_mono(data)
    # Identical channels are averaged, not summed: no gain, no clipping.
    assert np.abs(decoded).max() == pytest.approx(0.9, abs=0.02)
    assert rms(decoded) == pytest.approx(0.9 / np.sqrt(2), rel=0.02)


def test_decode_follows_a_sample_rate_change():
    first = encode_pcm(tone(), SOURCE_RATE, "mp3_44100_128")
    second = encode_pcm(tone(hz=880.0), SOURCE_RATE, "mp3_22050_32")
    decoded = decode_to_mono(first + second)
    assert len(decoded) / 16000 == pytest.approx(2.0, abs=0.15)
    assert peak_hz(decoded[:15000], 16000) == pytest.approx(TONE_HZ, abs=10)
    assert peak_hz(decoded[-15000:], 16000) == pytest.approx(880.0, abs=10)


def test_decode_returns_the_audio_before_a_cut():
    data = encode_pcm(tone(), SOURCE_RATE, "mp3_44100_128")
    decoded = decode_to_mono(data[: len(data) // 2])
    assert 0.3 < len(decoded) / 16000 < 0.7
    assert peak_hz(decoded, 16000) == pytest.approx(TONE_HZ, abs=10)


def test_decode_skips_a_damaged_packet():
    data = encode_pcm(tone(), SOURCE_RATE, "mp3_44100_128")
    cut = len(data) // 3
    damaged = data[:cut] + np.random.default_rng(0).bytes(500) + data[cut + 500 :]
    decoded = decode_to_mono(damaged)
    assert 0.7 < len(decoded) / 16000 < 1.1
    assert peak_hz(decoded, 16000) == pytest.approx(TONE_HZ, abs=10)


def _wav() -> bytes:
    return make_file("wav", "pcm_s16le", rate=16000)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not audio at all" * 100, id="text"),
        pytest.param(np.random.default_rng(1).bytes(20000), id="random"),
        pytest.param(b"\x00" * 4096, id="zeros"),
        pytest.param(_wav()[:20], id="truncated-wav-header"),
        pytest.param(_wav()[:44], id="wav-header-only"),
        pytest.param(make_file("mp3", "libmp3lame")[:100], id="truncated-mp3"),
    ],
)
def test_decode_rejects_undecodable_input(data):
    with pytest.raises(AudioDecodeError) as caught:
        decode_to_mono(data)
    message = str(caught.value)
    assert message and "\n" not in message


def test_decode_rejects_file_without_audio_stream():
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode_to_mono(buffer.getvalue())


def test_ulaw_codec_matches_the_reference_encoder_and_round_trips():
    from shared.audio import ulaw_decode, ulaw_encode

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # CPython's G.711 (until 3.13): the reference

    every = np.arange(-32768, 32768, dtype=np.int16)
    assert ulaw_encode(every) == audioop.lin2ulaw(every.tobytes(), 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)
    tone = (np.sin(np.arange(800) / 5) * 12000).astype(np.int16)
    error = np.abs(ulaw_decode(ulaw_encode(tone)).astype(int) - tone)
    assert error.max() < 12000 * 0.04  # mu-law keeps ~3% of the amplitude at worst
