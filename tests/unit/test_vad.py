from __future__ import annotations

import numpy as np
import pytest
from livekit.agents import vad

from pipelines.vad import WebRTCVAD, WebRTCVADOptions
from simulator.audio import speech_segments

START = vad.VADEventType.START_OF_SPEECH
END = vad.VADEventType.END_OF_SPEECH
DONE = vad.VADEventType.INFERENCE_DONE

PHRASE_A = "Please book a table"
PHRASE_B = "for two people tonight"


def push(stream, samples: np.ndarray, rate: int, tools, chunk_ms: int = 10, channels: int = 1):
    n = rate * chunk_ms // 1000 * channels
    for i in range(0, len(samples), n):
        stream.push_frame(tools.to_frame(samples[i : i + n], rate, channels))


async def run_vad(
    samples: np.ndarray,
    rate: int,
    tools,
    options: WebRTCVADOptions | None = None,
    chunk_ms: int = 10,
    channels: int = 1,
) -> list[vad.VADEvent]:
    stream = WebRTCVAD(options).stream()
    push(stream, samples, rate, tools, chunk_ms, channels)
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    return events


def transitions(events: list[vad.VADEvent]) -> list[vad.VADEvent]:
    return [ev for ev in events if ev.type is not DONE]


def end_audio(event: vad.VADEvent, tools) -> np.ndarray:
    return tools.frames_to_samples(event.frames)


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
async def test_one_utterance_is_one_segment_with_accurate_bounds(rate, signal, audio_tools):
    sig = signal(rate=rate)
    events = await run_vad(sig.samples, sig.rate, audio_tools)

    marks = transitions(events)
    assert [ev.type for ev in marks] == [START, END]
    start, end = marks

    # START comes after min_speech_duration (0.1 s) of voiced frames, plus at most a frame.
    assert 0.0 <= start.timestamp - sig.speech_start <= 0.15
    assert start.speaking is True
    # END is declared after the hold; the hold is reported as silence_duration.
    assert end.silence_duration == pytest.approx(0.3, abs=0.021)
    assert end.timestamp - end.silence_duration == pytest.approx(sig.speech_end, abs=0.2)
    assert end.speaking is False
    assert end.speech_duration == pytest.approx(sig.speech_duration, abs=0.25)

    # END frames: the utterance at the input rate, plus prefix padding and the hold.
    assert {(f.sample_rate, f.num_channels) for f in end.frames} == {(rate, 1)}
    audio = end_audio(end, audio_tools)
    seconds = len(audio) / rate
    assert sig.speech_duration <= seconds <= sig.speech_duration + 0.3 + 0.3 + 0.25
    heard = speech_segments(audio, rate, min_gap=10.0)
    assert len(heard) == 1
    assert heard[0].duration == pytest.approx(sig.speech_duration, abs=0.03)


async def test_inference_events_cover_the_whole_signal(signal, audio_tools):
    sig = signal(rate=48000)
    events = await run_vad(sig.samples, sig.rate, audio_tools)
    done = [ev for ev in events if ev.type is DONE]

    stamps = [ev.timestamp for ev in done]
    assert stamps == sorted(stamps)
    assert np.allclose(np.diff(stamps), 0.02)  # one event per 20 ms frame
    assert stamps[-1] == pytest.approx(sig.duration, abs=0.04)
    # Probabilities follow the signal: none in the leading silence, voiced in the middle.
    assert all(ev.probability == 0.0 for ev in done if ev.timestamp < sig.speech_start)
    middle = [ev for ev in done if sig.speech_start + 0.2 < ev.timestamp < sig.speech_end - 0.2]
    assert sum(ev.probability for ev in middle) / len(middle) > 0.8
    assert any(ev.speaking for ev in middle)


@pytest.mark.parametrize(
    "chunk_ms",
    [
        10,
        20,
        100,
        250,
        500,
    ],
)
async def test_end_frames_hold_the_whole_utterance_whatever_the_input_frame_size(
    chunk_ms, signal, audio_tools
):
    sig = signal(rate=24000)
    events = await run_vad(sig.samples, sig.rate, audio_tools, chunk_ms=chunk_ms)
    marks = transitions(events)
    assert [ev.type for ev in marks] == [START, END]
    # Event timing does not depend on how the audio is chunked.
    assert marks[0].timestamp - sig.speech_start <= 0.15

    audio = end_audio(marks[1], audio_tools)
    heard = speech_segments(audio, sig.rate, min_gap=10.0)
    assert len(heard) == 1
    # All of the speech, and some of the prefix padding before it (0.3 s before the START).
    assert heard[0].duration == pytest.approx(sig.speech_duration, abs=0.03)
    assert heard[0].start >= 0.15


