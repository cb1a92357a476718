"""Assemble VAD, STT, LLM and TTS for one call from an `AgentConfig`.

Heavy models (Whisper, Piper) are loaded once per process into `Engines`; `build_pipeline`
creates the cheap per-call provider objects around them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import cast

from livekit.agents import llm, stt, tts, vad

# Imported here, on the main thread at start-up: livekit plugins refuse to register from the
# call threads where pipelines are built.
from livekit.plugins import silero

from agent.contract import AgentConfig
from livekit_patches.segmented_stt import segmented_stt
from livekit_patches.silero import vad_sharing_session
from shared.egress import EgressPolicy

from . import cloud
from .cloud import LOCAL_VOICE_PREFIX
from .errors import PipelineSetupError
from .llm import build_openai_compatible_llm
from .models import multilingual_whisper_dir
from .settings import EngineSettings, ProviderCredentials
from .smart_turn import SmartTurnModel
from .stt import OVER_THE_AGENT_PROMPT, WhisperModelHandle, WhisperSTT, WhisperSTTOptions
from .transcript_gate import GatedVAD, ReportingSTT, TranscriptGate
from .tts import PiperTTS, PiperTTSOptions, PiperVoiceHandle
from .tts.chunking import SpeechChunker
from .tts.espeak import EspeakTTS, espeak_voices, is_espeak_voice
from .vad import WebRTCVAD, WebRTCVADOptions


class Engines:
    """Models loaded once per process and shared by its calls."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.whisper = WhisperModelHandle(settings.whisper_model, cpu_threads=settings.stt_threads)
        self.piper = PiperVoiceHandle(settings.piper_voice, nice=settings.tts_nice)
        self._silero_base: silero.VAD | None = None
        self._silero_lock = threading.Lock()
        self._smart_turn: SmartTurnModel | None = None
        self._smart_turn_lock = threading.Lock()
        self._multilingual: WhisperModelHandle | None = None
        self._multilingual_lock = threading.Lock()
        self.whisper.warm_up()
        self.piper.warm_up()

    def whisper_for(self, language: str) -> WhisperModelHandle:
        """The model that hears `language`: the configured one, unless it is English-only and
        the language is not English; then the multilingual model, loaded on first use."""
        if is_english(language) or not self.whisper.english_only:
            return self.whisper
        with self._multilingual_lock:
            if self._multilingual is None:
                handle = WhisperModelHandle(
                    multilingual_whisper_dir(self.settings.whisper_multilingual_model),
                    cpu_threads=self.settings.stt_threads,
                )
                handle.warm_up()
                self._multilingual = handle
            return self._multilingual

    def silero_base(self) -> silero.VAD:
        """Silero with its default options, loaded on first use (the packaged ONNX model)."""
        with self._silero_lock:
            if self._silero_base is None:
                self._silero_base = cast(silero.VAD, silero.VAD.load())
            return self._silero_base

    def smart_turn(self) -> SmartTurnModel:
        """The end-of-turn model of `semantic` turn detection, loaded on first use."""
        with self._smart_turn_lock:
            if self._smart_turn is None:
                self._smart_turn = SmartTurnModel()
            return self._smart_turn


@dataclass
class Pipeline:
    """The four parts an `AgentSession` runs."""

    vad: vad.VAD
    stt: stt.STT
    llm: llm.LLM
    tts: tts.TTS


def build_vad(
    config: AgentConfig, engines: Engines | None = None, *, silence: float | None = None
) -> vad.VAD:
    """The turn VAD (its hold: `turn_hold`), or a WebRTC VAD with the hold `silence`."""
    td = config.turn_detection
    if td.vad == "silero" and silence is None and engines is not None:
        # One ONNX session per process; each call's VAD gets the agent's hold.
        return vad_sharing_session(engines.silero_base(), min_silence_duration=turn_hold(config))
    return WebRTCVAD(
        WebRTCVADOptions(
            aggressiveness=td.vad_aggressiveness,
            frame_ms=td.vad_frame_ms,
            min_speech_duration=td.min_speech_duration,
            min_silence_duration=turn_hold(config) if silence is None else silence,
            # a segmenter's events are its cuts; a turn VAD's inferences pause the agent
            inference_events=silence is None,
        )
    )


