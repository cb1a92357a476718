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
from typing import Any

from livekit import rtc
from livekit.agents import APIConnectOptions, llm, stt, tts
from livekit.agents.tts.fallback_adapter import (
    DEFAULT_FALLBACK_API_CONNECT_OPTIONS,
    FallbackSynthesizeStream,
)
from livekit.plugins import elevenlabs as lk_elevenlabs
from livekit.plugins import openai as lk_openai

from agent.contract import LOCAL_LLM, LOCAL_VOICE_PREFIX, AgentConfig

from .http import openai_client
from .settings import CloudSettings, Provider

logger = logging.getLogger("pipelines.cloud")

OPENAI_VOICE_PREFIX = "openai:"

DEFAULT_ELEVENLABS_STT_MODEL = "scribe_v1"
DEFAULT_OPENAI_STT_MODEL = "gpt-4o-mini-transcribe"
DEFAULT_OPENAI_TTS_MODEL = "gpt-4o-mini-tts"


def tts_provider(voice_id: str) -> Provider:
    """`local:<voice>` is Piper, `openai:<voice>` OpenAI speech, anything else ElevenLabs."""
    if voice_id.startswith(LOCAL_VOICE_PREFIX):
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
        client=openai_client(api_key=api_key, base_url=cloud.openai_base_url),
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
        client=openai_client(api_key=api_key, base_url=cloud.openai_base_url),
        language=language,
        model=config.stt_model or DEFAULT_OPENAI_STT_MODEL,
        use_realtime=False,
    )


LOCAL_ATTEMPT_TIMEOUT = 10.0
"""Timeout of one attempt at a local engine alone: a loaded machine must not time it out."""


def attempt_options(
    cloud: CloudSettings, *, cloud_first: bool, voice: bool = False
) -> APIConnectOptions:
    """Connect options for one part of a call: quick retries (a caller is waiting), and the
    provider timeout when a cloud provider is in front of a local engine."""
    timeout = cloud.tts_timeout if voice else cloud.timeout
    return APIConnectOptions(
        max_retry=cloud.tts_max_retry if voice else cloud.max_retry,
        retry_interval=cloud.retry_interval,
        timeout=timeout if cloud_first else max(timeout, LOCAL_ATTEMPT_TIMEOUT),
    )


def is_fallback(part: object) -> bool:
    return isinstance(part, tts.FallbackAdapter | stt.FallbackAdapter | llm.FallbackAdapter)


def fallback_tts(primary: tts.TTS, local: tts.TTS, cloud: CloudSettings) -> tts.TTS:
    return ContinuingFallbackTTS([primary, local], max_retry_per_tts=cloud.tts_max_retry)


class ContinuingFallbackTTS(tts.FallbackAdapter):
    """The framework's TTS fallback, except when the cloud voice fails after the caller has
    heard part of a reply: the framework then drops the rest of it (retrying would repeat what
    was heard); here the local voice speaks the words that were not heard yet."""

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_FALLBACK_API_CONNECT_OPTIONS
    ) -> FallbackSynthesizeStream:
        return _ContinuingStream(tts=self, conn_options=conn_options)


class _WordCounter:
    """An `AudioEmitter` stand-in that counts the words whose audio went out."""

    def __init__(self, emitter: tts.AudioEmitter) -> None:
        self._emitter = emitter
        self.words: list[str] = []

    def push_timed_transcript(self, delta: Any) -> None:
        items = delta if isinstance(delta, list) else [delta]
        self.words.extend(str(item) for item in items)
        self._emitter.push_timed_transcript(delta)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._emitter, name)


class _ContinuingStream(FallbackSynthesizeStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        adapter: ContinuingFallbackTTS = self._fallback_adapter  # type: ignore[assignment]
        primary, status = adapter._tts_instances[0], adapter._status[0]
        was_available = status.available
        counter = _WordCounter(output_emitter)
        await super()._run(counter)  # type: ignore[arg-type]
        cut_off = (
            was_available
            and not status.available
            and adapter._active_instance is primary
            and output_emitter.pushed_duration() > 0
        )
        if not cut_off:
            return
        # The rest of the reply may still be arriving from the LLM: read it to the end.
        tokens = list(self._pushed_tokens)
        async for data in self._input_ch:
            if isinstance(data, str):
                tokens.append(data)
        rest = unheard_text("".join(tokens), counter.words)
        if not rest.strip():
            return
        logger.warning(
            "%s failed after %.1f s of audio; the next voice speaks the rest of the reply",
            primary.label,
            output_emitter.pushed_duration(),
        )
        for backup in adapter._tts_instances[1:]:
            try:
                await _speak_into(backup, rest, output_emitter, adapter.sample_rate)
                return
            except Exception as exc:  # the next one, if any
                logger.warning("%s could not finish the reply: %s", backup.label, exc)


async def _speak_into(
    voice: tts.TTS, text: str, emitter: tts.AudioEmitter, sample_rate: int
) -> None:
    resampler = (
        rtc.AudioResampler(input_rate=voice.sample_rate, output_rate=sample_rate)
        if voice.sample_rate != sample_rate
        else None
    )
    stream = voice.stream()
    stream.push_text(text)
    stream.end_input()
    async with stream:
        async for audio in stream:
            frames = resampler.push(audio.frame) if resampler else [audio.frame]
            for frame in frames:
                emitter.push_frame(frame)
    if resampler is not None:
        for frame in resampler.flush():
            emitter.push_frame(frame)


def unheard_text(text: str, heard_words: list[str]) -> str:
    """`text` after the words already spoken, aligned word by word (ignoring case and
    punctuation); a spoken word that cannot be aligned is skipped."""
    words = text.split()
    bare = [_bare(w) for w in words]
    position = 0
    for word in map(_bare, heard_words):
        if not word:
            continue
        try:
            position = bare.index(word, position) + 1
        except ValueError:
            continue
    return " ".join(words[position:])


def _bare(word: str) -> str:
    return "".join(ch for ch in word.casefold() if ch.isalnum())


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