async def test_stereo_input_is_downmixed(signal, audio_tools):
    sig = signal(rate=48000)
    stereo = np.repeat(sig.samples, 2)  # interleaved L/R, identical channels
    mono_events = transitions(await run_vad(sig.samples, sig.rate, audio_tools))
    stereo_events = transitions(await run_vad(stereo, sig.rate, audio_tools, channels=2))

    assert [ev.type for ev in stereo_events] == [START, END]
    assert [ev.timestamp for ev in stereo_events] == [ev.timestamp for ev in mono_events]
    audio = end_audio(stereo_events[1], audio_tools)
    assert len(audio) == len(end_audio(mono_events[1], audio_tools))


@pytest.mark.parametrize(("gap", "segments"), [(0.15, 1), (0.8, 2)])
async def test_pause_splits_only_when_longer_than_min_silence(gap, segments, composer, audio_tools):
    rate = 24000
    sig = composer([0.5, PHRASE_A, gap, PHRASE_B, 1.0], rate)
    opts = WebRTCVADOptions(min_silence_duration=0.3)
    marks = transitions(await run_vad(sig.samples, rate, audio_tools, opts))

    assert [ev.type for ev in marks] == [START, END] * segments
    ends = [ev for ev in marks if ev.type is END]
    if segments == 1:
        assert ends[0].timestamp - ends[0].silence_duration == pytest.approx(
            sig.spans[1][1], abs=0.2
        )
        heard = speech_segments(end_audio(ends[0], audio_tools), rate, min_gap=10.0)
        assert heard[0].duration == pytest.approx(sig.speech_duration, abs=0.03)
    else:
        for end, (span_start, span_end) in zip(ends, sig.spans, strict=True):
            assert end.timestamp - end.silence_duration == pytest.approx(span_end, abs=0.2)
            heard = speech_segments(end_audio(end, audio_tools), rate, min_gap=10.0)
            assert len(heard) == 1
            assert heard[0].duration == pytest.approx(span_end - span_start, abs=0.03)


async def test_longer_min_silence_holds_across_the_same_pause(composer, audio_tools):
    rate = 16000
    sig = composer([0.5, PHRASE_A, 0.8, PHRASE_B, 2.0], rate)
    opts = WebRTCVADOptions(min_silence_duration=1.0)
    marks = transitions(await run_vad(sig.samples, rate, audio_tools, opts))
    assert [ev.type for ev in marks] == [START, END]
    assert marks[1].silence_duration == pytest.approx(1.0, abs=0.021)
    assert marks[1].timestamp - 1.0 == pytest.approx(sig.speech_end, abs=0.2)


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
async def test_every_frame_size_detects_the_utterance(frame_ms, signal, audio_tools):
    sig = signal(rate=16000)
    opts = WebRTCVADOptions(frame_ms=frame_ms)
    events = await run_vad(sig.samples, sig.rate, audio_tools, opts)
    done = [ev for ev in events if ev.type is DONE]
    assert np.allclose(np.diff([ev.timestamp for ev in done]), frame_ms / 1000)
    marks = transitions(events)
    assert [ev.type for ev in marks] == [START, END]
    assert 0.0 <= marks[0].timestamp - sig.speech_start <= 0.1 + frame_ms / 1000 + 0.05


async def test_min_speech_duration_needs_that_much_continuous_voicing(signal, audio_tools):
    sig = signal(rate=16000)
    fast = transitions(await run_vad(sig.samples, sig.rate, audio_tools))
    slow_opts = WebRTCVADOptions(min_speech_duration=0.5)
    events = await run_vad(sig.samples, sig.rate, audio_tools, slow_opts)
    slow = transitions(events)
    assert [ev.type for ev in slow] == [START, END]
    assert slow[0].timestamp >= fast[0].timestamp + 0.4
    assert slow[0].speech_duration == pytest.approx(0.5, abs=1e-6)
    # The START follows exactly 25 voiced 20 ms frames, after an unvoiced one.
    done = [ev for ev in events if ev.type is DONE and ev.timestamp <= slow[0].timestamp]
    assert [ev.probability for ev in done[-26:]] == [0.0] + [1.0] * 25


@pytest.mark.parametrize(
    ("rate", "aggressiveness"),
    [
        (16000, 0),
        (16000, 2),
        (16000, 3),
        (48000, 2),
        (48000, 3),
        (48000, 0),
        (48000, 1),
    ],
)
async def test_pure_silence_never_starts_speech(rate, aggressiveness, audio_tools):
    silence = np.zeros(2 * rate, dtype=np.int16)
    opts = WebRTCVADOptions(aggressiveness=aggressiveness)
    events = await run_vad(silence, rate, audio_tools, opts)
    assert transitions(events) == []
    assert len(events) >= 98  # the 2 s were analysed in 20 ms frames
    assert all(ev.probability == 0.0 and not ev.speaking for ev in events)


