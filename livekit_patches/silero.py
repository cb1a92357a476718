"""One Silero ONNX session per process, shared by every call's VAD, scoring on the call's
own thread.

livekit-plugins-silero loads its ONNX model into a session per `VAD.load()` (~10 MB and a
model load per call). Its `VAD` also takes an existing session and options, privately: each
call's VAD is made from the process's one session with the call's own hold.

Its stream also hands every 32 ms window to a thread pool and waits for the score: 31 thread
hand-offs a second per call, each a wake-up of a pool thread and of the call's event loop,
for an inference of ~0.1 ms that releases the interpreter lock while it runs. The call's
stream runs it in place (its loop waits the 0.1 ms; other calls' threads run meanwhile), and
sends its events to its one reader without the metrics branch nobody reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, cast

from livekit.plugins import silero
from livekit.plugins.silero import onnx_model

from . import WrittenFor

WRITTEN_FOR = WrittenFor("livekit-plugins-silero", "1.8.9")
"""The release whose `VAD(session=..., opts=...)` constructor this module uses."""


def vad_sharing_session(base: silero.VAD, *, min_silence_duration: float) -> silero.VAD:
    """A Silero VAD with `base`'s options but `min_silence_duration`, on `base`'s ONNX session
    (a new session of its own on another plugin release). Its streams score in place and
    report no metrics of their own: the turn VAD that wraps them does."""
    if not WRITTEN_FOR.applies("sharing Silero's ONNX session"):
        # `load` is annotated as returning the framework's VAD; it returns the plugin's.
        return cast(silero.VAD, silero.VAD.load(min_silence_duration=min_silence_duration))
    return _InPlaceSilero(
        session=base._onnx_session,
        opts=dataclasses.replace(
            base._opts,
            min_silence_duration=min_silence_duration,
        ),
    )


class _InPlaceSilero(silero.VAD):
    """Silero's VAD whose streams score each window on their own loop's thread and hand
    their events straight to their reader."""

    def stream(self) -> silero.VADStream:
        model = onnx_model.OnnxModel(
            onnx_session=self._onnx_session, sample_rate=self._opts.sample_rate
        )
        stream = _InnerStream(self, self._opts, model)
        self._streams.add(stream)
        return stream


class _InnerStream(silero.VADStream):
    """A stream read by one consumer, the call's turn VAD (`pipelines.transcript_gate`), which
    reports the session's VAD metrics itself: every window's event went through a tee (a lock
    and a wake-up) to a metrics task of this stream whose figures nobody listened to."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # the stream's one use of its loop is `run_in_executor(None, model, window)`
        self._loop = _InPlace(self._loop)  # type: ignore[assignment]
        self._event_aiter = self._event_ch  # the tee's branches are never read

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        return


class _InPlace:
    """An event loop whose `run_in_executor` runs the function at once and hands back its
    result as a finished future."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def run_in_executor(
        self, _executor: object, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future
