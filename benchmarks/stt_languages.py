"""Offline speech recognition per language: the English-only Whisper tiny.en (the default
model) against the multilingual Whisper base, on English, Arabic and French sets.

The sets are built at run time from the sentences below and cached as 16 kHz WAV files under
`.cache/bench/stt_languages/` (one file per text and voice):

- English: 40 call-like sentences (questions, numbers, names, requests) spoken by three
  espeak-ng voices (accent, speed and pitch varied) and the agent's Piper voice, the one
  closest to natural speech.
- Arabic: 40 Modern Standard Arabic sentences spoken by espeak-ng. Written Arabic leaves out
  its short vowels and espeak-ng does not restore them (it reads "مرحبا" as "mrhba"), so the
  sentences are written here with their vowel marks: two voices read that text, a third reads
  the plain text (what espeak makes of ordinary writing). The reference is the plain text.
- French: 20 sentences spoken by two espeak-ng voices.

Every clip gets the agent's segmenter padding (0.3 s of silence before, 0.15 s after, as in
`phone.py`) and is decoded as the agent decodes (greedy, `cpu_threads=2`) by each model on
the call path (`short_window=True`, the worker) and on the file path (`short_window=False`,
the control plane's file endpoint). Whisper base gets the set's language; on Arabic and
French it also runs once with no language (faster-whisper detects it, then transcribes: does
forcing the language help?), and its language detection is recorded on every clip. tiny.en
cannot hear Arabic or French: it runs on the call path alone there, to show what it makes
of them. The models run one after the other on the same clip (which goes first alternates),
so speed is compared as ratios within one run.

Scores, after a normalisation applied alike to the reference and the transcript: WER (word
edits / reference words; "capped": a sentence counts at most its own words, so one looping
transcript does not outweigh the set) and CER (character edits / reference characters,
spaces between words included). English uses `phone.normalize` (lower case, no punctuation,
numbers as digits whether spelled or written, "four seven" and "47" alike); French and Arabic
`normalize_words`: lower case, no punctuation, apostrophes and hyphens as spaces, number words
up to twenty as digits and a run of digits as one number; Arabic also drops vowel marks and
tatweel, writes alef forms as a bare alef, "ى" as "ي" and "ة" as "ه", and Arabic-Indic
digits as ASCII digits.

The voices are synthetic: espeak-ng Arabic in particular is far from human speech, so the
Arabic figures are a floor for what base does on callers, not an estimate.

    .venv/bin/python benchmarks/stt_languages.py             # every set (~27 min on 2 cores)
    .venv/bin/python benchmarks/stt_languages.py --quick     # 10 clips per set (~3 min)
    .venv/bin/python benchmarks/stt_languages.py --sets en,ar
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import unicodedata
import wave
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.phone import LEAD_S, TAIL_S, normalize, word_errors  # noqa: E402
from benchmarks.turns.common import pct, table, write_results  # noqa: E402
from shared.audio import decode_to_mono, resample  # noqa: E402
from shared.stats import percentile  # noqa: E402

if TYPE_CHECKING:
    from pipelines import PiperVoiceHandle, WhisperModelHandle

RATE = 16000
CACHE_DIR = ROOT / ".cache/bench/stt_languages"
QUICK_CLIPS = 10
"""`--quick`: clips per set, the first sentences each read by one voice, the voices in turn."""

# --- the sets -----------------------------------------------------------------------------------

ENGLISH = [
    "Hi, I'd like to book an appointment for Tuesday.",
    "What time do you close today?",
    "My order number is 5 8 3 1.",
    "Can you send me the invoice by email?",
    "My name is Daniel Brooks.",
    "I need a table for 6 at 8 tonight.",
    "Is the store on Baker Street open on Sunday?",
    "Please cancel my subscription.",
    "How much is the delivery fee?",
    "I was charged twice for the same order.",
    "Can I speak to someone in billing?",
    "My phone number is 5 5 5, 0 1 4 2.",
    "Yes, that's correct.",
    "No, I said Thursday, not Tuesday.",
    "I'd like to change my shipping address.",
    "When will my refund arrive?",
    "I'm calling about the job posting.",
    "Could you repeat the last part, please?",
    "The package was left at the wrong house.",
    "My account was locked this morning.",
    "Do you have any rooms available this weekend?",
    "I need to reschedule for next Monday at 10.",
    "This is Priya Sharma from the marketing team.",
    "Can I pay by credit card?",
    "How do I reset my password?",
    "The total should be 35 dollars.",
    "We are a group of 12 people.",
    "Please transfer me to a manager.",
    "My flight leaves at 7:45 in the morning.",
    "Is there parking near the clinic?",
    "I want to return these shoes.",
    "What's the status of ticket 4 0 9 2?",
    "Can you hold the reservation until 9?",
    "My son has a fever and a sore throat.",
    "Thank you, that's all I needed.",
    "Where can I pick up my order?",
    "Is Doctor Nguyen available on Friday?",
    "I'll call back later this afternoon.",
    "Does the price include tax?",
    "Hello? Can you hear me?",
]

ARABIC_VOWELLED = [
    "مَرْحَبًا، أُرِيدُ أَنْ أَحْجِزَ مَوْعِدًا مَعَ الطَّبِيب",
    "أَيْنَ أَقْرَبُ صَيْدَلِيَّة؟",
    "شُكْرًا جَزِيلًا عَلَى مُسَاعَدَتِك",
    "كَمْ سِعْرُ التَّذْكَرَةِ إِلَى القَاهِرَة؟",
    "هَلْ يُمْكِنُنِي التَّحَدُّثُ مَعَ المُدِير؟",
    "مَا هِيَ مَوَاعِيدُ العَمَلِ يَوْمَ الجُمُعَة؟",
    "أُرِيدُ إِلْغَاءَ طَلَبِي مِنْ فَضْلِك",
    "اسْمِي أَحْمَد عَلِي",
    "اسْمِي مُحَمَّد وَأَسْكُنُ فِي الرِّيَاض",
    "هَلِ الصَّيْدَلِيَّةُ مَفْتُوحَة الآن؟",
    "أَحْتَاجُ سَيَّارَةَ أُجْرَةٍ إِلَى المَطَار",
    "مَتَى يَصِلُ القِطَارُ القَادِم؟",
    "أُرِيدُ غُرْفَةً لِشَخْصَيْنِ لِمُدَّةِ ثَلَاثِ لَيَال",
    "وَصَلَتِ الفَاتُورَةُ بِمَبْلَغٍ خَاطِئ",
    "هَلْ يُمْكِنُكَ أَنْ تُعِيدَ ذَلِكَ مِنْ فَضْلِك؟",
    "أَيْنَ طَلَبِي؟ لَقَدْ تَأَخَّرَ كَثِيرًا",
    "أُرِيدُ التَّحَدُّثَ مَعَ مُوَظَّفِ خِدْمَةِ العُمَلَاء",
    "نَعَمْ، هَذَا صَحِيح",
    "لَا، هَذَا لَيْسَ صَحِيحًا",
    "مَا هُوَ رَصِيدُ حِسَابِي؟",
    "أُرِيدُ تَغْيِيرَ كَلِمَةِ المُرُور",
    "هَلْ تُوصِلُونَ الطَّلَبَاتِ يَوْمَ السَّبْت؟",
    "كَمْ يَسْتَغْرِقُ إِصْلَاحُ السَّيَّارَة؟",
    "مَوْعِدِي غَدًا فِي السَّاعَةِ العَاشِرَةِ صَبَاحًا",
    "أَرْسِلْ لِي رِسَالَةً بِالتَّفَاصِيل",
    "هَلْ عِنْدَكُمْ طَاوِلَة لِأَرْبَعَةِ أَشْخَاص؟",
    "أَتَّصِلُ بِخُصُوصِ الشَّحْنَةِ المُتَأَخِّرَة",
    "مَا هُوَ عُنْوَانُ الفَرْعِ الرَّئِيسِيّ؟",
    "أُرِيدُ أَنْ أَدْفَعَ الفَاتُورَةَ بِالبِطَاقَة",
    "هَلْ يُوجَدُ مَوْقِف لِلسَّيَّارَات؟",
    "سَأَتَّصِلُ بِكَ مَرَّةً أُخْرَى بَعْدَ الظُّهْر",
    "مِنْ فَضْلِكَ حَوِّلْنِي إِلَى قِسْمِ المَبِيعَات",
    "لَمْ أَسْتَلِمْ رَمْزَ التَّحَقُّق",
    "مَتَى سَيَصِلُ الطَّرْد؟",
    "أُرِيدُ مَوْعِدًا يَوْمَ الأَحَدِ القَادِم",
    "كَمْ ثَمَنُ الوَجْبَةِ الكَبِيرَة؟",
    "هَلْ أَسْتَطِيعُ تَغْيِيرَ عُنْوَانِ التَّوْصِيل؟",
    "سَأَتَأَخَّرُ عَشْرَ دَقَائِق",
    "اسْمِي فَاطِمَة حَسَن",
    "شُكْرًا، مَعَ السَّلَامَة",
]

FRENCH = [
    "Bonjour, je voudrais réserver une table pour ce soir.",
    "Est-ce que je peux parler au directeur ?",
    "Mon numéro de client est le quatre sept deux neuf.",
    "À quelle heure ouvrez-vous demain matin ?",
    "Je voudrais annuler mon rendez-vous de jeudi.",
    "Combien coûte le billet pour Lyon ?",
    "Je m'appelle Claire Dubois.",
    "Pouvez-vous répéter, s'il vous plaît ?",
    "Oui, c'est exact.",
    "Non, ce n'est pas ça.",
    "Où est ma commande ?",
    "Je voudrais changer mon mot de passe.",
    "Est-ce que vous livrez le dimanche ?",
    "Nous serons six personnes ce soir.",
    "Passez-moi le service client, s'il vous plaît.",
    "Ma facture est trop élevée ce mois-ci.",
    "J'habite au douze rue Victor Hugo à Paris.",
    "Le train de Marseille est-il à l'heure ?",
    "Merci beaucoup, bonne journée.",
    "Je rappellerai demain après-midi.",
]


@dataclass(frozen=True)
class Voice:
    """One speaker of a set: espeak-ng with a voice, speed (words a minute) and pitch (0-99),
    or the agent's Piper voice."""

    name: str
    family: str
    espeak: str = ""
    speed: int = 175
    pitch: int = 50
    vowelled: bool = True
    """Arabic: read the text with its vowel marks (False: the plain reference text)."""


