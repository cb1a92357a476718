"""Text-to-speech providers."""

from .piper import PiperTTS, PiperTTSOptions, PiperVoiceHandle

__all__ = ["PiperTTS", "PiperTTSOptions", "PiperVoiceHandle"]
