"""Worker settings, read from the environment (and `.env`)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from control_plane.settings import ServiceSettings
from pipelines.settings import EngineSettings, ReplySpeed


class Settings(ServiceSettings):
    """Everything the worker process reads from its environment (`DATABASE_URL` and
    `DATA_DIR` locate the store, as for the control plane)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    whisper_model: str | None = None
    """Directory of a CTranslate2 Whisper model; default: the packaged tiny.en."""
    whisper_multilingual_model: str | None = None
    """The Whisper model of agents whose language is not English, when `WHISPER_MODEL` is
    English-only; default: Whisper base, joined from its PyPI halves (`MODEL_CACHE_DIR`)."""
    piper_voice: str | None = None
    """Piper `.onnx` voice (its `.onnx.json` beside it); default: the packaged en_US-joe-medium."""
    stt_threads: int = 2
    tts_nice: int = Field(default=0, ge=0, le=19)
    """Nice value added to the local voice's synthesis threads (Linux), so that synthesising
    a reply ahead of playout yields the CPU to the calls' audio and VAD."""
    tts_chunks: Literal["clause", "sentence"] = "clause"
    """Pieces the local voice synthesises: each clause as soon as it is complete, or each
    sentence (`ReplySpeed`)."""
    llm_warm_up: bool = True
    """The embedded LLM re-reads the conversation whenever the agent stops talking."""
    preemptive_tts: bool = True
    """Synthesise the reply drafted during the turn's hold before the turn is committed
    (`ReplySpeed.preemptive_tts`)."""
    worker_http_port: int = 8081
    """Health endpoint (`/` and `/worker`); 0 picks a free port."""
    worker_http_host: str = "127.0.0.1"
    """Address the health and metrics endpoints listen on (`0.0.0.0` in a container)."""
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    """Prometheus `/metrics` (`agent_worker.metrics` and livekit-agents' own); 0: not served."""
    worker_idle_processes: int = 2
    """Job processes kept warm with models loaded, so a call starts without loading time."""
    worker_executor: Literal["thread", "process"] = "thread"
    """How calls run: as threads sharing one copy of the models, or one process each."""
    agent_cache_seconds: float = 5.0
    """How long a loaded agent is reused; a call started through the API always gets the
    agent's current version."""
    worker_max_calls: int = 4
    """Calls one worker accepts at once; the worker reports itself full beyond this."""
    worker_drain_seconds: int = Field(default=600, ge=1)
    """On SIGTERM or SIGINT (`start`) the worker takes no new calls and waits this long for
    its calls to end, then cuts those still running and exits; give the orchestrator's stop
    timeout (Kubernetes' `terminationGracePeriodSeconds`, compose's `stop_grace_period`) a
    little more."""
    input_frame_ms: int = Field(default=20, ge=10, le=100)
    """Size of the caller's audio frames the session handles: 20 ms stops the agent ~35 ms
    sooner on a barge-in than livekit-agents' 50 ms, and costs ~10% more worker CPU per call
    (benchmarks/RESULTS.md)."""

    event_routing: bool = True
    """Hand livekit's audio events straight to the call they belong to (`ffi_routing`);
    false: the SDK's own delivery, which offers each event to every call in the process."""

    def engine_settings(self) -> EngineSettings:
        return dataclasses.replace(
            self.llm_engine_settings(),
            whisper_model=self.whisper_model,
            whisper_multilingual_model=self.whisper_multilingual_model,
            piper_voice=self.piper_voice,
            stt_threads=self.stt_threads,
            tts_nice=self.tts_nice,
            reply=ReplySpeed(
                tts_chunks=self.tts_chunks,
                llm_warm_up=self.llm_warm_up,
                preemptive_tts=self.preemptive_tts,
            ),
        )