@dataclass(frozen=True)
class Sentence:
    reference: str
    spoken: str
    """What the voice reads when it reads vowelled text (Arabic); the reference otherwise."""


@dataclass(frozen=True)
class LanguageSet:
    name: str
    language: str
    sentences: list[Sentence]
    voices: list[Voice]


@dataclass
class Clip:
    set: str
    language: str
    voice: Voice
    index: int
    sentence: Sentence
    audio: np.ndarray
    """float32 at 16 kHz, with the segmenter's padding."""

    @property
    def seconds(self) -> float:
        return len(self.audio) / RATE


VOWEL_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
"""Arabic vowel and reading marks (harakat, tanwin, shadda, sukun, dagger alef), and tatweel."""


def strip_vowel_marks(text: str) -> str:
    return VOWEL_MARKS.sub("", text)


SETS = {
    "en": LanguageSet(
        "en",
        "en",
        [Sentence(s, s) for s in ENGLISH],
        [
            Voice("espeak en-us", "espeak", "en-us", 175, 50),
            Voice("espeak en-gb slow low", "espeak", "en-gb", 150, 35),
            Voice("espeak en-us fast high", "espeak", "en-us", 210, 70),
            Voice("piper", "piper"),
        ],
    ),
    "ar": LanguageSet(
        "ar",
        "ar",
        [Sentence(strip_vowel_marks(s), s) for s in ARABIC_VOWELLED],
        [
            Voice("espeak ar vowelled", "espeak", "ar", 150, 50),
            Voice("espeak ar vowelled slow low", "espeak", "ar", 120, 35),
            Voice("espeak ar plain", "espeak", "ar", 150, 50, vowelled=False),
        ],
    ),
    "fr": LanguageSet(
        "fr",
        "fr",
        [Sentence(s, s) for s in FRENCH],
        [
            Voice("espeak fr", "espeak", "fr", 170, 50),
            Voice("espeak fr slow low", "espeak", "fr", 140, 35),
        ],
    ),
}

