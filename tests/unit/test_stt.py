from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from livekit.agents import stt

from pipelines.errors import ModelNotFoundError, PipelineSetupError
from pipelines.stt import WhisperModelHandle, WhisperSTT, WhisperSTTOptions
from pipelines.stt.whisper import WHISPER_RATE, buffer_to_whisper_audio
from simulator.audio import speech_segments
from simulator.speech import render_speech

# Sentences tiny.en recognises reliably from espeak-ng's voice.
WEATHER = "I would like to check the weather for tomorrow"
LONDON = "My name is John and I live in London"
LONG_TURN = [
    WEATHER,
    "Can you tell me the opening hours of the museum",
    LONDON,
    "What time does the train leave",
    "I need a taxi to the airport in the morning",
    "How much does a ticket cost",
    "The meeting has been moved to Friday afternoon",
    "Could you send me the invoice by email",
    "We are out of milk and bread",
    "Please book a table for two people",
]


DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip


def as_float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0


def spoken_digits(text: str) -> str:
    """The digits of `text` in order, whether written as numerals or as words."""
    return "".join(
        DIGITS.get(tok, "") if tok.isalpha() else tok
        for tok in re.findall(r"[a-z]+|[0-9]", text.lower())
    )


@pytest.fixture
def path_spy(whisper_handle, monkeypatch):
    """Records which decoding path `transcribe` takes ("short" or "long")."""
    taken: list[str] = []
    short, long = whisper_handle._transcribe_short, whisper_handle.model.transcribe

    def spy_short(*args, **kwargs):
        taken.append("short")
        return short(*args, **kwargs)

    def spy_long(*args, **kwargs):
        taken.append("long")
        return long(*args, **kwargs)

    monkeypatch.setattr(whisper_handle, "_transcribe_short", spy_short)
    monkeypatch.setattr(whisper_handle.model, "transcribe", spy_long)
    return taken


def test_handle_loads_the_packaged_english_model(whisper_handle):
    assert (whisper_handle.path / "model.bin").is_file()
    assert whisper_handle.english_only is True


@pytest.mark.parametrize("text", [WEATHER, LONDON])
def test_transcribes_espeak_speech(text, whisper_handle, audio_tools, path_spy):
    heard = whisper_handle.transcribe(
        as_float(render_speech(text, rate=WHISPER_RATE)), language="en", beam_size=1
    )
    assert audio_tools.word_recall(text, heard) >= 0.7, heard
    assert len(audio_tools.words(heard)) <= 1.5 * len(audio_tools.words(text)), heard
    assert path_spy == ["short"]


def test_language_tag_with_region_is_accepted(whisper_handle, audio_tools):
    heard = whisper_handle.transcribe(
        as_float(render_speech(LONDON, rate=WHISPER_RATE)), language="en-US", beam_size=2
    )
    assert audio_tools.word_recall(LONDON, heard) >= 0.7, heard


@pytest.mark.parametrize("text", ["Thank you very much, goodbye", "Hello"])
def test_short_path_does_not_repeat_words(text, whisper_handle, audio_tools):
    heard = whisper_handle.transcribe(
        as_float(render_speech(text, rate=WHISPER_RATE)), language="en", beam_size=1
    )
    spoken = Counter(audio_tools.words(text))
    extra = {w: n for w, n in Counter(audio_tools.words(heard)).items() if n > spoken[w]}
    assert not extra, heard


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("Call me on five five five, one two three four", "5551234"),
        ("My PIN is one one one one", "1111"),
    ],
)
def test_short_path_keeps_repeated_digits(text, digits, whisper_handle):
    heard = whisper_handle.transcribe(
        as_float(render_speech(text, rate=WHISPER_RATE)), language="en", beam_size=1
    )
    assert digits in spoken_digits(heard), heard


def test_short_path_does_not_truncate_brisk_speech(whisper_handle, audio_tools):
    text = ". ".join(LONG_TURN[:4])
    audio = render_speech(text, rate=WHISPER_RATE, words_per_minute=220)
    assert len(audio) < 10 * WHISPER_RATE
    heard = whisper_handle.transcribe(as_float(audio), language="en", beam_size=1)
    assert audio_tools.word_recall(LONG_TURN[0], heard) >= 0.7, heard
    assert audio_tools.word_recall(LONG_TURN[3], heard) >= 0.7, heard


async def test_recognize_48k_frame_is_resampled_and_transcribed(whisper_handle, audio_tools):
    recognizer = WhisperSTT(whisper_handle)
    samples = render_speech(WEATHER, rate=48000)
    event = await recognizer.recognize(audio_tools.to_frame(samples, 48000))

    assert event.type is stt.SpeechEventType.FINAL_TRANSCRIPT
    assert event.request_id
    alt = event.alternatives[0]
    assert alt.language == "en"
    assert audio_tools.word_recall(WEATHER, alt.text) >= 0.7, alt.text


