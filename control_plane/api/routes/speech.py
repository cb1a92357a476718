"""Text-to-speech and speech-to-text endpoints."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import (
    APIRouter,
    FastAPI,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)

from agent.contract import LOCAL_OR_ELEVENLABS_VOICE_PATTERN, Language, OutputFormatName
from pipelines.cloud import LOCAL_VOICE_PREFIX
from shared.audio import (
    AudioDecodeError,
    AudioTooLongError,
    decode_to_mono,
    encode_pcm,
    parse_output_format,
)

from ...providers import KeyRejectedError, ProviderUnavailableError, elevenlabs_speech
from ...schemas.speech import TranscriptionResponse, TTSRequest
from ...schemas.voice_agents import DEFAULT_MODEL_ID
from ...speech import SpeechEngines, UnknownVoiceError
from ..deps import CompanyDep, SessionDep, SettingsDep, VaultDep
from ..errors import error_responses
from ..guard import GuardedRoute
from .integrations import endpoints, provider_key

router = APIRouter(prefix="/voice-agents", tags=["speech"], route_class=GuardedRoute)

STT_RATE = 16000


def speech_engines(request: Request) -> SpeechEngines:
    return speech_engines_of(request.app)


def speech_engines_of(app: FastAPI) -> SpeechEngines:
    """The app's local speech engines (loaded on first use)."""
    engines = getattr(app.state, "speech", None)
    if engines is None:
        engines = app.state.speech = SpeechEngines(app.state.settings)
    return engines


@router.post(
    "/elevenlabs/voices/{voiceId}/tts",
    response_class=Response,
    responses={
        200: {
            "description": "The audio, in the requested `output_format`",
            "content": {
                "audio/mpeg": {}, "audio/pcm": {}, "audio/basic": {},
                "audio/x-alaw-basic": {}, "audio/ogg": {},
            },
        },
        **error_responses(400, 401, 404, 409, 429, 502),
    },
)  # fmt: skip
async def text_to_speech(
    voiceId: Annotated[  # noqa: N803 - the documented path parameter name
        str,
        Path(
            pattern=LOCAL_OR_ELEVENLABS_VOICE_PATTERN,
            max_length=200,
            description="`local:...` or an ElevenLabs voice id",
        ),
    ],
    body: TTSRequest,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    vault: VaultDep,
    company_id: CompanyDep,
    output_format: Annotated[
        OutputFormatName | None,  # type: ignore[valid-type]
        Query(description="Overrides the body's output_format"),
    ] = None,
) -> Response:
    """Speak `text` with the voice. Local voices (`local:...`) synthesise on this server and
    honour `voice_speed`; ElevenLabs voices use the company's ElevenLabs key and honour
    `model_id`, `language_code`, stability, similarity, style and speed."""
    if len(body.text) > settings.tts_max_characters:
        raise HTTPException(400, f"text: at most {settings.tts_max_characters} characters")
    fmt = parse_output_format(output_format or body.output_format or "mp3_44100_128")
    if not voiceId.startswith(LOCAL_VOICE_PREFIX):
        key = await provider_key(session, settings, vault, company_id, "elevenlabs")
        if key is None:
            raise HTTPException(
                409,
                f"voice {voiceId!r} is an ElevenLabs voice and this company has no ElevenLabs "
                "API key connected (POST /integrations/elevenlabs); or use a local voice "
                "(GET /voice-agents/english lists them)",
            )
        pcm, rate = await _elevenlabs(voiceId, body, key, settings)
        return Response(content=encode_pcm(pcm, rate, fmt), media_type=fmt.media_type)
    engines = speech_engines(request)
    try:
        pcm, rate = await engines.synthesize(
            voiceId, body.text, voice_speed=body.voice_speed or 100.0
        )
    except UnknownVoiceError:
        raise HTTPException(
            404,
            f"local voice {voiceId!r} is not installed; installed: "
            + ", ".join(engines.local_voice_ids()),
        ) from None
    audio = encode_pcm(pcm, rate, fmt)
    return Response(content=audio, media_type=fmt.media_type)


async def _elevenlabs(voice_id: str, body: TTSRequest, key: str, settings) -> tuple:
    try:
        return await elevenlabs_speech(
            endpoints(settings),
            key,
            voice_id=voice_id,
            text=body.text,
            model_id=body.model_id or DEFAULT_MODEL_ID,
            language=body.language_code,
            stability=body.voice_stability if body.voice_stability is not None else 0.5,
            similarity_boost=(
                body.voice_similarity_boost if body.voice_similarity_boost is not None else 0.75
            ),
            style=body.voice_style or 0.0,
            speed=(body.voice_speed or 100.0) / 100,
        )
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except KeyRejectedError as exc:
        raise HTTPException(
            400, f"invalid_key: {exc}; reconnect the ElevenLabs integration"
        ) from None
    except ProviderUnavailableError as exc:
        raise HTTPException(502, str(exc)) from None


@router.post("/stt", responses=error_responses(400, 401, 413, 429))
async def speech_to_text(
    request: Request,
    settings: SettingsDep,
    _company_id: CompanyDep,
    file: Annotated[UploadFile, File(description="wav, mp3, ogg/opus, webm, m4a, flac...")],
    language: Annotated[
        Language | None,
        Form(
            description="The speech's language (`en`, `ar`, `fr-FR`...); absent: detected "
            "(the multilingual model listens and says which it heard)"
        ),
    ] = None,
) -> TranscriptionResponse:
    """Transcribe an audio file of any common container and codec. English goes through the
    English model; other languages, and detection, through the multilingual one."""
    if file.size is not None and file.size > settings.stt_max_upload_bytes:
        raise HTTPException(413, f"file larger than {settings.stt_max_upload_bytes} bytes")
    data = await file.read(settings.stt_max_upload_bytes + 1)
    if len(data) > settings.stt_max_upload_bytes:
        raise HTTPException(413, f"file larger than {settings.stt_max_upload_bytes} bytes")
    try:
        # Off the event loop, and stopped at the duration limit while decoding.
        audio = await asyncio.to_thread(
            decode_to_mono, data, STT_RATE, max_seconds=settings.stt_max_seconds
        )
    except AudioTooLongError as exc:
        raise HTTPException(413, str(exc)) from None
    except AudioDecodeError as exc:
        raise HTTPException(400, f"file: {exc}") from None
    text, heard = await speech_engines(request).transcribe(audio, language=language)
    return TranscriptionResponse(text=text, language=heard)
