"""The fake ElevenLabs' voice-making routes over HTTP: voice design (previews from a description,
then a voice from a preview), instant voice cloning and voice deletion.

A designed voice's previews are spoken by espeak-ng in a manner read from the description
(gender, accent, a deep or a high voice), each preview in a different espeak-ng variant; the
voice made from one keeps that manner. A clone speaks with the gender its labels give or, without
one, the gender its clips' pitch suggests. New voices join the key's own voices, so the voice
lists, text to speech and the websockets find them like any other.

Fault names: ``voice_design`` (``POST /v1/text-to-voice/design`` and the older
``/v1/text-to-voice/create-previews``), ``voice_create`` (``POST /v1/text-to-voice`` and the older
``/v1/text-to-voice/create-voice-from-preview``), ``voice_clone`` (``POST /v1/voices/add``) and
``voice_delete`` (``DELETE /v1/voices/{voice_id}``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
from aiohttp import web

from fake_providers.common import ESPEAK_RATE
from fake_providers.elevenlabs.core import ElevenLabsCore, _Preview
from fake_providers.elevenlabs.protocol import _validation_error, error_body
from fake_providers.elevenlabs.voices import _LABEL_FIELDS, _voice_id_for, _voice_json
from shared.audio import (
    AudioDecodeError,
    AudioFormatError,
    decode_to_mono,
    encode_pcm,
    parse_output_format,
)

DESIGN_MODELS = ("eleven_multilingual_ttv_v2", "eleven_ttv_v3")
DESIGN_DEFAULT_FORMAT = "mp3_44100_192"
DESCRIPTION_CHARS = (20, 1000)
PREVIEW_TEXT_CHARS = (100, 1000)
PREVIEWS_PER_DESIGN = 3
CLONE_RATE = 16000
CLIP_PITCH_SECONDS = 30
"""A clone's gender is heard from at most this much of its clips."""
AUTO_PREVIEW_TEXT = (
    "Hello there. This is how I sound when I read a short passage aloud, so that you can "
    "hear my tone, my pace and the way I say ordinary words."
)

# espeak-ng variants for the three previews of each kind of voice (all installed with espeak-ng).
_VARIANTS = {
    ("male", "normal"): ("m3", "m5", "m7"),
    ("male", "deep"): ("m1", "m6", "m2"),
    ("male", "high"): ("m4", "m7", "m5"),
    ("female", "normal"): ("f3", "f4", "f5"),
    ("female", "deep"): ("f1", "f2", "f4"),
    ("female", "high"): ("f5", "f3", "f4"),
    ("neutral", "normal"): ("f2", "m4", "f4"),
    ("neutral", "deep"): ("m4", "f1", "m2"),
    ("neutral", "high"): ("f2", "f5", "m4"),
}
_WORDS = re.compile(r"[a-z]+")
_FEMALE = {"female", "woman", "women", "girl", "lady", "feminine", "she", "her", "grandmother"}
_MALE = {"male", "man", "men", "boy", "guy", "masculine", "he", "his", "grandfather"}
_NEUTRAL = {"neutral", "androgynous", "nonbinary", "robot", "robotic"}
_DEEP = {"deep", "low", "gravelly", "raspy", "husky", "booming", "baritone", "bass", "gruff"}
_HIGH = {"high", "squeaky", "shrill", "bright", "childlike", "soprano", "tiny"}
_ACCENTS = ("british", "american", "australian", "irish", "scottish", "indian")
_AGES = {"young": "young", "old": "old", "elderly": "old", "middle": "middle_aged"}


