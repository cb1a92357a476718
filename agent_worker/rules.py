"""A call's silence and duration rules: reprompt a silent caller, end silent and over-long calls.

After the agent's turn, `turn_detection.timeout` seconds of caller silence make the agent say
its reprompt ("Are you still there?"), once per silence; `end_call_on_silence` seconds of
silence (counted from the end of the agent's turn, the reprompt included) make it say its
farewell and end the call, as does reaching the agent's `max_duration`. Any caller speech
starts the count again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from livekit.agents import AgentSession
from livekit.agents.voice import AgentStateChangedEvent, UserStateChangedEvent

from agent.contract import AgentConfig

logger = logging.getLogger("agent_worker.rules")

DEFAULT_LINES: dict[str, dict[str, str]] = {
    "en": {"reprompt": "Are you still there?", "farewell": "Thank you for calling. Goodbye!"},
    "ar": {"reprompt": "هل ما زلت معي؟", "farewell": "شكراً لاتصالك. مع السلامة!"},
    "de": {
        "reprompt": "Sind Sie noch da?",
        "farewell": "Vielen Dank für Ihren Anruf. Auf Wiedersehen!",
    },
    "es": {"reprompt": "¿Sigue ahí?", "farewell": "Gracias por llamar. ¡Adiós!"},
    "fr": {"reprompt": "Vous êtes toujours là ?", "farewell": "Merci de votre appel. Au revoir !"},
    "it": {"reprompt": "È ancora in linea?", "farewell": "Grazie per la chiamata. Arrivederci!"},
    "pt": {"reprompt": "Ainda está aí?", "farewell": "Obrigado pela sua ligação. Até logo!"},
}


def line(config: AgentConfig, kind: str) -> str:
    """The agent's `reprompt` or `farewell`, else the default line in its language."""
    responses = config.custom_responses
    own = responses.reprompt if kind == "reprompt" else responses.farewell
    if own:
        return own
    language = config.language.split("-")[0].lower()
    return DEFAULT_LINES.get(language, DEFAULT_LINES["en"])[kind]


class CallRules:
    """Watches one session; calls `end_call(reason)` (`silence_timeout`, `max_duration`)."""

    def __init__(
        self,
        session: AgentSession,
        config: AgentConfig,
        end_call: Callable[[str], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.reprompt = line(config, "reprompt")
        self.timeout = config.turn_detection.timeout
        self.end_after = config.turn_detection.end_call_on_silence
        self.max_duration = config.max_duration_seconds
        self._end_call = end_call
        self._clock = clock
        self._started = clock()
        self._silent_since: float | None = None
        """Start of the caller's current silence (after an agent turn); None while it talks."""
        self._listening_since: float | None = None
        self._reprompted = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.session.on("agent_state_changed", self._on_agent_state)
        self.session.on("user_state_changed", self._on_user_state)
        self._task = asyncio.create_task(self._run(), name="call-rules")

    async def aclose(self) -> None:
        self.session.off("agent_state_changed", self._on_agent_state)
        self.session.off("user_state_changed", self._on_user_state)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        now = self._clock()
        if ev.new_state == "listening":
            self._listening_since = now
            if self._silent_since is None and self.session.user_state != "speaking":
                self._silent_since = now
        else:
            self._listening_since = None
        self._changed.set()

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if ev.new_state == "speaking":
            self._silent_since = None
            self._reprompted = False
        elif ev.old_state == "speaking" and self.session.agent_state == "listening":
            self._silent_since = self._listening_since = self._clock()
        self._changed.set()

    async def _run(self) -> None:
        try:
            await self._watch()
        except Exception:  # the call goes on without its rules rather than failing
            logger.exception("call rules stopped")

    async def _watch(self) -> None:
        while True:
            now = self._clock()
            deadlines = [self._started + self.max_duration]
            if now >= deadlines[0]:
                await self._end_call("max_duration")
                return
            if self._silent_since is not None and self._listening_since is not None:
                end_at = self._silent_since + self.end_after
                if now >= end_at:
                    await self._end_call("silence_timeout")
                    return
                deadlines.append(end_at)
                if not self._reprompted:
                    due = self._listening_since + self.timeout
                    if now >= due:
                        self._reprompted = True
                        logger.info(
                            "caller silent for %.1f s: reprompting", now - self._silent_since
                        )
                        self.session.say(self.reprompt)
                        continue
                    deadlines.append(due)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.0, min(deadlines) - now))
