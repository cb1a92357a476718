"""Local speech-to-text with faster-whisper (CTranslate2), as a livekit-agents STT.

The model is non-streaming: the session pairs it with a VAD (livekit's `stt.StreamAdapter`) and
recognises each finished utterance. Inference runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper.tokenizer import Tokenizer
from livekit import rtc
from livekit.agents import APIConnectOptions, LanguageCode, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

from ..backchannel import MAX_WORDS, is_backchannel
from ..models import whisper_model_dir

WHISPER_RATE = 16000


@dataclass(frozen=True)
class WhisperSTTOptions:
    """Recognition settings."""

    language: str = "en"
    beam_size: int = 1
    """1 is greedy decoding: fastest, and accurate enough for short turns."""


class WhisperModelHandle:
    """A loaded CTranslate2 Whisper model, shared by every session of a process.

    faster-whisper pads every input to Whisper's 30 s window, so the encoder costs the same
    for "yes" as for a 30 s monologue (~0.5 s on 2 cores for tiny.en). A call turn is a few
    seconds long: for audio shorter than the window we run CTranslate2 on the utterance plus a
    short tail of silence, which cuts recognition time by 4-6x at the same accuracy
    (benchmarks/RESULTS.md). Longer audio goes through faster-whisper's normal path.
    """

    TAIL_SECONDS = 0.5
    MAX_SHORT_SECONDS = 25.0
    MIN_TOKENS = 10
    TOKENS_PER_SECOND = 6
    """Fast English speech is ~4 tokens a second; more than this budget means a runaway
    decode."""
    TOKENS_PER_SECOND_OTHER = 10
    """Other languages take more of Whisper's tokens per word (Arabic at espeak-ng's slow pace:
    4-6 a second; at a person's pace nearly twice that)."""
    NO_SPEECH_THRESHOLD = 0.6
    LOG_PROB_THRESHOLD = -1.0
    """With `NO_SPEECH_THRESHOLD`, Whisper's test for silence (faster-whisper's defaults,
    which the full path applies): a decode is dropped as no speech only when both agree."""
    MAX_COMPRESSION_RATIO = 2.4
    TEMPERATURES = (0.0, 0.5)
    """A file's decodes: greedy, then one sampled retry when the greedy text fails Whisper's
    checks (faster-whisper's default tries six temperatures: on speech it cannot make out,
    such as synthetic Arabic, that took 3.2 s instead of 1.0 s). A call turn gets the greedy
    decode only: there the retry made the slowest Arabic turns 2-5 s late, for a second guess
    at speech the model had already failed to make out."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        cpu_threads: int = 2,
        compute_type: str = "int8",
        short_window: bool = True,
    ) -> None:
        from faster_whisper import WhisperModel

        self.short_window = short_window

        self.path = whisper_model_dir(model_dir)
        self.model = WhisperModel(
            str(self.path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
        )
        # CTranslate2 models are thread-safe but on few cores parallel decodes only slow each
        # other down; one decode at a time keeps per-turn latency predictable.
        self.lock = threading.Lock()
        self._tokenizers: dict[str | None, Tokenizer] = {}

    def _tokenizer(self, lang: str | None) -> Tokenizer:
        if lang not in self._tokenizers:
            self._tokenizers[lang] = Tokenizer(
                self.model.hf_tokenizer,
                self.model.model.is_multilingual,
                task="transcribe",
                language=lang,
            )
        return self._tokenizers[lang]

    def warm_up(self) -> None:
        """One inference, so the first caller does not pay for lazy initialisation."""
        self.transcribe(np.zeros(WHISPER_RATE, np.float32), language="en", beam_size=1)

    @property
    def english_only(self) -> bool:
        return not self.model.model.is_multilingual

    def transcribe(
        self, audio: np.ndarray, *, language: str, beam_size: int, prompt: str | None = None
    ) -> str:
        """Blocking transcription of 16 kHz float32 mono audio; `prompt` is text Whisper
        reads as what came just before (it leans towards its words and spelling)."""
        lang = None if self.english_only else (language.split("-")[0] or "en")
        with self.lock:
            if self.short_window and len(audio) <= self.MAX_SHORT_SECONDS * WHISPER_RATE:
                text = self._transcribe_short(audio, lang, beam_size, prompt)
                if text is not None:
                    return text
            return self._transcribe_full(audio, lang, beam_size, prompt)

    def transcribe_detecting(self, audio: np.ndarray, *, beam_size: int) -> tuple[str, str]:
        """Blocking transcription in the language Whisper hears (its first 30 s decide), and
        that language's code; an English-only model always answers "en"."""
        if self.english_only:
            return self.transcribe(audio, language="en", beam_size=beam_size), "en"
        with self.lock:
            segments, info = self.model.transcribe(
                audio,
                language=None,
                beam_size=beam_size,
                temperature=self.TEMPERATURES,
                vad_filter=False,
                without_timestamps=True,
                condition_on_previous_text=False,
            )
            text = " ".join(s.text.strip() for s in segments).strip()
        return text, info.language

    def _budget(self, audio: np.ndarray, lang: str | None) -> int:
        per_second = (
            self.TOKENS_PER_SECOND if lang in (None, "en") else self.TOKENS_PER_SECOND_OTHER
        )
        return self.MIN_TOKENS + int(len(audio) / WHISPER_RATE * per_second)

    def _transcribe_full(
        self, audio: np.ndarray, lang: str | None, beam_size: int, prompt: str | None = None
    ) -> str:
        call_turn = self.short_window and len(audio) <= self.MAX_SHORT_SECONDS * WHISPER_RATE
        segments, _info = self.model.transcribe(
            audio,
            language=lang,
            beam_size=beam_size,
            temperature=(0.0,) if call_turn else self.TEMPERATURES,
            # a call turn's second try is bounded too: a runaway decode of a whole window
            # (a phrase repeated to the token limit) took seconds
            max_new_tokens=2 * self._budget(audio, lang) if call_turn else None,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=prompt,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def _transcribe_short(
        self, audio: np.ndarray, lang: str | None, beam_size: int, prompt: str | None = None
    ) -> str | None:
        """Decode the utterance alone; None when the result looks unreliable.

        Without the 30 s window Whisper sometimes loops ("Hello? Hello? Hello? ...") on the
        silence after speech, running into the token budget. A loop that repeats whole
        sentences is cut back to one copy; any other runaway, or a text that compresses too
        well (faster-whisper's compression-ratio test), returns None for the full path.
        """
        import ctranslate2

        seconds = math.ceil(len(audio) / WHISPER_RATE + self.TAIL_SECONDS)
        padded = np.zeros(seconds * WHISPER_RATE, dtype=np.float32)
        padded[: len(audio)] = audio
        features = self.model.feature_extractor(padded, padding=0)
        tokenizer = self._tokenizer(lang)
        previous = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())] if prompt else []
        tokens_in = [*previous, *tokenizer.sot_sequence, tokenizer.no_timestamps]
        budget = self._budget(audio, lang)
        result = self.model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
            [tokens_in],
            beam_size=beam_size,
            # CTranslate2's Whisper decodes at most max_length / 2 tokens.
            max_length=min(448, 2 * budget),
            suppress_blank=True,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if is_no_speech(
            result.no_speech_prob,
            average_log_prob(result.scores[0], len(result.sequences_ids[0])),
            no_speech_threshold=self.NO_SPEECH_THRESHOLD,
            log_prob_threshold=self.LOG_PROB_THRESHOLD,
        ):
            # The segmenter heard speech here; the short window's verdict of silence is not
            # trusted alone: a phone caller's "Stop, please stop." decoded as " Please" with no
            # confidence (silence), and the full window heard "Please stop." Dropping it had
            # resumed the agent over a barge-in.
            return None
        return judge_short_decode(
            str(tokenizer.decode(tokens)).strip(),
            ran_out=len(tokens) >= budget,
            max_compression_ratio=self.MAX_COMPRESSION_RATIO,
        )


