"""Transcribe what the caller heard, with the same local Whisper engine the agent uses."""

from __future__ import annotations

import asyncio

import numpy as np

from pipelines import WhisperModelHandle
from shared.audio import resample

from .audio import CALLER_RATE
from .caller import CallReport


class HeardTranscriber:
    """Fills in the transcripts of a call's received agent speech (after the call)."""

    def __init__(self, model_dir: str | None = None, cpu_threads: int = 2) -> None:
        self._handle = WhisperModelHandle(model_dir, cpu_threads=cpu_threads)

    def transcribe(self, audio: np.ndarray) -> str:
        pcm16k = resample(audio, CALLER_RATE, 16000).astype(np.float32) / 32768.0
        return self._handle.transcribe(pcm16k, language="en", beam_size=1)

    async def fill(self, report: CallReport) -> CallReport:
        loop = asyncio.get_running_loop()
        heard = [report.greeting] + [t.reply for t in report.turns]
        for speech in heard:
            if speech is not None:
                speech.transcript = await loop.run_in_executor(None, self.transcribe, speech.audio)
        return report