@pytest.mark.parametrize(
    ("aggressiveness", "frame_ms"),
    [(2, 10), (2, 20), (3, 20), (0, 20)],
)
async def test_low_noise_never_starts_speech(aggressiveness, frame_ms, audio_tools):
    rate = 16000
    noise = np.random.default_rng(7).normal(0.0, 32768 * 10 ** (-50 / 20), 2 * rate)
    opts = WebRTCVADOptions(aggressiveness=aggressiveness, frame_ms=frame_ms)
    events = await run_vad(noise.astype(np.int16), rate, audio_tools, opts)
    assert transitions(events) == []


async def test_flush_mid_utterance_starts_a_fresh_segment(composer, audio_tools):
    rate = 16000
    first = composer([0.5, PHRASE_A], rate)
    second = composer([0.5, PHRASE_B, 1.0], rate)
    stream = WebRTCVAD().stream()
    push(stream, first.samples, rate, audio_tools)
    stream.flush()
    push(stream, second.samples, rate, audio_tools)
    stream.end_input()
    marks = transitions([ev async for ev in stream])
    await stream.aclose()

    # The first utterance was cut by the flush: it started but never gets an END.
    assert marks[0].type is START
    assert marks[0].timestamp < first.duration
    last = marks[-1]
    assert last.type is END
    # The last segment holds the second phrase only: nothing from before the flush leaks in.
    audio = end_audio(last, audio_tools)
    heard = speech_segments(audio, rate, min_gap=10.0)
    assert len(heard) == 1
    assert heard[0].duration == pytest.approx(second.speech_duration, abs=0.03)
    assert len(audio) / rate < second.speech_duration + 0.3 + 0.3 + 0.25


async def test_flush_mid_utterance_leaks_no_detector_state(composer, audio_tools):
    rate = 16000
    first = composer([0.5, PHRASE_A], rate)
    stream = WebRTCVAD().stream()
    push(stream, first.samples, rate, audio_tools)
    stream.flush()
    push(stream, np.zeros(rate, dtype=np.int16), rate, audio_tools)  # 1 s of digital silence
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()

    after_flush = [ev for ev in events if ev.timestamp > first.duration]
    assert after_flush, "the silence after the flush was not analysed"
    assert [ev.type for ev in transitions(after_flush)] == []
    assert all(ev.probability == 0.0 for ev in after_flush)


async def test_a_segmenter_sends_its_cuts_alone(signal, audio_tools):
    """Without inference events (the STT's segmenter) the same starts and ends come out, and
    nothing else: no event per frame for a consumer that reads only the cuts."""
    sig = signal(rate=16000)
    every = await run_vad(sig.samples, 16000, audio_tools)
    cuts = await run_vad(sig.samples, 16000, audio_tools, WebRTCVADOptions(inference_events=False))
    assert any(ev.type is DONE for ev in every)
    assert [ev.type for ev in cuts] == [ev.type for ev in transitions(every)] == [START, END]
    assert [ev.samples_index for ev in cuts] == [ev.samples_index for ev in transitions(every)]
    assert len(end_audio(cuts[-1], audio_tools)) == len(
        end_audio(transitions(every)[-1], audio_tools)
    )


def test_options_defaults_and_validation():
    opts = WebRTCVADOptions()
    assert (opts.aggressiveness, opts.frame_ms) == (2, 20)
    assert (opts.min_speech_duration, opts.min_silence_duration) == (0.1, 0.3)
    for bad in (-1, 4):
        with pytest.raises(ValueError, match="aggressiveness"):
            WebRTCVADOptions(aggressiveness=bad)
    for bad in (0, 15, 25, 40):
        with pytest.raises(ValueError, match="frame_ms"):
            WebRTCVADOptions(frame_ms=bad)
    with pytest.raises(AttributeError):
        opts.frame_ms = 10  # type: ignore[misc]


def test_vad_properties_and_update_options():
    detector = WebRTCVAD(WebRTCVADOptions(aggressiveness=3, frame_ms=30))
    assert detector.model == "webrtcvad-3"
    assert detector.provider == "webrtc"
    assert detector.capabilities.update_interval == pytest.approx(0.03)
    detector.update_options(min_silence_duration=0.8)
    assert detector.options.min_silence_duration == 0.8
    assert detector.options.aggressiveness == 3
    with pytest.raises(ValueError, match="frame_ms"):
        detector.update_options(frame_ms=25)
    assert detector.options.frame_ms == 30
