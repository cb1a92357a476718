"""One Silero ONNX session per process, shared by every call's VAD.

livekit-plugins-silero loads its ONNX model into a session per `VAD.load()` (~10 MB and a
model load per call). Its `VAD` also takes an existing session and options, privately: each
call's VAD is made from the process's one session with the call's own hold.
"""

from __future__ import annotations

import dataclasses
from typing import cast

from livekit.plugins import silero

from . import WrittenFor

WRITTEN_FOR = WrittenFor("livekit-plugins-silero", "1.8.9")
"""The release whose `VAD(session=..., opts=...)` constructor this module uses."""


def vad_sharing_session(base: silero.VAD, *, min_silence_duration: float) -> silero.VAD:
    """A Silero VAD with `base`'s options but `min_silence_duration`, on `base`'s ONNX session
    (a new session of its own on another plugin release)."""
    if not WRITTEN_FOR.applies("sharing Silero's ONNX session"):
        # `load` is annotated as returning the framework's VAD; it returns the plugin's.
        return cast(silero.VAD, silero.VAD.load(min_silence_duration=min_silence_duration))
    return silero.VAD(
        session=base._onnx_session,
        opts=dataclasses.replace(
            base._opts,
            min_silence_duration=min_silence_duration,
        ),
    )
