"""A simulated caller: a real LiveKit participant that speaks, listens and measures.

The caller publishes a continuous microphone track (silence between utterances, like a real
phone), records the agent's audio track with arrival times, and finds the agent's speech in it.
Voice-to-voice latency is measured entirely on the caller's side: from the moment the last
speech sample of an utterance was handed to WebRTC to the arrival of the first audible agent
frame after it.

What a call is made of and what it observed is in `script`, the microphone and the listener in
`media`, the worker's telemetry as received in `inbox`, and holding the call in `call`.
"""

from __future__ import annotations

from .call import AGENT_LEAVE_TIMEOUT, join_conversation, place_call
from .inbox import MetricsInbox
from .media import AGENT_LEVEL_DBFS, BACKOFF_DB, STOP_QUIET, AgentListener, Microphone, backed_off
from .script import (
    AgentSpeech,
    CallReport,
    CallScript,
    Interjection,
    LiveKitEndpoint,
    TurnResult,
    Utterance,
)

__all__ = [
    "AGENT_LEAVE_TIMEOUT",
    "AGENT_LEVEL_DBFS",
    "BACKOFF_DB",
    "STOP_QUIET",
    "AgentListener",
    "AgentSpeech",
    "CallReport",
    "CallScript",
    "Interjection",
    "LiveKitEndpoint",
    "MetricsInbox",
    "Microphone",
    "TurnResult",
    "Utterance",
    "backed_off",
    "join_conversation",
    "place_call",
]