# --- normalisation and scores -------------------------------------------------------------------

_NUMBER_WORDS = {
    "fr": {
        "zéro": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
        "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13,
        "quatorze": 14, "quinze": 15, "seize": 16, "vingt": 20,
    },
    "ar": {
        "صفر": 0, "واحد": 1, "واحدة": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2, "اثنتين": 2,
        "ثلاث": 3, "ثلاثة": 3, "أربع": 4, "أربعة": 4, "خمس": 5, "خمسة": 5, "ست": 6, "ستة": 6,
        "سبع": 7, "سبعة": 7, "ثماني": 8, "ثمانية": 8, "تسع": 9, "تسعة": 9, "عشر": 10,
        "عشرة": 10, "عشرين": 20, "عشرون": 20,
    },
}  # fmt: skip
"""Number words up to twenty as digits ("un", "une" too: applied alike to both sides, an
article read as "1" costs nothing). Compound numbers are not in the sentences."""

_ARABIC_LETTERS = str.maketrans(
    {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"}
    | {chr(0x0660 + d): str(d) for d in range(10)}
    | {chr(0x06F0 + d): str(d) for d in range(10)}
)


def _arabic_letters(text: str) -> str:
    return strip_vowel_marks(text).translate(_ARABIC_LETTERS)


_NUMBERS = {
    lang: {_arabic_letters(w) if lang == "ar" else w: str(n) for w, n in table_.items()}
    for lang, table_ in _NUMBER_WORDS.items()
}


def normalize_words(text: str, language: str) -> list[str]:
    """The words of `text` as they are compared (see the module's docstring)."""
    if language == "en":
        return normalize(text)
    t = unicodedata.normalize("NFC", text).lower()
    if language == "ar":
        t = _arabic_letters(t)
    t = re.sub(r"['’`\-‐–]", " ", t)
    t = re.sub(r"[^\w]+|_", " ", t)
    numbers = _NUMBERS.get(language, {})
    out: list[str] = []
    for w in t.split():
        w = numbers.get(w, w)
        if w.isdigit() and out and out[-1].isdigit():
            out[-1] += w
        else:
            out.append(w)
    return out


def score(reference: str, transcript: str, language: str) -> dict[str, int]:
    """Word and character edits against the reference, and the reference's size."""
    ref, hyp = normalize_words(reference, language), normalize_words(transcript, language)
    ref_chars, hyp_chars = " ".join(ref), " ".join(hyp)
    return {
        "words": len(ref),
        "word_errors": word_errors(ref, hyp),
        "chars": len(ref_chars),
        "char_errors": word_errors(list(ref_chars), list(hyp_chars)),
    }


def error_rates(rows: Iterable[dict[str, Any]]) -> dict[str, float | int | None]:
    """WER and CER over `rows` (edits over all of them / reference size), the WER with each
    sentence's edits capped at its length (a runaway transcript, one word looped 70 times,
    counts as every word wrong rather than outweighing the rest of the set), the share of
    sentences with an error, and of empty transcripts."""
    got = list(rows)
    if not got:
        return {
            "wer": None, "wer_capped": None, "cer": None, "sentences_wrong": None, "empty": None,
            "n": 0,
        }  # fmt: skip
    words = max(1, sum(r["words"] for r in got))
    return {
        "wer": sum(r["word_errors"] for r in got) / words,
        "wer_capped": sum(min(r["word_errors"], r["words"]) for r in got) / words,
        "cer": sum(r["char_errors"] for r in got) / max(1, sum(r["chars"] for r in got)),
        "sentences_wrong": sum(1 for r in got if r["word_errors"]) / len(got),
        "empty": sum(1 for r in got if not r["transcript"].strip()) / len(got),
        "n": len(got),
    }


def speed(rows: list[dict[str, Any]]) -> dict[str, float | int | None]:
    """Seconds per utterance (mean, p95) and real-time factor (decode time / audio time)."""
    took = [r["decode_seconds"] for r in rows]
    if not took:
        return {"mean_s": None, "p95_s": None, "rtf": None, "n": 0}
    return {
        "mean_s": statistics.fmean(took),
        "p95_s": percentile(took, 0.95),
        "rtf": sum(took) / sum(r["audio_seconds"] for r in rows),
        "n": len(took),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


# --- audio --------------------------------------------------------------------------------------


def _cache_path(voice: Voice, text: str, piper_name: str) -> Path:
    engine = f"piper {piper_name}" if voice.family == "piper" else voice.espeak
    key = f"{engine}|{voice.speed}|{voice.pitch}|{text}"
    return CACHE_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.wav"


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.int16)


def _write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.astype("<i2").tobytes())
    tmp.replace(path)


