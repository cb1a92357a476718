"""Transcribe what the caller heard, with the same local Whisper model the agent uses.

The agent decodes for speed (a short window, greedy); the listener decodes as Whisper does by
default (its 30 s window, beam search of 5), after a moment of silence as a listener has
before the speech starts (the heard speech is cut at its first loud frame, and an abrupt onset
made Whisper drop the first words). A reply whose audio pauses early (a late chunk of speech)
made the fast decode stop after its first word ("You said, ..." heard as "You"), where this
decode hears the whole reply.
"""

from __future__ import annotations

import asyncio

import numpy as np

from pipelines import WhisperModelHandle
from shared.audio import resample

from .audio import CALLER_RATE
from .caller import CallReport


class HeardTranscriber:
    """Fills in the transcripts of a call's received agent speech (after the call)."""

    BEAM_SIZE = 5
    LEAD_SECONDS = 0.3

    def __init__(self, model_dir: str | None = None, cpu_threads: int = 2) -> None:
        self._handle = WhisperModelHandle(model_dir, cpu_threads=cpu_threads, short_window=False)

    def transcribe(self, audio: np.ndarray) -> str:
        pcm16k = resample(audio, CALLER_RATE, 16000).astype(np.float32) / 32768.0
        pcm16k = np.concatenate([np.zeros(round(self.LEAD_SECONDS * 16000), np.float32), pcm16k])
        return self._handle.transcribe(pcm16k, language="en", beam_size=self.BEAM_SIZE)

    async def fill(self, report: CallReport) -> CallReport:
        loop = asyncio.get_running_loop()
        heard = [report.greeting] + [t.reply for t in report.turns]
        for speech in heard:
            if speech is not None:
                speech.transcript = await loop.run_in_executor(None, self.transcribe, speech.audio)
        return report