def average_log_prob(score: float, length: int) -> float:
    """A decode's mean log probability per token, from CTranslate2's score (its cumulative
    log probability over `length` tokens, length penalty 1), as faster-whisper computes it."""
    return score * length / (length + 1)


def is_no_speech(
    no_speech_prob: float,
    avg_log_prob: float,
    *,
    no_speech_threshold: float,
    log_prob_threshold: float,
) -> bool:
    """Whether a decode is Whisper's guess at silence rather than speech.

    Whisper's no-speech probability alone is not reliable on short audio: a clearly spoken
    "for my sister" after the segmenter's 0.3 s of leading silence scores 0.2-0.7 from one
    call to the next, and dropping it at 0.6 lost the words of a whole segment. As in Whisper
    and faster-whisper, a decode counts as silence only when the model also has little
    confidence in the text it decoded.
    """
    return no_speech_prob > no_speech_threshold and avg_log_prob < log_prob_threshold


def judge_short_decode(text: str, *, ran_out: bool, max_compression_ratio: float) -> str | None:
    """The short window's text, or None to decode again with the full window.

    A decode that ran into its token budget is the usual runaway, repeating the last sentence
    ("Hello? Hello? Hello? ..."): one copy is kept; anything else is untrustworthy. A decode
    that repeated a sentence and stopped by itself is the same loop caught early (one
    sentence said once came back twice), or a caller who did repeat it: the full window decides.
    """
    collapsed = collapse_repeated_sentences(text)
    if ran_out:
        if len(collapsed) > 0.7 * len(text):
            return None
        text = collapsed
    elif collapsed != text:
        return None
    if compression_ratio(text) > max_compression_ratio:
        return None
    return text


