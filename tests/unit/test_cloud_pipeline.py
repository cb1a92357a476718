"""Which providers a call gets: cloud ones chosen by the agent's config and keys, always with
the local engine behind them, and the local engine alone without a key."""

from __future__ import annotations

import dataclasses

import pytest
from livekit.agents import llm as lk_llm
from livekit.agents import stt as lk_stt
from livekit.agents import tts as lk_tts
from livekit.plugins import elevenlabs as lk_elevenlabs
from livekit.plugins import openai as lk_openai

from agent.contract import AgentConfig
from pipelines.cloud import tts_provider
from pipelines.factory import Engines, build_llm, build_stt, build_tts
from pipelines.http import tls_context
from pipelines.settings import CloudSettings, ProviderCredentials
from pipelines.stt import WhisperSTT
from pipelines.tts import PiperTTS
from pipelines.tts.espeak import EspeakTTS

ELEVEN_VOICE = "EXAVITQu4vr4xnSDxMaL"
KEYS = ProviderCredentials(elevenlabs="sk_eleven_secret_1234", openai="sk-openai-secret-9876")


@pytest.fixture
def cloud_engines(engines) -> Engines:
    """The loaded engines with cloud endpoints on loopback (nothing is contacted here)."""
    settings = dataclasses.replace(
        engines.settings,
        cloud=CloudSettings(
            elevenlabs_base_url="http://127.0.0.1:9/v1",
            openai_base_url="http://127.0.0.1:9/oai/v1",
            max_retry=1,
            tts_max_retry=1,
        ),
    )
    clone = object.__new__(Engines)
    clone.__dict__.update(engines.__dict__, settings=settings)
    return clone


def test_voice_ids_choose_the_tts_provider():
    assert tts_provider("local:en_US-joe-medium") == "local"
    assert tts_provider("openai:alloy") == "openai"
    assert tts_provider(ELEVEN_VOICE) == "elevenlabs"


def test_elevenlabs_voice_with_a_key_streams_from_elevenlabs_with_a_local_voice_behind(
    cloud_engines,
):
    config = AgentConfig(
        voice_id=ELEVEN_VOICE,
        model_id="eleven_flash_v2_5",
        language="ar",
        voice_stability=0.3,
        voice_similarity_boost=0.9,
        voice_style=0.2,
        voice_speed=150,
        output_format="mp3_44100_128",
    )
    tts = build_tts(config, cloud_engines, KEYS)
    assert isinstance(tts, lk_tts.FallbackAdapter)
    eleven, local = tts._tts_instances
    assert isinstance(eleven, lk_elevenlabs.TTS)
    # an Arabic agent's local voice speaks Arabic (espeak-ng), not the English Piper voice
    assert isinstance(local._wrapped_tts, EspeakTTS)
    assert local._wrapped_tts.voice.language == "ar"
    english = build_tts(config.model_copy(update={"language": "en-GB"}), cloud_engines, KEYS)
    assert isinstance(english._tts_instances[1]._wrapped_tts, PiperTTS)
    opts = eleven._opts
    assert opts.base_url == "http://127.0.0.1:9/v1"
    assert opts.api_key == "sk_eleven_secret_1234"
    assert (opts.voice_id, opts.model, opts.language) == (ELEVEN_VOICE, "eleven_flash_v2_5", "ar")
    # Calls take raw PCM whatever the agent's download format; speed clamps to ElevenLabs' range.
    assert opts.encoding == "pcm_24000"
    vs = opts.voice_settings
    assert (vs.stability, vs.similarity_boost, vs.style, vs.speed) == (0.3, 0.9, 0.2, 1.2)
    assert tts._max_retry_per_tts == 1
    assert eleven.capabilities.streaming  # the input-streaming websocket


def test_openai_voice_uses_openai_speech(cloud_engines):
    tts = build_tts(AgentConfig(voice_id="openai:nova", voice_speed=80), cloud_engines, KEYS)
    openai_tts, _local = tts._tts_instances
    assert isinstance(openai_tts, lk_openai.TTS)
    assert openai_tts._opts.voice == "nova"
    assert openai_tts._opts.model == "gpt-4o-mini-tts"
    assert openai_tts._opts.speed == 0.8
    assert str(openai_tts._client.base_url).rstrip("/") == "http://127.0.0.1:9/oai/v1"