class Speakers:
    """Speech for a text and a voice at 16 kHz int16, synthesised once and cached on disk."""

    def __init__(self) -> None:
        from pipelines import piper_voice_path

        self.piper_name = piper_voice_path().stem
        self._piper: PiperVoiceHandle | None = None

    def speak(self, voice: Voice, text: str) -> np.ndarray:
        path = _cache_path(voice, text, self.piper_name)
        if path.is_file():
            return _read_wav(path)
        samples = self._piper_speech(text) if voice.family == "piper" else _espeak(voice, text)
        _write_wav(path, samples)
        return samples

    def _piper_speech(self, text: str) -> np.ndarray:
        from pipelines import PiperTTSOptions, PiperVoiceHandle

        if self._piper is None:
            self._piper = PiperVoiceHandle()
        pcm = b"".join(self._piper.synthesize_chunks(text, PiperTTSOptions()))
        return resample(np.frombuffer(pcm, np.int16), self._piper.sample_rate, RATE)


def _espeak(voice: Voice, text: str) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice.espeak, "-s", str(voice.speed), "-p", str(voice.pitch)]
        + ["--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    return (np.clip(decode_to_mono(wav, RATE), -1.0, 32767 / 32768) * 32768).astype(np.int16)


def pairs(lset: LanguageSet, quick: bool) -> list[tuple[int, Voice]]:
    """(sentence index, voice) of each clip of a set: every sentence in every voice, or in
    quick mode `QUICK_CLIPS` sentences, each in one voice, the voices taking turns."""
    if quick:
        n = min(QUICK_CLIPS, len(lset.sentences))
        return [(i, lset.voices[i % len(lset.voices)]) for i in range(n)]
    return [(i, v) for i in range(len(lset.sentences)) for v in lset.voices]


def build_clips(sets: list[LanguageSet], quick: bool) -> list[Clip]:
    speakers = Speakers()
    lead, tail = np.zeros(round(LEAD_S * RATE), np.int16), np.zeros(round(TAIL_S * RATE), np.int16)
    clips = []
    for lset in sets:
        for index, voice in pairs(lset, quick):
            sentence = lset.sentences[index]
            text = sentence.spoken if voice.vowelled else sentence.reference
            pcm = np.concatenate([lead, speakers.speak(voice, text), tail])
            audio = (pcm / 32768).astype(np.float32)
            clips.append(Clip(lset.name, lset.language, voice, index, sentence, audio))
    return clips


# --- decoding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One decode of a clip: a model, a path, and the language it is told (None: detected)."""

    name: str
    model: str
    path: str
    language: str | None


def conditions_for(lset: LanguageSet) -> list[Condition]:
    if lset.language == "en":
        return [
            Condition(f"{model} {path}", model, path, "en")
            for path in ("call", "file")
            for model in ("tiny.en", "base")
        ]
    lang = lset.language
    return [
        Condition("tiny.en call", "tiny.en", "call", "en"),
        Condition(f"base call, {lang}", "base", "call", lang),
        Condition(f"base file, {lang}", "base", "file", lang),
        Condition("base file, detected", "base", "file", None),
    ]


class Models:
    """Both models on both paths, each a handle as the agent loads it (2 threads, int8)."""

    def __init__(self) -> None:
        from pipelines import WhisperModelHandle, multilingual_whisper_dir

        base = multilingual_whisper_dir()
        self.paths = {"tiny.en": None, "base": base}
        self.handles: dict[tuple[str, str], WhisperModelHandle] = {
            (model, path): WhisperModelHandle(
                location, cpu_threads=2, short_window=(path == "call")
            )
            for model, location in self.paths.items()
            for path in ("call", "file")
        }
        self.model_dirs = {m: str(self.handles[(m, "call")].path) for m in self.paths}

    def warm_up(self, clips: list[Clip]) -> None:
        """One decode of silence and one of speech per handle, unmeasured."""
        for handle in self.handles.values():
            handle.warm_up()
            for clip in clips[:1]:
                handle.transcribe(clip.audio, language="en", beam_size=1)

    def decode(self, cond: Condition, audio: np.ndarray) -> tuple[str, dict[str, Any]]:
        handle = self.handles[(cond.model, cond.path)]
        if cond.language is not None:
            return handle.transcribe(audio, language=cond.language, beam_size=1), {}
        # The file path with no language: faster-whisper detects it on the first 30 s.
        segments, info = handle.model.transcribe(
            audio,
            language=None,
            beam_size=1,
            vad_filter=False,
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        text = " ".join(s.text.strip() for s in segments).strip()
        return text, {"detected": info.language, "detected_probability": info.language_probability}

    def detect(self, audio: np.ndarray, target: str) -> dict[str, Any]:
        """Whisper base's guess at the clip's language (the guess a decode without a language
        starts from)."""
        language, probability, probabilities = self.handles[("base", "file")].model.detect_language(
            audio
        )
        ranked = sorted(probabilities, key=lambda lp: -lp[1])
        return {
            "language": language,
            "probability": probability,
            "target_probability": dict(probabilities).get(target, 0.0),
            "top": [[lang, round(p, 4)] for lang, p in ranked[:3]],
        }


def run(sets: list[LanguageSet], quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.time()
    clips = build_clips(sets, quick)
    log(f"{len(clips)} clips, {sum(c.seconds for c in clips) / 60:.1f} min of audio")
    models = Models()
    models.warm_up(clips)
    by_set = {s.name: s for s in sets}
    rows: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for k, clip in enumerate(clips):
        conds = conditions_for(by_set[clip.set])
        # tiny.en first on even clips, base first on odd ones: neither always runs warm.
        order = sorted(conds, key=lambda c: (c.model == "tiny.en") == (k % 2 == 1))
        line = []
        for cond in order:
            t0 = time.perf_counter()
            text, extra = models.decode(cond, clip.audio)
            took = time.perf_counter() - t0
            row = {
                "set": clip.set,
                "voice": clip.voice.name,
                "family": clip.voice.family,
                "sentence": clip.index,
                "condition": cond.name,
                "model": cond.model,
                "path": cond.path,
                "language": cond.language,
                "reference": clip.sentence.reference,
                "transcript": text,
                "audio_seconds": clip.seconds,
                "decode_seconds": took,
                **score(clip.sentence.reference, text, clip.language),
                **extra,
            }
            rows.append(row)
            line.append(f"{cond.name}: {row['word_errors']}/{row['words']} {took:.2f}s")
        t0 = time.perf_counter()
        detected = models.detect(clip.audio, clip.language)
        detected.update(
            set=clip.set,
            voice=clip.voice.name,
            sentence=clip.index,
            target=clip.language,
            detect_seconds=time.perf_counter() - t0,
        )
        detections.append(detected)
        log(
            f"[{k + 1}/{len(clips)}] {clip.set} {clip.voice.name} #{clip.index} "
            f"(heard as {detected['language']}): " + ", ".join(line)
        )
    return {
        "started_at": started,
        "seconds": time.time() - started,
        "models": models.model_dirs,
        "clips": len(clips),
        "audio_seconds": sum(c.seconds for c in clips),
        "summary": summarize(sets, rows, detections),
        "rows": rows,
        "detections": detections,
    }


# --- summaries ----------------------------------------------------------------------------------


def summarize(
    sets: list[LanguageSet], rows: list[dict[str, Any]], detections: list[dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for lset in sets:
        mine = [r for r in rows if r["set"] == lset.name]
        if not mine:
            continue
        accuracy = {}
        for cond in conditions_for(lset):
            these = [r for r in mine if r["condition"] == cond.name]
            accuracy[cond.name] = {
                **error_rates(these),
                "by_voice": {v.name: error_rates(r for r in these if r["voice"] == v.name)
                             for v in lset.voices},
                "by_family": {f: error_rates(r for r in these if r["family"] == f)
                              for f in sorted({v.family for v in lset.voices})},
            }  # fmt: skip
        speeds: dict[str, Any] = {}
        for cond in conditions_for(lset):
            speeds[cond.name] = speed([r for r in mine if r["condition"] == cond.name])
        for path in ("call", "file"):
            pair = [speeds.get(f"{m} {path}") for m in ("base", "tiny.en")]
            if pair[0] and pair[1]:
                speeds[f"base/tiny.en {path}"] = {
                    "mean": ratio(pair[0]["mean_s"], pair[1]["mean_s"]),
                    "p95": ratio(pair[0]["p95_s"], pair[1]["p95_s"]),
                    "median_of_ratios": per_clip_ratio(mine, path),
                }
        found = [d for d in detections if d["set"] == lset.name]
        out[lset.name] = {
            "sentences": len({r["sentence"] for r in mine}),
            "clips": len(found),
            "accuracy": accuracy,
            "speed": speeds,
            "detection": {
                "all": detection_summary(found),
                "by_voice": {
                    v.name: detection_summary([d for d in found if d["voice"] == v.name])
                    for v in lset.voices
                },
            },
        }
    return out


def per_clip_ratio(rows: list[dict[str, Any]], path: str) -> float | None:
    """The median over clips of base's decode time over tiny.en's on the same clip."""
    took: dict[tuple[str, int], dict[str, float]] = {}
    for r in rows:
        if r["path"] == path and r["language"] is not None:
            took.setdefault((r["voice"], r["sentence"]), {})[r["model"]] = r["decode_seconds"]
    ratios = [t["base"] / t["tiny.en"] for t in took.values() if {"base", "tiny.en"} <= t.keys()]
    return statistics.median(ratios) if ratios else None


def detection_summary(found: list[dict[str, Any]]) -> dict[str, Any]:
    if not found:
        return {"n": 0}
    return {
        "n": len(found),
        "correct": sum(d["language"] == d["target"] for d in found) / len(found),
        "target_probability_mean": statistics.fmean(d["target_probability"] for d in found),
        "detected": dict(Counter(d["language"] for d in found).most_common()),
    }


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(summary: dict[str, Any], sets: list[LanguageSet]) -> str:
    parts = []
    for lset in sets:
        s = summary.get(lset.name)
        if s is None:
            continue
        voices = [v.name for v in lset.voices]
        # a column for a family of voices when it has several (its one voice has its own)
        families = [
            f
            for f, n in Counter(v.family for v in lset.voices).items()
            if n > 1 and len(voices) > n
        ]
        rows = []
        for name, acc in s["accuracy"].items():
            rows.append(
                [name, pct(acc["wer"]), pct(acc["wer_capped"]), pct(acc["cer"])]
                + [pct(acc["sentences_wrong"])]
                + [pct(acc["by_family"][f]["wer"]) for f in families]
                + [pct(acc["by_voice"][v]["wer"]) for v in voices]
                + [pct(acc["empty"])]
            )
        parts.append(
            f"{lset.name}: {s['clips']} clips, {s['sentences']} sentences, {len(voices)} voices\n"
            + table(
                ["model, path", "WER", "WER capped", "CER", "sentences wrong"]
                + [f"WER {f} (all)" for f in families]
                + [f"WER {v}" for v in voices]
                + ["empty"],
                rows,
            )
        )
        speed_rows = []
        for name, sp in s["speed"].items():
            if name.startswith("base/"):
                speed_rows.append(
                    [name, f"x{_num(sp['mean'])}", f"x{_num(sp['p95'])}", "-",
                     f"x{_num(sp['median_of_ratios'])}"]
                )  # fmt: skip
            else:
                speed_rows.append(
                    [name, _num(sp["mean_s"], 3), _num(sp["p95_s"], 3), _num(sp["rtf"], 3), "-"]
                )
        parts.append(
            table(
                ["speed", "mean s", "p95 s", "RTF", "median per-clip ratio"],
                speed_rows,
            )
        )
        det = s["detection"]
        det_rows = [
            [
                who,
                pct(d.get("correct")),
                pct(d.get("target_probability_mean")),
                ", ".join(f"{k} {v}" for k, v in list(d.get("detected", {}).items())[:4]),
            ]
            for who, d in [("all", det["all"]), *det["by_voice"].items()]
        ]
        parts.append(
            table(
                [f"base detects ({lset.language})", "correct", "mean p(target)", "detected as"],
                det_rows,
            )
        )
    return "\n\n".join(parts)


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma list of en, ar, fr")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CLIPS} clips per set (a fast check)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    names = [n for n in args.sets.split(",") if n]
    unknown = [n for n in names if n not in SETS]
    if unknown or not names:
        parser.error(f"unknown sets: {', '.join(unknown) or '(none)'}; known: {', '.join(SETS)}")
    sets = [SETS[n] for n in names]
    suffix = "_quick" if args.quick else ""
    out = args.out or ROOT / f"benchmarks/results/stt_languages{suffix}.json"

    payload: dict[str, Any] = {
        "benchmark": "stt_languages",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "settings": {
            "cpu_threads": 2,
            "beam_size": 1,
            "lead_s": LEAD_S,
            "tail_s": TAIL_S,
            "sets": {
                s.name: {"voices": [asdict(v) for v in s.voices], "sentences": len(s.sentences)}
                for s in sets
            },
            "quick": args.quick,
        },
    }
    payload["stt"] = run(sets, args.quick, lambda m: print(m, flush=True))
    print()
    print(report(payload["stt"]["summary"], sets))
    payload["machine"]["load_average_at_end"] = os.getloadavg()
    write_results(out, payload)
    print(f"\n{payload['stt']['seconds'] / 60:.1f} min; written to {out}")


if __name__ == "__main__":
    main()