async def test_recognize_a_list_of_24k_frames(whisper_handle, audio_tools):
    recognizer = WhisperSTT(whisper_handle, WhisperSTTOptions(language="en"))
    samples = render_speech(LONDON, rate=24000)
    frames = [
        audio_tools.to_frame(samples[i : i + 480], 24000) for i in range(0, len(samples), 480)
    ]
    event = await recognizer.recognize(frames)
    assert audio_tools.word_recall(LONDON, event.alternatives[0].text) >= 0.7


@pytest.mark.parametrize("seconds", [0.0, 0.01, 0.09])
async def test_recognize_too_short_buffer_gives_empty_text(seconds, whisper_handle, audio_tools):
    recognizer = WhisperSTT(whisper_handle)
    samples = render_speech(WEATHER, rate=48000)[: round(seconds * 48000)]
    event = await recognizer.recognize(audio_tools.to_frame(samples, 48000))
    assert event.type is stt.SpeechEventType.FINAL_TRANSCRIPT
    assert event.alternatives[0].text == ""


async def test_recognize_silence_gives_empty_text(whisper_handle, audio_tools):
    recognizer = WhisperSTT(whisper_handle)
    event = await recognizer.recognize(audio_tools.to_frame(np.zeros(48000, np.int16), 48000))
    assert event.alternatives[0].text == ""