_SENTENCES = re.compile(r"[^.!?]+[.!?]+|[^.!?]+$")


def _norm(sentence: str) -> str:
    return re.sub(r"[^\w\s]", "", sentence).lower().strip()


def collapse_repeated_sentences(text: str) -> str:
    """Drop sentences that repeat the one before, and a cut-off repeat at the end."""
    kept: list[str] = []
    for sentence in (s.strip() for s in _SENTENCES.findall(text)):
        if not sentence:
            continue
        if kept and _norm(sentence) == _norm(kept[-1]):
            continue
        kept.append(sentence)
    if len(kept) > 1 and _norm(kept[-2]).startswith(_norm(kept[-1])):
        kept.pop()  # the decode stopped in the middle of one more copy
    return " ".join(kept)


def compression_ratio(text: str) -> float:
    """Text length over its zlib size: repetitive (looping) output compresses well."""
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def buffer_to_whisper_audio(buffer: AudioBuffer) -> np.ndarray:
    """Merge frames, downmix and resample to 16 kHz float32 in [-1, 1]."""
    frame = utils.merge_frames(buffer)
    samples = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        samples = samples.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
    if frame.sample_rate != WHISPER_RATE and len(samples):
        resampler = rtc.AudioResampler(
            frame.sample_rate, WHISPER_RATE, quality=rtc.AudioResamplerQuality.HIGH
        )
        mono = rtc.AudioFrame(samples.tobytes(), frame.sample_rate, 1, len(samples))
        out = [*resampler.push(mono), *resampler.flush()]
        samples = (
            np.concatenate([np.frombuffer(f.data, np.int16) for f in out])
            if out
            else np.zeros(0, np.int16)
        )
    return samples.astype(np.float32) / 32768.0


OVER_THE_AGENT_PROMPT = "Mm-hmm. Uh-huh. Yeah."
"""What a short sound said over the agent is read again after, when its first reading is a few
words that are not a backchannel. Whisper makes words of a caller's non-lexical backchannels
(Piper's "mm-hmm" as "and my mom" or "Emma Moon.", espeak's "uh-huh" as "Uh-uh."), and the agent
took them as a turn and stopped; read after the prompt they come back as "Mm-hmm." and
"Uh-huh.". Only a backchannel read that way replaces the first reading: the prompt also bends
real words towards it (a phone caller's "Please stop." came back "Uh-huh. Please, uh..."), and
makes "Mm-hmm." of a cough, which over the agent is harmless but alone would be a turn."""
PROMPT_MAX_SECONDS = 2.0
"""Only a segment this short (a backchannel, with the segmenter's padding) is read again: a
longer one is a turn."""


class WhisperSTT(stt.STT):
    """livekit-agents STT backed by a local faster-whisper model. `prompt`, when given, is
    asked for a short segment whose text is a few words but no backchannel: a prompt it
    returns is read again after, and a backchannel read that way is taken instead."""

    def __init__(
        self,
        handle: WhisperModelHandle,
        options: WhisperSTTOptions | None = None,
        *,
        prompt: Callable[[], str | None] | None = None,
    ):
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._handle = handle
        self._opts = options or WhisperSTTOptions()
        self._prompt = prompt

    @property
    def model(self) -> str:
        return self._handle.path.name

    @property
    def provider(self) -> str:
        return "faster-whisper"

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = language if isinstance(language, str) else self._opts.language
        audio = buffer_to_whisper_audio(buffer)
        text = ""
        if len(audio) >= WHISPER_RATE // 10:  # under 100 ms there is nothing to recognise
            text = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: self._handle.transcribe(
                    audio, language=lang, beam_size=self._opts.beam_size
                ),
            )
            if (
                self._prompt is not None
                and len(audio) <= PROMPT_MAX_SECONDS * WHISPER_RATE
                and 0 < len(text.split()) <= MAX_WORDS
                and not is_backchannel(text, lang)
                and (prompt := self._prompt()) is not None
            ):
                again = await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: self._handle.transcribe(
                        audio, language=lang, beam_size=self._opts.beam_size, prompt=prompt
                    ),
                )
                if again.split() and is_backchannel(again, lang):  # never words for nothing
                    text = again
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=uuid.uuid4().hex,
            alternatives=[stt.SpeechData(language=LanguageCode(lang), text=text)],
        )