def turn_hold(config: AgentConfig) -> float:
    """The silence after which the turn VAD ends the caller's speech: the hold, or with
    `semantic` turn detection the shorter pause after which the model decides."""
    td = config.turn_detection
    return td.semantic_silence_duration if td.mode == "semantic" else td.min_silence_duration


SILERO_WINDOW_S = 512 / 16000
"""Silero scores 32 ms windows of 16 kHz audio."""


INTERRUPTION_FLOOR_S = 0.01
"""livekit-agents pauses the agent at every inference whose speech time reaches the minimum:
at 0, silence would too."""


def interruption_min_duration(config: AgentConfig) -> float:
    """What livekit-agents compares with the caller's speech time to pause the agent.

    Silero's speech time starts at two windows (64 ms) when it declares speech and grows one
    32 ms window per window after that, speech or not, until its hold ends the speech. So
    every sound that starts speech reaches any minimum shorter than the hold, and the minimum
    only decides how many windows later the pause comes. It is rounded to the nearest window
    (0.1 s: the third, 96 ms, where comparing against 0.1 waited for the fourth, 128 ms).
    WebRTC's speech time counts voiced frames only and is compared as configured.
    """
    td = config.turn_detection
    minimum = td.min_interruption_duration
    if td.vad == "silero":
        minimum -= SILERO_WINDOW_S / 2
    return max(INTERRUPTION_FLOOR_S, minimum)


def is_english(language: str) -> bool:
    return language.lower().split("-")[0] == "en"


def build_local_stt(
    config: AgentConfig, engines: Engines, gate: TranscriptGate | None = None
) -> stt.STT:
    handle = engines.whisper_for(config.language)
    prompt = None
    if gate is not None and is_english(config.language):

        def prompt() -> str | None:
            return OVER_THE_AGENT_PROMPT if gate.agent_speaking() else None

    whisper = WhisperSTT(handle, WhisperSTTOptions(language=config.language), prompt=prompt)
    return _segmented(whisper, config, gate)


def _segmented(recognizer: stt.STT, config: AgentConfig, gate: TranscriptGate | None) -> stt.STT:
    if recognizer.capabilities.streaming:
        return recognizer
    # A batch recogniser is not streaming: livekit's StreamAdapter recognises each segment its
    # VAD cuts. That VAD closes segments after a shorter silence than the turn VAD, so
    # recognition runs during the hold instead of after it.
    segmenter = build_vad(config, silence=config.turn_detection.stt_silence_duration)
    if gate is None:
        return stt.StreamAdapter(stt=recognizer, vad=segmenter)
    # the gate counts each segment from when it is cut
    return segmented_stt(ReportingSTT(recognizer, on_empty=gate.resolved), segmenter)


def build_stt(
    config: AgentConfig,
    engines: Engines,
    credentials: ProviderCredentials | None = None,
    gate: TranscriptGate | None = None,
) -> stt.STT:
    """The agent's STT: local Whisper, or a cloud provider with Whisper as its fallback."""
    local = build_local_stt(config, engines, gate)
    if config.stt_provider == "local":
        return local
    key = _credentials(engines, credentials).key(config.stt_provider)
    if not key:
        cloud.missing_key("STT", config.stt_provider, "speech-to-text", "local Whisper")
        return local
    remote = cloud.cloud_stt(config, key, engines.settings.cloud)
    return cloud.fallback_stt(_segmented(remote, config, gate), local, engines.settings.cloud)


def _credentials(engines: Engines, credentials: ProviderCredentials | None) -> ProviderCredentials:
    own = credentials or ProviderCredentials()
    return own.or_else(engines.settings.credentials)


VOICE_PITCH = {"low": 0.92, "medium": 1.0, "high": 1.08}
"""Pitch factors of `voice_pitch` (about 1.4 semitones down and up)."""


def local_voice_for(config: AgentConfig, engines: Engines) -> str:
    """The local voice that speaks for the agent: its own `local:` voice, else (a cloud voice,
    before its key is connected or while its provider fails) the Piper voice for English and
    an espeak-ng voice of the agent's language for other languages."""
    if config.voice_id.startswith(LOCAL_VOICE_PREFIX):
        return config.voice_id
    installed = f"{LOCAL_VOICE_PREFIX}{engines.piper.path.stem}"
    if is_english(config.language):
        return installed
    family = config.language.lower().split("-")[0]
    for voice in espeak_voices():
        if voice.language == family:
            return voice.voice_id
    return installed


