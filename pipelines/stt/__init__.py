"""Speech-to-text providers."""

from .whisper import WhisperModelHandle, WhisperSTT, WhisperSTTOptions

__all__ = ["WhisperModelHandle", "WhisperSTT", "WhisperSTTOptions"]
