"""Speech-to-text providers."""

from .whisper import OVER_THE_AGENT_PROMPT, WhisperModelHandle, WhisperSTT, WhisperSTTOptions

__all__ = ["OVER_THE_AGENT_PROMPT", "WhisperModelHandle", "WhisperSTT", "WhisperSTTOptions"]
