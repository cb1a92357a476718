"""Cloud providers (ElevenLabs, OpenAI) chosen per agent, with the local engines as fallback.

The providers are livekit-agents plugins (`livekit-plugins-elevenlabs`, `livekit-plugins-openai`,
the latter on the official `openai` SDK), pointed at configurable base URLs. Each cloud provider
is put in front of the matching local engine in the framework's `FallbackAdapter`: failures are
the framework's error types (`APIStatusError`, `APITimeoutError`, `APIConnectionError`);
retryable ones are retried per the session's connect options before anything reached the
caller, then the adapter serves from the local engine and probes the cloud one in the
background until it recovers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from livekit.agents import APIConnectOptions, llm, stt, tts
from livekit.plugins import elevenlabs as lk_elevenlabs
from livekit.plugins import openai as lk_openai

from .config import AgentConfig

logger = logging.getLogger("pipelines.cloud")

LOCAL_PREFIX = "local:"
OPENAI_VOICE_PREFIX = "openai:"
LOCAL_LLM = "local"

DEFAULT_ELEVENLABS_STT_MODEL = "scribe_v1"
DEFAULT_OPENAI_STT_MODEL = "gpt-4o-mini-transcribe"
DEFAULT_OPENAI_TTS_MODEL = "gpt-4o-mini-tts"

Provider = Literal["local", "elevenlabs", "openai"]


@dataclass(frozen=True)
class CloudSettings:
    """Where the cloud providers are and how long one attempt may take."""

    elevenlabs_base_url: str = "https://api.elevenlabs.io/v1"
    openai_base_url: str = "https://api.openai.com/v1"
    timeout: float = 5.0
    max_retry: int = 2
    """Retries of a retryable failure before the local engine takes over."""
    retry_interval: float = 0.3


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


def tts_provider(voice_id: str) -> Provider:
    """`local:<voice>` is Piper, `openai:<voice>` OpenAI speech, anything else ElevenLabs."""
    if voice_id.startswith(LOCAL_PREFIX):
        return "local"
    if voice_id.startswith(OPENAI_VOICE_PREFIX):
        return "openai"
    return "elevenlabs"


def llm_provider(config: AgentConfig) -> Provider:
    """`llm_model` "local" is the embedded server; any other model is OpenAI-compatible at
    the agent's `llm_base_url` or the deployment's OpenAI URL."""
    return "local" if config.llm_model == LOCAL_LLM else "openai"


def _elevenlabs_encoding(output_format: str) -> str:
    # Calls want raw PCM (no decoding on our side); keep the agent's rate when it is PCM.
    if output_format in ("pcm_16000", "pcm_22050", "pcm_24000"):
        return output_format
    return "pcm_24000"


def elevenlabs_tts(config: AgentConfig, api_key: str, cloud: CloudSettings) -> tts.TTS:
    """Streaming ElevenLabs synthesis over its input-streaming websocket."""
    speed = min(1.2, max(0.7, config.voice_speed / 100))
    return lk_elevenlabs.TTS(
        api_key=api_key,
        base_url=cloud.elevenlabs_base_url,
        voice_id=config.voice_id,
        model=config.model_id,
        language=config.language.split("-")[0],
        encoding=_elevenlabs_encoding(config.output_format),  # type: ignore[arg-type]
        voice_settings=lk_elevenlabs.VoiceSettings(
            stability=config.voice_stability,
            similarity_boost=config.voice_similarity_boost,
            style=config.voice_style,
            speed=speed,
        ),
    )


def openai_tts(config: AgentConfig, api_key: str, cloud: CloudSettings) -> tts.TTS:
    model = config.model_id
    if model.startswith("eleven"):
        model = DEFAULT_OPENAI_TTS_MODEL
    return lk_openai.TTS(
        api_key=api_key,
        base_url=cloud.openai_base_url,
        model=model,
        voice=config.voice_id.removeprefix(OPENAI_VOICE_PREFIX),
        speed=min(4.0, max(0.25, config.voice_speed / 100)),
    )


def cloud_tts(config: AgentConfig, api_key: str, cloud: CloudSettings) -> tts.TTS:
    if tts_provider(config.voice_id) == "openai":
        return openai_tts(config, api_key, cloud)
    return elevenlabs_tts(config, api_key, cloud)


def cloud_stt(config: AgentConfig, api_key: str, cloud: CloudSettings) -> stt.STT:
    """The agent's cloud STT; batch models are wrapped by the caller with a segmenting VAD."""
    language = config.language.split("-")[0]
    if config.stt_provider == "elevenlabs":
        return lk_elevenlabs.STT(
            api_key=api_key,
            base_url=cloud.elevenlabs_base_url,
            language_code=language,
            model=config.stt_model or DEFAULT_ELEVENLABS_STT_MODEL,
            tag_audio_events=False,
        )
    return lk_openai.STT(
        api_key=api_key,
        base_url=cloud.openai_base_url,
        language=language,
        model=config.stt_model or DEFAULT_OPENAI_STT_MODEL,
        use_realtime=False,
    )


LOCAL_ATTEMPT_TIMEOUT = 10.0
"""Timeout of one attempt at a local engine alone: a loaded machine must not time it out."""


def attempt_options(cloud: CloudSettings, *, cloud_first: bool) -> APIConnectOptions:
    """Connect options for one part of a call: quick retries (a caller is waiting), and the
    provider timeout when a cloud provider is in front of a local engine."""
    return APIConnectOptions(
        max_retry=cloud.max_retry,
        retry_interval=cloud.retry_interval,
        timeout=cloud.timeout if cloud_first else max(cloud.timeout, LOCAL_ATTEMPT_TIMEOUT),
    )


def is_fallback(part: object) -> bool:
    return isinstance(part, tts.FallbackAdapter | stt.FallbackAdapter | llm.FallbackAdapter)


def fallback_tts(primary: tts.TTS, local: tts.TTS, cloud: CloudSettings) -> tts.TTS:
    return tts.FallbackAdapter([primary, local], max_retry_per_tts=cloud.max_retry)


def fallback_stt(primary: stt.STT, local: stt.STT, cloud: CloudSettings) -> stt.STT:
    return stt.FallbackAdapter(
        [primary, local],
        attempt_timeout=cloud.timeout,
        max_retry_per_stt=cloud.max_retry,
        retry_interval=cloud.retry_interval,
    )


def fallback_llm(primary: llm.LLM, local: llm.LLM, cloud: CloudSettings) -> llm.LLM:
    return llm.FallbackAdapter(
        [primary, local],
        attempt_timeout=cloud.timeout,
        max_retry_per_llm=cloud.max_retry,
        retry_interval=cloud.retry_interval,
    )


def missing_key(component: str, provider: Provider, what: str, instead: str) -> None:
    logger.warning(
        "%s %s needs a %s API key, and neither the agent, its company nor the deployment "
        "has one; using %s",
        component,
        what,
        provider,
        instead,
    )