def test_without_any_key_the_call_uses_the_local_engines(cloud_engines, caplog):
    config = AgentConfig(voice_id=ELEVEN_VOICE, stt_provider="openai", llm_model="gpt-4o-mini")
    with caplog.at_level("WARNING", logger="pipelines.cloud"):
        tts = build_tts(config, cloud_engines, ProviderCredentials())
        stt = build_stt(config, cloud_engines, None)
        llm = build_llm(config, cloud_engines.settings, None)
    assert isinstance(tts._wrapped_tts, PiperTTS)
    assert isinstance(stt.wrapped_stt, WhisperSTT)
    assert llm.model == "local"
    assert caplog.text.count("needs a") == 3
    assert "sk_" not in caplog.text


@pytest.mark.parametrize("provider", ["elevenlabs", "openai"])
def test_cloud_stt_is_segmented_by_the_vad_with_whisper_behind(cloud_engines, provider):
    config = AgentConfig(stt_provider=provider, language="en-GB")
    stt = build_stt(config, cloud_engines, KEYS)
    assert isinstance(stt, lk_stt.FallbackAdapter)
    cloud, local = stt._stt_instances
    assert isinstance(cloud, lk_stt.StreamAdapter)  # batch recognition per VAD segment
    assert isinstance(local.wrapped_stt, WhisperSTT)
    recognizer = cloud.wrapped_stt
    if provider == "elevenlabs":
        assert isinstance(recognizer, lk_elevenlabs.STT)
        assert recognizer._opts.language_code == "en"
    else:
        assert isinstance(recognizer, lk_openai.STT)
        assert recognizer._opts.languages == ["en"]
        assert recognizer._opts.model == "gpt-4o-mini-transcribe"


def test_openai_model_uses_openai_with_the_embedded_model_behind(cloud_engines):
    config = AgentConfig(llm_model="gpt-4o-mini", temperature=0.1)
    llm = build_llm(config, cloud_engines.settings, KEYS)
    assert isinstance(llm, lk_llm.FallbackAdapter)
    primary, local = llm._llm_instances
    assert primary.model == "gpt-4o-mini"
    assert primary._opts.temperature == 0.1
    assert str(primary._client.base_url).rstrip("/") == "http://127.0.0.1:9/oai/v1"
    assert primary._client.api_key == "sk-openai-secret-9876"
    assert local.model == "local"


def test_calls_share_one_tls_context(cloud_engines):
    """Every OpenAI-protocol client of every call uses the process's TLS context: a context of
    its own per client cost ~40 ms and ~1 MB (the CA bundle loaded again), 2-3 times a call."""
    clients = []
    for _ in range(2):  # two calls
        llm = build_llm(AgentConfig(llm_model="gpt-4o-mini"), cloud_engines.settings, KEYS)
        stt = build_stt(AgentConfig(stt_provider="openai"), cloud_engines, KEYS)
        tts = build_tts(AgentConfig(voice_id="openai:nova"), cloud_engines, KEYS)
        clients += [instance._client for instance in llm._llm_instances]  # cloud and embedded
        clients.append(stt._stt_instances[0].wrapped_stt._client)
        clients.append(tts._tts_instances[0]._client)
    contexts = {id(c._client._transport._pool._ssl_context) for c in clients}
    assert len(clients) == 8 and contexts == {id(tls_context())}


def test_deployment_keys_fill_in_for_missing_company_keys(cloud_engines):
    settings = dataclasses.replace(
        cloud_engines.settings, credentials=ProviderCredentials(openai="sk-deployment-0000")
    )
    cloud_engines.settings = settings
    config = AgentConfig(llm_model="gpt-4o-mini")
    assert build_llm(config, cloud_engines.settings)._llm_instances[0]._client.api_key == (
        "sk-deployment-0000"
    )
    assert build_llm(config, cloud_engines.settings, KEYS)._llm_instances[0]._client.api_key == (
        "sk-openai-secret-9876"
    )


def test_credentials_never_show_in_their_repr():
    assert "secret" not in repr(KEYS)
