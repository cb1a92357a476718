"""What the pipelines are configured with: plain values, no engine or provider loaded, so a
process that only reads settings (the control plane's admin commands) starts fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.egress import EgressPolicy

Provider = Literal["local", "elevenlabs", "openai"]


@dataclass(frozen=True)
class CloudSettings:
    """Where the cloud providers are and how long one attempt may take."""

    elevenlabs_base_url: str = "https://api.elevenlabs.io/v1"
    openai_base_url: str = "https://api.openai.com/v1"
    timeout: float = 5.0
    """One attempt at a cloud STT or LLM."""
    max_retry: int = 2
    """Retries of a retryable failure before the local engine takes over."""
    retry_interval: float = 0.3
    tts_timeout: float = 2.0
    tts_max_retry: int = 1
    """A voice that has not started speaking after `tts_timeout` is retried once, then the
    local voice speaks: a stalled provider costs the caller ~2 x 2 s, not 3 x 5 s
    (benchmarks/provider_fallback.py)."""


@dataclass(frozen=True)
class ProviderCredentials:
    """Decrypted provider keys for one call; never logged (`repr` hides them)."""

    elevenlabs: str | None = field(default=None, repr=False)
    openai: str | None = field(default=None, repr=False)

    def or_else(self, other: ProviderCredentials) -> ProviderCredentials:
        """These keys, completed by `other`'s where missing."""
        return ProviderCredentials(
            elevenlabs=self.elevenlabs or other.elevenlabs, openai=self.openai or other.openai
        )

    def key(self, provider: Provider) -> str | None:
        return None if provider == "local" else getattr(self, provider)


@dataclass(frozen=True)
class ReplySpeed:
    """What a call does to speak its first word sooner; each is measured on and off by
    `benchmarks/latency.py --peers` (benchmarks/RESULTS.md)."""

    tts_chunks: Literal["clause", "sentence"] = "clause"
    """Pieces the local voice synthesises: a clause as soon as it is complete, or a sentence."""
    llm_warm_up: bool = True
    """The embedded LLM re-reads the conversation whenever the agent stops talking, so the next
    reply pays only for the caller's new words."""
    preemptive_tts: bool = True
    """Synthesise the reply drafted during the hold before the turn is committed: its first
    audio is ready when the hold ends (one call, embedded engines: voice-to-voice p50 0.87-0.89x
    without it). A draft the caller's next words discard was synthesised for nothing: CPU for
    the local voice, billed characters for a cloud one."""


@dataclass
class EngineSettings:
    """Where the local engines come from; all paths default to the packaged models."""

    whisper_model: str | Path | None = None
    whisper_multilingual_model: str | Path | None = None
    """The Whisper model of agents whose language is not English (default: Whisper base)."""
    piper_voice: str | Path | None = None
    stt_threads: int = 2
    tts_nice: int = 0
    """How much lower the local voice's synthesis threads run than the call's audio path."""
    reply: ReplySpeed = field(default_factory=ReplySpeed)
    llm_base_url: str = "http://127.0.0.1:8088/v1"
    llm_api_key: str | None = None
    cloud: CloudSettings = field(default_factory=CloudSettings)
    credentials: ProviderCredentials = field(default_factory=ProviderCredentials)
    """Deployment-wide provider keys, used when the agent's company has none; only ever sent
    to the deployment's own provider URLs (`cloud`), never to an agent's `llm_base_url`."""
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    """Where an agent's own `llm_base_url` may connect (checked at each connection)."""
