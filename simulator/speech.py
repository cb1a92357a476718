"""Caller speech: text rendered with espeak-ng, a voice unlike the agent's Piper voice."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .audio import CALLER_RATE, read_wav

_CACHE_DIR = Path(tempfile.gettempdir()) / "voice-agent-speech"


class SpeechRenderError(RuntimeError):
    """The caller's speech could not be produced."""


def render_speech(
    text: str, *, voice: str = "en-us", words_per_minute: int = 165, rate: int = CALLER_RATE
) -> np.ndarray:
    """int16 mono samples of `text` spoken by espeak-ng (cached by content)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechRenderError(
            "espeak-ng is not installed: run `make setup` (apt-get install espeak-ng) "
            "or give the caller WAV files"
        )
    key = hashlib.sha1(f"{voice}|{words_per_minute}|{text}".encode()).hexdigest()[:16]
    _CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = _CACHE_DIR / f"{key}.wav"
    if not path.exists():
        tmp = path.with_suffix(".tmp.wav")
        result = subprocess.run(
            [exe, "-v", voice, "-s", str(words_per_minute), "-w", str(tmp), text],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SpeechRenderError(f"espeak-ng failed: {result.stderr.strip()}")
        tmp.replace(path)
    return read_wav(path, rate)
