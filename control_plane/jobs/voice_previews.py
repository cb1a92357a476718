"""Voice previews, off the request and durable: a preview waits in the store as `pending` until
a job claims it (for a lease: a job that dies, or a control plane restarted, loses nothing;
another claims it when the lease ends), speaks its text with its voice (a local voice here,
an ElevenLabs voice with the agent's key) and stores the MP3 with the job `completed`, or the
reason with it `failed`. Any number of control planes run it from one store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from pipelines.cloud import LOCAL_VOICE_PREFIX
from shared.audio import encode_pcm, parse_output_format

from ..providers import (
    KeyRejectedError,
    ProviderEndpoints,
    ProviderUnavailableError,
    elevenlabs_speech,
)
from ..security import ProviderKeyVault
from ..speech import SpeechEngines, UnknownVoiceError
from ..store.models import VoicePreviewJob, utcnow
from ..store.outage import OutageLog
from ..store.repositories import ProviderKeyRepository, VoicePreviewRepository
from ..store.repositories.voices import COMPLETED, FAILED, PENDING
from .polling import PollingLoop

logger = logging.getLogger("control_plane.jobs.voice_previews")

MAX_ATTEMPTS = 3
"""Tries of a preview whose provider could not be reached before it is `failed`."""
PREVIEW_FORMAT = "mp3_44100_128"
PREVIEW_MODEL = "eleven_multilingual_v2"


@dataclass(frozen=True)
class PreviewSettings:
    endpoints: ProviderEndpoints
    poll_interval: float = 2.0
    lease: float = 120.0
    deployment_key: str | None = None
    """The deployment's ElevenLabs key, for companies that connected none."""


class PreviewMaker:
    def __init__(
        self,
        sessions: async_sessionmaker,
        vault: Callable[[], ProviderKeyVault],
        engines: Callable[[], SpeechEngines],
        settings: PreviewSettings,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.engines = engines
        self.settings = settings
        self.loop = PollingLoop(OutageLog(logger, "voice previews"), settings.poll_interval)
        self.wake = self.loop.wake
        """Set by the API when it adds work: it starts without waiting for the poll."""

    async def run(self) -> None:
        """Work until cancelled."""
        await self.loop.run(self.run_due)

    async def run_due(self) -> int:
        async with self.sessions() as session, session.begin():
            claimed = await VoicePreviewRepository(session).claim_due(
                now=utcnow(), lease=timedelta(seconds=self.settings.lease), limit=4
            )
        for job_id, until in claimed:
            await self.make(job_id, until)
        return len(claimed)

    async def make(self, job_id: int, claimed_until: datetime) -> None:
        async with self.sessions() as session:
            job = await VoicePreviewRepository(session).get_for_work(job_id)
            if job is None:
                return
            sealed = await ProviderKeyRepository(session).for_agent(
                company_id=job.company_id, agent_id=job.agent_id
            )
        try:
            audio = await self._speak(job, sealed)
        except _Failed as exc:
            retry = exc.retry and job.attempts < MAX_ATTEMPTS
            values: dict[str, object] = (
                {
                    "status": PENDING,
                    "error": exc.reason,
                    "locked_until": utcnow() + timedelta(seconds=10 * job.attempts),
                }
                if retry
                else {"status": FAILED, "error": exc.reason, "finished_at": utcnow()}
            )
            logger.warning("voice preview %s: %s", job_id, exc.reason)
        else:
            values = {"status": COMPLETED, "audio": audio, "error": None, "finished_at": utcnow()}
        async with self.sessions() as session, session.begin():
            stored = await VoicePreviewRepository(session).finish(
                job_id=job_id, claimed_until=claimed_until, values=values
            )
        if not stored:
            logger.warning("voice preview %s: claim lost; another job finishes it", job_id)

    async def _speak(self, job: VoicePreviewJob, sealed: dict[str, str]) -> bytes:
        fmt = parse_output_format(PREVIEW_FORMAT)
        if job.voice_id.startswith(LOCAL_VOICE_PREFIX):
            try:
                pcm, rate = await self.engines().synthesize(
                    job.voice_id, job.text, voice_speed=100.0
                )
            except UnknownVoiceError:
                raise _Failed(f"local voice {job.voice_id!r} is not installed") from None
            return await asyncio.to_thread(encode_pcm, pcm, rate, fmt)
        key = self.settings.deployment_key
        if "elevenlabs" in sealed:
            try:
                key = self.vault().decrypt(sealed["elevenlabs"])
            except ValueError as exc:
                raise _Failed(f"{exc}; connect the ElevenLabs key again") from None
        if not key:
            raise _Failed(
                f"voice {job.voice_id!r} is an ElevenLabs voice and no ElevenLabs key is "
                "connected (POST /integrations/elevenlabs)"
            )
        try:
            samples, rate = await elevenlabs_speech(
                self.settings.endpoints,
                key,
                voice_id=job.voice_id,
                text=job.text,
                model_id=PREVIEW_MODEL,
                language=None,
                stability=0.5,
                similarity_boost=0.75,
                style=0.0,
                speed=1.0,
            )
        except KeyRejectedError as exc:
            raise _Failed(f"ElevenLabs refused the key: {exc}") from None
        except LookupError as exc:
            raise _Failed(f"ElevenLabs does not know the voice: {exc}") from None
        except ProviderUnavailableError as exc:
            raise _Failed(f"ElevenLabs could not be reached: {exc}", retry=True) from None
        return await asyncio.to_thread(encode_pcm, samples, rate, fmt)


class _Failed(Exception):
    def __init__(self, reason: str, *, retry: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:1000]
        self.retry = retry