async def test_recognize_a_short_phrase_after_the_segmenters_padding(whisper_handle, audio_tools):
    # The segment the StreamAdapter cuts for the words after a pause: the segmenter's 0.3 s
    # of prefix padding before them, its hold after. tiny.en gives it a no-speech probability
    # of 0.64 (anywhere in 0.2-0.7 over a real call), with a confident decode.
    speech = render_speech("for my sister", rate=WHISPER_RATE)
    segments = speech_segments(speech, WHISPER_RATE)
    words = speech[int(segments[0].start * WHISPER_RATE) : int(segments[-1].end * WHISPER_RATE)]
    padded = np.concatenate(
        [np.zeros(WHISPER_RATE * 3 // 10, np.int16), words, np.zeros(WHISPER_RATE // 2, np.int16)]
    )
    event = await WhisperSTT(whisper_handle).recognize(audio_tools.to_frame(padded, WHISPER_RATE))
    assert "sister" in audio_tools.words(event.alternatives[0].text), event.alternatives[0].text


def test_a_short_decode_judged_silent_is_decided_by_the_full_window(
    whisper_handle, audio_tools, path_spy
):
    """A phone caller's barge-in ("Stop, please stop.", 8 kHz through the gateway and the room)
    whose short decode came out as " Please" with no confidence: judged silence, it had been
    dropped and the agent carried on over the caller."""
    import wave
    from pathlib import Path

    with wave.open(str(Path(__file__).parent / "audio" / "phone_barge_in.wav")) as clip:
        assert clip.getframerate() == WHISPER_RATE
        audio = np.frombuffer(clip.readframes(clip.getnframes()), np.int16)
    heard = whisper_handle.transcribe(as_float(audio), language="en", beam_size=1)
    assert "stop" in audio_tools.words(heard), heard
    assert path_spy == ["short", "long"]


async def test_recognize_line_noise_gives_no_words(whisper_handle, audio_tools):
    """Noise the segmenter cut as speech still brings no words once the full window decides."""
    hiss = np.random.default_rng(7).normal(0, 300, WHISPER_RATE).astype(np.int16)
    event = await WhisperSTT(whisper_handle).recognize(audio_tools.to_frame(hiss, WHISPER_RATE))
    assert audio_tools.words(event.alternatives[0].text) == [], event.alternatives[0].text


@pytest.mark.parametrize(
    ("no_speech_prob", "avg_log_prob", "silence"),
    [
        (0.72, -0.49, False),  # "for my sister" in a call: a confident decode is speech
        (0.99, -2.31, True),  # line noise decoded as "you"
        (0.3, -2.0, False),  # an unsure decode of what the model hears as speech
        (0.6, -1.5, False),  # thresholds are exclusive, as in Whisper
    ],
)
def test_no_speech_needs_both_whispers_signals(no_speech_prob, avg_log_prob, silence):
    from pipelines.stt.whisper import WhisperModelHandle as Handle
    from pipelines.stt.whisper import is_no_speech

    assert (
        is_no_speech(
            no_speech_prob,
            avg_log_prob,
            no_speech_threshold=Handle.NO_SPEECH_THRESHOLD,
            log_prob_threshold=Handle.LOG_PROB_THRESHOLD,
        )
        is silence
    )


def test_average_log_prob_matches_faster_whisper():
    from pipelines.stt.whisper import average_log_prob

    # 17 tokens scored -0.2 each on average: a cumulative -3.4, spread over 18 as
    # faster-whisper does (the end of text counts)
    assert average_log_prob(-0.2, 17) == pytest.approx(-3.4 / 18)


def test_long_audio_takes_the_long_path_and_is_transcribed(whisper_handle, audio_tools, path_spy):
    parts: list[np.ndarray] = []
    for text in LONG_TURN:
        parts += [render_speech(text, rate=WHISPER_RATE), np.zeros(WHISPER_RATE // 2, np.int16)]
    audio = np.concatenate(parts)
    assert 26 * WHISPER_RATE < len(audio) < 30 * WHISPER_RATE

    heard = whisper_handle.transcribe(as_float(audio), language="en", beam_size=1)
    assert path_spy == ["long"]
    assert audio_tools.word_recall(" ".join(LONG_TURN), heard) >= 0.7, heard
    # Beginning and end of the window are both transcribed.
    assert audio_tools.word_recall(LONG_TURN[0], heard) >= 0.7, heard
    assert audio_tools.word_recall(LONG_TURN[-1], heard) >= 0.5, heard


def test_without_the_short_window_short_audio_takes_the_long_path(
    whisper_handle, audio_tools, path_spy, monkeypatch
):
    monkeypatch.setattr(whisper_handle, "short_window", False)
    heard = whisper_handle.transcribe(
        as_float(render_speech(WEATHER, rate=WHISPER_RATE)), language="en", beam_size=1
    )
    assert path_spy == ["long"]
    assert audio_tools.word_recall(WEATHER, heard) >= 0.7, heard
    # The long path keeps Whisper's no-speech detection: silence gives nothing.
    assert (
        whisper_handle.transcribe(np.zeros(WHISPER_RATE, np.float32), language="en", beam_size=1)
        == ""
    )


def test_buffer_to_whisper_audio_resamples_downmixes_and_scales(audio_tools):
    rate = 48000
    t = np.arange(rate) / rate
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    audio = buffer_to_whisper_audio(audio_tools.to_frame(stereo, rate, channels=2))

    assert audio.dtype == np.float32
    assert len(audio) == pytest.approx(WHISPER_RATE, rel=0.01)
    assert 0.45 <= np.abs(audio).max() <= 0.55
    # Still a 440 Hz tone after resampling.
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * WHISPER_RATE / len(audio)
    assert peak_hz == pytest.approx(440, abs=3)


def test_buffer_to_whisper_audio_keeps_16k_samples(audio_tools):
    samples = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    audio = buffer_to_whisper_audio(audio_tools.to_frame(samples, WHISPER_RATE))
    assert audio.tolist() == pytest.approx([0.0, 0.5, -1.0, 32767 / 32768])


def test_stt_properties(whisper_handle):
    recognizer = WhisperSTT(whisper_handle)
    assert recognizer.capabilities.streaming is False
    assert recognizer.provider == "faster-whisper"
    assert recognizer.model == whisper_handle.path.name


def test_missing_model_dir_raises_model_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="/nonexistent") as info:
        WhisperModelHandle(model_dir="/nonexistent")
    assert isinstance(info.value, PipelineSetupError)
    assert info.value.path == "/nonexistent"
    assert "WHISPER_MODEL" in str(info.value)

    (tmp_path / "config.json").write_text("{}")  # a directory without model.bin
    with pytest.raises(ModelNotFoundError, match="model.bin"):
        WhisperModelHandle(model_dir=tmp_path)


@pytest.mark.parametrize(
    ("looped", "kept"),
    [
        ("Thank you very much. Goodbye. Goodbye. Goodbye.", "Thank you very much. Goodbye."),
        ("Hello? Hello? Hello? Hel", "Hello?"),
        ("Call me on 5, 5, 5. Call me on 5, 5, 5. Call", "Call me on 5, 5, 5."),
        ("Yes. No. Yes.", "Yes. No. Yes."),
        ("My PIN is one, one, one, one", "My PIN is one, one, one, one"),
    ],
)
def test_collapse_repeated_sentences(looped, kept):
    from pipelines.stt.whisper import collapse_repeated_sentences

    assert collapse_repeated_sentences(looped) == kept


def test_a_looping_short_decode_is_salvaged_without_the_full_path(
    whisper_handle, audio_tools, path_spy
):
    # tiny.en repeats this question when decoded without the 30 s window.
    text = "Can you tell me something about cats?"
    audio = np.concatenate(
        [render_speech(text, rate=WHISPER_RATE), np.zeros(WHISPER_RATE * 3 // 10, np.int16)]
    )
    heard = whisper_handle.transcribe(as_float(audio), language="en", beam_size=1)
    assert audio_tools.word_recall(text, heard) >= 0.9, heard
    assert len(audio_tools.words(heard)) <= len(audio_tools.words(text)) + 1, heard
    assert path_spy == ["short"]


@pytest.mark.parametrize(
    ("text", "ran_out", "expected"),
    [
        # looped into the token budget: one copy kept
        ("Hello? Hello? Hello? Hel", True, "Hello?"),
        # a budget spent on anything else: decoded again with the full window
        ("I would like to book a table for tonight at seven please", True, None),
        # a sentence that came back twice before the decode stopped: the full window decides
        (
            "My flight was delayed and I missed the connection. "
            "My flight was delayed and I missed the connection.",
            False,
            None,
        ),
        (
            "My flight was delayed and I missed the connection.",
            False,
            "My flight was delayed and I missed the connection.",
        ),
        ("Yes. No. Yes.", False, "Yes. No. Yes."),
    ],
)
def test_judge_short_decode(text, ran_out, expected):
    from pipelines.stt.whisper import WhisperModelHandle, judge_short_decode

    ratio = WhisperModelHandle.MAX_COMPRESSION_RATIO
    assert judge_short_decode(text, ran_out=ran_out, max_compression_ratio=ratio) == expected


def _clip(name: str) -> np.ndarray:
    import wave
    from pathlib import Path

    with wave.open(str(Path(__file__).parent / "audio" / name)) as clip:
        assert clip.getframerate() == WHISPER_RATE
        return np.frombuffer(clip.readframes(clip.getnframes()), np.int16)


def _over_the_agent(whisper_handle) -> WhisperSTT:
    from pipelines.stt import OVER_THE_AGENT_PROMPT

    return WhisperSTT(whisper_handle, prompt=lambda: OVER_THE_AGENT_PROMPT)


async def test_a_murmur_over_the_agent_is_heard_as_a_backchannel(whisper_handle, audio_tools):
    """Piper's "mm-hmm" (captured from a room benchmark, where the agent stopped for it): read
    as any segment Whisper makes words of it; over the agent it is read again after the
    prompt, and is a backchannel."""
    from pipelines.backchannel import is_backchannel

    frame = audio_tools.to_frame(_clip("piper_mm_hmm.wav"), WHISPER_RATE)
    plain = (await WhisperSTT(whisper_handle).recognize(frame)).alternatives[0].text
    over = (await _over_the_agent(whisper_handle).recognize(frame)).alternatives[0].text
    assert not is_backchannel(plain), plain
    assert is_backchannel(over), over


async def test_a_barge_in_over_the_agent_keeps_its_words(whisper_handle, audio_tools):
    """The phone caller's "Please stop." read after the prompt alone comes back as
    "Uh-huh. Please, uh...": only a backchannel read that way replaces the first reading."""
    frame = audio_tools.to_frame(_clip("phone_barge_in.wav"), WHISPER_RATE)
    heard = (await _over_the_agent(whisper_handle).recognize(frame)).alternatives[0].text
    assert "stop" in audio_tools.words(heard), heard


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3"])
@pytest.mark.parametrize("said", ["Stop.", "Wait.", "Hold on.", "No.", "Excuse me."])
async def test_short_barge_ins_over_the_agent_keep_their_words(
    whisper_handle, audio_tools, voice, said
):
    from pipelines.backchannel import is_backchannel

    lead = np.zeros(WHISPER_RATE * 3 // 10, np.int16)
    audio = np.concatenate([lead, render_speech(said, voice=voice, rate=WHISPER_RATE)])
    event = await _over_the_agent(whisper_handle).recognize(
        audio_tools.to_frame(audio, WHISPER_RATE)
    )
    heard = event.alternatives[0].text
    assert not is_backchannel(heard), heard
    assert audio_tools.words(said)[0] in audio_tools.words(heard), heard


async def test_the_prompt_is_asked_for_short_segments_only(whisper_handle, audio_tools):
    asked: list[bool] = []

    def prompt() -> str:
        asked.append(True)
        return "Mm-hmm."

    recognizer = WhisperSTT(whisper_handle, prompt=prompt)
    short = _clip("piper_mm_hmm.wav")
    await recognizer.recognize(audio_tools.to_frame(short, WHISPER_RATE))
    assert asked == [True]
    turn = render_speech(WEATHER, rate=WHISPER_RATE)
    event = await recognizer.recognize(audio_tools.to_frame(turn, WHISPER_RATE))
    assert asked == [True]  # a turn is recognised as any other
    assert "weather" in audio_tools.words(event.alternatives[0].text)