def _invalid(
    field_name: str, kind: str, message: str, ctx: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The FastAPI body ElevenLabs answers 422 with, for one field of the request body."""
    entry: dict[str, Any] = {"type": kind, "loc": ["body", field_name], "msg": message}
    if ctx:
        entry["ctx"] = dict(ctx)
    return {"detail": [entry]}


def _length_error(field_name: str, value: str, bounds: tuple[int, int]) -> dict | None:
    """A 422 body when `value` is shorter or longer than `bounds` (characters), else None."""
    low, high = bounds
    if len(value) < low:
        message = f"String should have at least {low} characters"
        return _invalid(field_name, "string_too_short", message, {"min_length": low})
    if len(value) > high:
        message = f"String should have at most {high} characters"
        return _invalid(field_name, "string_too_long", message, {"max_length": high})
    return None


def described_manner(description: str) -> dict[str, Any]:
    """Gender, accent, age and pitch (``normal``, ``deep``, ``high``) read from a voice
    description's words; gender is ``neutral`` when the description names none."""
    words = set(_WORDS.findall(description.lower()))
    if words & _FEMALE:
        gender = "female"
    elif words & _MALE:
        gender = "male"
    else:
        gender = "neutral"
    pitch = "deep" if words & _DEEP else "high" if words & _HIGH else "normal"
    accent = next((a for a in _ACCENTS if a in words), None)
    age = next((v for k, v in _AGES.items() if k in words), None)
    return {"gender": gender, "accent": accent, "age": age, "pitch": pitch}


def clip_gender(samples: np.ndarray, rate: int) -> str | None:
    """``female`` or ``male`` from the median pitch of a clip's voiced 40 ms frames (float
    samples in [-1, 1]); None when no frame is voiced."""
    frame = int(0.04 * rate)
    shortest, longest = rate // 400, rate // 70  # periods of 400 Hz .. 70 Hz
    pitches = []
    for start in range(0, len(samples) - frame, frame):
        x = samples[start : start + frame].astype(np.float64)
        x -= x.mean()
        if np.sqrt(np.mean(x * x)) < 0.02:
            continue
        ac = np.correlate(x, x, "full")[frame - 1 :]
        strength = ac[shortest:longest] / ac[0]
        best = int(np.argmax(strength))
        if strength[best] < 0.5:
            continue
        # the first lag nearly as strong as the best is the period (not a multiple of it)
        period = shortest + int(np.argmax(strength >= 0.9 * strength[best]))
        pitches.append(rate / period)
    if not pitches:
        return None
    return "female" if float(np.median(pitches)) > 150.0 else "male"


def _string_labels(raw: Any) -> dict[str, str] | None:
    """`raw` as labels (string keys and values), or None when it is not such a mapping."""
    if not isinstance(raw, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        return None
    return dict(raw)


def _with_labels(voice: dict[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """`voice` with request labels applied: the known ones as fields, the rest as labels; a
    ``language`` label is the voice's language."""
    entry = {**voice, **{k: v for k, v in labels.items() if k in _LABEL_FIELDS}}
    entry["labels"] = {k: v for k, v in labels.items() if k not in _LABEL_FIELDS}
    if language := labels.get("language"):
        entry["languages"] = [language]
    return entry


class VoiceMakingRoutes(ElevenLabsCore):
    """``POST /v1/text-to-voice/design``, ``POST /v1/text-to-voice``, ``POST /v1/voices/add``
    and ``DELETE /v1/voices/{voice_id}`` (plus the older design pair)."""

    preview_ttl_s: float = 24 * 3600.0
    """How long a preview's ``generated_voice_id`` can be made a voice."""

    # --- design -------------------------------------------------------------------------------

    async def _design(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        fields = body if isinstance(body, dict) else {}
        output_format = request.query.get("output_format", DESIGN_DEFAULT_FORMAT)
        summary = {
            "voice_description": str(fields.get("voice_description") or "")[:500],
            "text": str(fields.get("text") or "")[:500],
            "auto_generate_text": fields.get("auto_generate_text"),
            "model_id": fields.get("model_id"),
            "output_format": output_format,
        }
        record, _, key, failed = await self._gate(request, "voice_design", summary)
        if failed:
            return failed
        if not isinstance(body, dict):
            return self._fail(record, 400, error_body(400, "invalid_json", "Body must be JSON"))
        refused = self._design_error(body)
        if refused is not None:
            return self._fail(record, 422, refused)
        try:
            fmt = parse_output_format(output_format)
        except AudioFormatError:
            return self._fail(
                record, 422, _validation_error("output_format", "Input should be a valid format")
            )
        description = body["voice_description"]
        text = body.get("text") or AUTO_PREVIEW_TEXT
        previews = []
        for voice in self._preview_voices(key, description):
            pcm = await self._speech(text, voice)
            audio = await asyncio.to_thread(encode_pcm, pcm, ESPEAK_RATE, fmt)
            previews.append(
                {
                    "audio_base_64": base64.b64encode(audio).decode("ascii"),
                    "generated_voice_id": voice["voice_id"],
                    "media_type": fmt.media_type,
                    "duration_secs": round(pcm.size / ESPEAK_RATE, 3),
                    "language": "en",
                }
            )
        record.body["generated_voice_ids"] = [p["generated_voice_id"] for p in previews]
        return self._respond(record, 200, {"previews": previews, "text": text})

    @staticmethod
    def _design_error(body: Mapping[str, Any]) -> dict | None:
        """The 422 body for a design request ElevenLabs would refuse, else None."""
        description = body.get("voice_description")
        if description is None:
            return _validation_error("voice_description")
        if not isinstance(description, str):
            return _invalid("voice_description", "string_type", "Input should be a valid string")
        if too := _length_error("voice_description", description, DESCRIPTION_CHARS):
            return too
        model = body.get("model_id", DESIGN_MODELS[0])
        if model not in DESIGN_MODELS:
            expected = " or ".join(f"'{m}'" for m in DESIGN_MODELS)
            return _invalid("model_id", "enum", f"Input should be {expected}")
        text = body.get("text")
        auto = body.get("auto_generate_text", False) is True
        if text is None:
            if auto:
                return None
            return _invalid(
                "text", "value_error", "Provide a text, or set auto_generate_text to true."
            )
        if not isinstance(text, str):
            return _invalid("text", "string_type", "Input should be a valid string")
        if auto:
            return _invalid(
                "auto_generate_text",
                "value_error",
                "auto_generate_text must be false when a text is given.",
            )
        return _length_error("text", text, PREVIEW_TEXT_CHARS)

    def _preview_voices(self, key: str, description: str) -> list[dict[str, Any]]:
        """Three new previews of `description` for `key`, remembered for `preview_ttl_s`."""
        now = time.monotonic()
        for gid in [g for g, p in self._previews.items() if p.expires_at <= now]:
            del self._previews[gid]
        manner = described_manner(description)
        variants = _VARIANTS[(manner["gender"], manner["pitch"])]
        voices = []
        for variant in variants[:PREVIEWS_PER_DESIGN]:
            voice = {
                "voice_id": _voice_id_for(f"preview/{uuid.uuid4().hex}"),
                "name": "Voice preview",
                "category": "generated",
                "gender": manner["gender"],
                "accent": manner["accent"],
                "age": manner["age"],
                "description": description,
                "languages": ["en"],
                "espeak_variant": variant,
            }
            self._previews[voice["voice_id"]] = _Preview(key, voice, now + self.preview_ttl_s)
            voices.append(voice)
        return voices

    # --- a voice from a preview ---------------------------------------------------------------

    async def _create_from_preview(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        fields = body if isinstance(body, dict) else {}
        summary = {
            "voice_name": fields.get("voice_name"),
            "generated_voice_id": fields.get("generated_voice_id"),
            "labels": fields.get("labels"),
        }
        record, _, key, failed = await self._gate(request, "voice_create", summary)
        if failed:
            return failed
        if not isinstance(body, dict):
            return self._fail(record, 400, error_body(400, "invalid_json", "Body must be JSON"))
        for name in ("voice_name", "voice_description", "generated_voice_id"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                return self._fail(record, 422, _validation_error(name))
        labels = _string_labels(body.get("labels") or {})
        if labels is None:
            message = "Input should be a valid dictionary of strings"
            return self._fail(record, 422, _invalid("labels", "dict_type", message))
        preview = self._previews.get(body["generated_voice_id"])
        if preview is None or preview.api_key != key or preview.expires_at <= time.monotonic():
            return self._fail(record, 404, self._preview_not_found(body["generated_voice_id"]))
        voice = {
            **preview.voice,
            "voice_id": _voice_id_for(f"generated/{uuid.uuid4().hex}"),
            "name": body["voice_name"],
            "description": body["voice_description"],
        }
        added = self.add_own_voice(key, _with_labels(voice, labels))
        record.body["voice_id"] = added["voice_id"]
        return self._respond(record, 200, _voice_json(added, owned=True))

    @staticmethod
    def _preview_not_found(generated_voice_id: str) -> dict:
        return error_body(
            404,
            "generated_voice_not_found",
            f"A generated voice with the generated_voice_id {generated_voice_id} was not found. "
            "Design the voice again to get a new generated_voice_id.",
        )

    # --- instant voice cloning ----------------------------------------------------------------

    async def _clone(self, request: web.Request) -> web.Response:
        form: Any = None
        with contextlib.suppress(Exception):
            form = await request.post()
        form = form or {}
        uploads = [*form.getall("files", []), *form.getall("files[]", [])] if form else []
        clips = [self._upload(u) for u in uploads]
        summary = {
            "name": form.get("name"),
            "description": form.get("description"),
            "labels": form.get("labels"),
            "remove_background_noise": form.get("remove_background_noise"),
            "files": [{"filename": n, "content_type": t, "bytes": len(d)} for n, d, t in clips],
        }
        record, _, key, failed = await self._gate(request, "voice_clone", summary)
        if failed:
            return failed
        name = form.get("name")
        if not isinstance(name, str) or not name.strip():
            return self._fail(record, 422, _validation_error("name"))
        if not clips:
            return self._fail(record, 422, _validation_error("files"))
        labels = self._form_labels(form.get("labels"))
        if labels is None:
            message = "labels must be a JSON object of strings."
            return self._fail(record, 400, error_body(400, "invalid_labels", message))
        samples = []
        for filename, data, _ in clips:
            try:
                samples.append(await asyncio.to_thread(decode_to_mono, data, CLONE_RATE))
            except AudioDecodeError as exc:
                message = f"The file {filename} could not be read as audio ({exc})."
                return self._fail(record, 400, error_body(400, "invalid_audio", message))
        heard = np.concatenate(samples)[: CLIP_PITCH_SECONDS * CLONE_RATE]
        gender = labels.get("gender") or await asyncio.to_thread(clip_gender, heard, CLONE_RATE)
        voice = {
            "voice_id": _voice_id_for(f"cloned/{uuid.uuid4().hex}"),
            "name": name.strip(),
            "category": "cloned",
            "gender": gender,
            "description": form.get("description") or None,
            "languages": ["en"],
        }
        added = self.add_own_voice(key, _with_labels(voice, labels))
        record.body["voice_id"] = added["voice_id"]
        return self._respond(
            record, 200, {"voice_id": added["voice_id"], "requires_verification": False}
        )

    @staticmethod
    def _upload(value: Any) -> tuple[str, bytes, str]:
        """One uploaded part as (filename, bytes, content type)."""
        if hasattr(value, "file"):
            return (
                value.filename or "upload",
                value.file.read(),
                value.content_type or "application/octet-stream",
            )
        data = value.encode() if isinstance(value, str) else bytes(value)
        return "upload", data, "text/plain"

    @staticmethod
    def _form_labels(raw: Any) -> dict[str, str] | None:
        """A form's ``labels`` (a JSON object of strings; absent, empty or ``null``: none), or
        None when it is not one."""
        if raw is None or (isinstance(raw, str) and raw.strip() in ("", "null")):
            return {}
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else None
        except json.JSONDecodeError:
            return None
        return _string_labels(parsed)

    # --- deletion -----------------------------------------------------------------------------

    async def _delete_voice(self, request: web.Request) -> web.Response:
        voice_id = request.match_info["voice_id"]
        record, _, key, failed = await self._gate(request, "voice_delete", {"voice_id": voice_id})
        if failed:
            return failed
        if self.remove_own_voice(key, voice_id):
            return self._respond(record, 200, {"status": "ok"})
        if self._voice(key, voice_id) is not None:
            message = f"The voice {voice_id} is not in your voices and cannot be deleted."
            return self._fail(record, 400, error_body(400, "voice_not_deletable", message))
        return self._fail(record, 404, self._voice_not_found(voice_id))

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    async def _json_body(request: web.Request) -> Any:
        """The request's JSON body, or None when it is not JSON."""
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
