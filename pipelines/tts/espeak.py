"""Offline voices for the languages no packaged neural voice speaks, through espeak-ng.

espeak-ng is a formant synthesiser: intelligible in ~100 languages, robotic in all of them. It
is what an agent speaking Arabic, French or German has on a machine without a cloud provider;
the catalog says so, and an ElevenLabs voice is the natural-sounding choice for those
languages. Voices are `local:espeak-<language>` (male) and `local:espeak-<language>-female`.

The synthesiser is the `espeak-ng` program (Debian's `espeak-ng` package): one process per
sentence, its text on stdin (never an argument, so no text is read as an option), its WAV on
stdout. A sentence takes ~20 ms to synthesise.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import uuid
import wave
from dataclasses import dataclass
from functools import cache

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts

from ..errors import PipelineSetupError

PREFIX = "local:espeak-"
ESPEAK_RATE = 22050
BASE_WORDS_PER_MINUTE = 140
"""espeak-ng's 175 wpm default is hurried: at 140 Whisper base makes out espeak's French and
Spanish much better (it got "Bonjour, je voudrais réserver une table" at 130-140 wpm and
"Je vous remets mes mille thumbs" at 165), and so do people."""
PITCHES = {"low": 35, "medium": 50, "high": 65}

LANGUAGES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "hi": "Hindi",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "tr": "Turkish",
}
"""The languages offered as `local:espeak-<code>` (espeak-ng speaks more; these are the ones
agents are most often asked to speak without an English Piper voice)."""


@dataclass(frozen=True)
class EspeakVoice:
    voice_id: str
    language: str
    gender: str

    @property
    def name(self) -> str:
        return f"{LANGUAGES[self.language]} ({self.gender}, espeak-ng)"

    @property
    def espeak_name(self) -> str:
        """espeak-ng's `-v`: the language with a variant (`m3`, `f3`)."""
        return f"{self.language}+{'f3' if self.gender == 'female' else 'm3'}"


def espeak_available() -> bool:
    return _program() is not None


@cache
def _program() -> str | None:
    return shutil.which("espeak-ng")


def espeak_voices() -> list[EspeakVoice]:
    """Every `local:espeak-...` voice, or none when espeak-ng is not installed."""
    if not espeak_available():
        return []
    return [
        EspeakVoice(f"{PREFIX}{code}{'-female' if gender == 'female' else ''}", code, gender)
        for code in LANGUAGES
        for gender in ("male", "female")
    ]


def is_espeak_voice(voice_id: str) -> bool:
    return voice_id.startswith(PREFIX)


def espeak_voice(voice_id: str) -> EspeakVoice:
    """The voice behind `voice_id`; `PipelineSetupError` naming the choices if there is none."""
    for voice in espeak_voices():
        if voice.voice_id == voice_id:
            return voice
    if not espeak_available():
        raise PipelineSetupError(
            f"local voice {voice_id!r} needs espeak-ng (Debian/Ubuntu: apt install espeak-ng)"
        )
    raise PipelineSetupError(
        f"local voice {voice_id!r} is not offered; espeak-ng voices: "
        + ", ".join(v.voice_id for v in espeak_voices())
    )


def espeak_command(voice: EspeakVoice, *, voice_speed: float, pitch: str) -> list[str]:
    program = _program()
    if program is None:
        raise PipelineSetupError("espeak-ng is not installed (apt install espeak-ng)")
    words_per_minute = max(80, min(450, round(BASE_WORDS_PER_MINUTE * voice_speed / 100)))
    return [
        program,
        "-v",
        voice.espeak_name,
        "-s",
        str(words_per_minute),
        "-p",
        str(PITCHES[pitch]),
        "--stdin",
        "--stdout",
    ]


def pcm_of_wav(data: bytes) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate from espeak-ng's WAV. Writing to a pipe, espeak-ng cannot
    go back to fill in the sizes: the samples are everything after the `data` chunk's header."""
    with wave.open(io.BytesIO(data)) as wav:
        rate = wav.getframerate()
    start = data.find(b"data", 12)
    pcm = data[start + 8 :] if start >= 0 else b""
    return pcm[: len(pcm) - len(pcm) % 2], rate


def synthesize_blocking(text: str, voice: EspeakVoice, *, voice_speed: float, pitch: str) -> bytes:
    """16-bit PCM at `ESPEAK_RATE` (for callers outside an event loop)."""
    done = subprocess.run(
        espeak_command(voice, voice_speed=voice_speed, pitch=pitch),
        input=text.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"espeak-ng failed: {done.stderr.decode(errors='replace').strip()}")
    return pcm_of_wav(done.stdout)[0]


class EspeakTTS(tts.TTS):
    """livekit-agents TTS speaking through espeak-ng."""

    def __init__(self, voice_id: str, *, voice_speed: float = 100.0, pitch: str = "medium"):
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=ESPEAK_RATE,
            num_channels=1,
        )
        self.voice = espeak_voice(voice_id)
        self.voice_speed = voice_speed
        self.pitch = pitch

    @property
    def model(self) -> str:
        return self.voice.espeak_name

    @property
    def provider(self) -> str:
        return "espeak-ng"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> EspeakChunkedStream:
        return EspeakChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class EspeakChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: EspeakTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._espeak = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        engine = self._espeak
        output_emitter.initialize(
            request_id=uuid.uuid4().hex,
            sample_rate=ESPEAK_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        process = await asyncio.create_subprocess_exec(
            *espeak_command(engine.voice, voice_speed=engine.voice_speed, pitch=engine.pitch),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await process.communicate(self.input_text.encode())
        finally:
            if process.returncode is None:  # cancelled (the caller barged in)
                process.kill()
                await process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"espeak-ng failed: {err.decode(errors='replace').strip()}")
        pcm, _rate = pcm_of_wav(out)
        if pcm:
            output_emitter.push(pcm)
        output_emitter.flush()