def build_local_tts(config: AgentConfig, engines: Engines) -> tts.TTS:
    voice_id = local_voice_for(config, engines)
    clauses = engines.settings.reply.tts_chunks == "clause"
    chunker = SpeechChunker(min_clause_words=4 if clauses else None)
    if is_espeak_voice(voice_id):
        espeak = EspeakTTS(voice_id, voice_speed=config.voice_speed, pitch=config.voice_pitch)
        return tts.StreamAdapter(tts=espeak, sentence_tokenizer=chunker)
    installed = f"{LOCAL_VOICE_PREFIX}{engines.piper.path.stem}"
    if voice_id != installed:
        raise PipelineSetupError(
            f"local voice {voice_id!r} is not installed; this worker has {installed} "
            "(set PIPER_VOICE to use another Piper voice) and the espeak-ng voices "
            "(local:espeak-<language>)"
        )
    options = PiperTTSOptions(voice_speed=config.voice_speed, pitch=VOICE_PITCH[config.voice_pitch])
    piper = PiperTTS(engines.piper, options)
    # Speak each clause as soon as it is complete instead of each sentence.
    return tts.StreamAdapter(tts=piper, sentence_tokenizer=chunker)


def build_tts(
    config: AgentConfig, engines: Engines, credentials: ProviderCredentials | None = None
) -> tts.TTS:
    """The agent's voice: Piper for `local:` voices, else the cloud voice with Piper behind."""
    local = build_local_tts(config, engines)
    provider = cloud.tts_provider(config.voice_id)
    if provider == "local":
        return local
    key = _credentials(engines, credentials).key(provider)
    if not key:
        fallback = local_voice_for(config, engines)
        cloud.missing_key("voice", provider, repr(config.voice_id), f"the voice {fallback}")
        return local
    primary = cloud.cloud_tts(config, key, engines.settings.cloud)
    return cloud.fallback_tts(primary, local, engines.settings.cloud)


def build_llm(
    config: AgentConfig,
    settings: EngineSettings,
    credentials: ProviderCredentials | None = None,
    *,
    streams: int | None = None,
) -> llm.LLM:
    """The embedded model for `llm_model` "local", else an OpenAI-compatible endpoint (the
    agent's `llm_base_url` or OpenAI) with the embedded model behind it. Only `settings` is
    needed (no local speech engine): the text chat builds it too.

    An agent's own `llm_base_url` is a URL its company chose: its connections go through the
    egress policy, and it gets the agent's or company's OpenAI key, never the deployment's
    (which goes only to the deployment's configured OpenAI URL).

    `streams`: how many replies it may stream at once (a call needs few; the text chat shares
    one model among an agent's conversations)."""

    def client(
        base_url: str, model: str, api_key: str | None, egress: EgressPolicy | None = None
    ) -> llm.LLM:
        return build_openai_compatible_llm(
            base_url=base_url,
            model=model,
            temperature=config.temperature,
            max_tokens=config.max_completion_tokens,
            api_key=api_key,
            egress=egress,
            streams=streams,
        )

    local = client(settings.llm_base_url, cloud.LOCAL_LLM, settings.llm_api_key)
    is_local = cloud.llm_provider(config) == "local"
    if config.llm_base_url:
        own_key = None if is_local else (credentials or ProviderCredentials()).openai
        primary = client(config.llm_base_url, config.llm_model, own_key, egress=settings.egress)
        if is_local:  # an agent's own server for its model, no key and no fallback
            return primary
    elif is_local:
        return local
    else:
        key = (credentials or ProviderCredentials()).or_else(settings.credentials).openai
        if not key:
            cloud.missing_key("LLM", "openai", repr(config.llm_model), "the embedded model")
            return local
        primary = client(settings.cloud.openai_base_url, config.llm_model, key)
    return cloud.fallback_llm(primary, local, settings.cloud)


def build_pipeline(
    config: AgentConfig, engines: Engines, credentials: ProviderCredentials | None = None
) -> Pipeline:
    """Per-call providers for `config`, around the process's loaded engines; `credentials` are
    the agent's provider keys (the deployment's are the fallback)."""
    # the turn ends once the words before its silence are transcribed
    gate = TranscriptGate()
    return Pipeline(
        vad=GatedVAD(build_vad(config, engines), gate),
        stt=build_stt(config, engines, credentials, gate),
        llm=build_llm(config, engines.settings, credentials),
        tts=build_tts(config, engines, credentials),
    )
