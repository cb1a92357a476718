"""Local text-to-speech with Piper, as a livekit-agents TTS.

Piper synthesises a whole text at once, so the provider is non-streaming; the session wraps it in
livekit's `tts.StreamAdapter`, which splits the LLM's token stream into sentences and synthesises
them one after the other. Within one text, Piper yields audio per sentence and each chunk is
pushed as soon as it exists. Synthesis runs in a thread of its own, optionally at a lower
scheduling priority (`nice`) so that synthesising the rest of a reply ahead of playout does not
delay the call's audio path (the VAD that hears a barge-in) on a busy machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts

from ..models import piper_voice_path

logger = logging.getLogger(__name__)


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value by `nice` (Linux: per thread, and inherited by the
    threads it starts, such as onnxruntime's pool when the model is loaded here)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as exc:  # not permitted, or not per-thread on this platform
        logger.warning("could not lower the speech synthesis priority: %s", exc)


def speed_to_length_scale(voice_speed: float) -> float:
    """`voice_speed` is a percentage (100 = normal); Piper's length scale is its inverse."""
    if voice_speed <= 0:
        raise ValueError("voice_speed must be positive")
    return 100.0 / voice_speed


@dataclass(frozen=True)
class PiperTTSOptions:
    """Synthesis settings."""

    voice_speed: float = 100.0
    speaker_id: int | None = None
    pitch: float = 1.0
    """Pitch factor (1.0: the voice's own). The audio is synthesised this much slower and
    played this much faster (its sample rate said to be higher), so the pace stays close to
    the voice's (Piper rounds phoneme lengths to whole frames: within 10%)."""


class PiperVoiceHandle:
    """A loaded Piper voice, shared by every session of a process."""

    def __init__(self, voice_path: str | Path | None = None, nice: int = 0) -> None:
        from piper import PiperVoice

        self.path = piper_voice_path(voice_path)
        # One thread synthesises for every call of the process (the voice is not thread-safe);
        # the model is loaded on it so that onnxruntime's pool threads share its priority.
        self.executor = ThreadPoolExecutor(
            1, thread_name_prefix="piper", initializer=lower_thread_priority, initargs=(nice,)
        )
        self.voice = self.executor.submit(PiperVoice.load, str(self.path)).result()
        self.sample_rate: int = self.voice.config.sample_rate
        self.lock = threading.Lock()

    def warm_up(self) -> None:
        """One synthesis, so the first caller does not pay for lazy initialisation."""
        for _ in self.synthesize_chunks("Hello.", PiperTTSOptions()):
            pass

    def synthesize_chunks(self, text: str, options: PiperTTSOptions) -> Iterator[bytes]:
        """Blocking: 16-bit mono PCM, one chunk per sentence."""
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=speed_to_length_scale(options.voice_speed) * options.pitch,
            speaker_id=options.speaker_id,
        )
        for chunk in self.voice.synthesize(text, syn_config=config):
            yield chunk.audio_int16_bytes


class PiperTTS(tts.TTS):
    """livekit-agents TTS backed by a local Piper voice."""

    def __init__(self, handle: PiperVoiceHandle, options: PiperTTSOptions | None = None) -> None:
        opts = options or PiperTTSOptions()
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=round(handle.sample_rate * opts.pitch),
            num_channels=1,
        )
        self._handle = handle
        self._opts = opts

    @property
    def model(self) -> str:
        return self._handle.path.stem

    @property
    def provider(self) -> str:
        return "piper"

    def update_options(self, **changes: object) -> None:
        """Replace options (not `pitch`, fixed at creation); the next synthesis uses them."""
        if "pitch" in changes:
            raise ValueError("pitch is fixed when the TTS is made")
        self._opts = dataclasses.replace(self._opts, **changes)  # type: ignore[arg-type]

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> PiperChunkedStream:
        return PiperChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class PiperChunkedStream(tts.ChunkedStream):
    """One synthesis request."""

    def __init__(self, *, tts: PiperTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._piper = tts
        self._opts = tts._opts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        handle = self._piper._handle
        output_emitter.initialize(
            request_id=uuid.uuid4().hex,
            sample_rate=self._piper.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        loop = asyncio.get_running_loop()
        chunks = handle.synthesize_chunks(self.input_text, self._opts)

        def next_chunk() -> bytes | None:
            with handle.lock:
                return next(chunks, None)

        while (pcm := await loop.run_in_executor(handle.executor, next_chunk)) is not None:
            output_emitter.push(pcm)
        output_emitter.flush()
