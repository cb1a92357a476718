"""Bring a paused reply back as soon as what paused it is known to be a backchannel.

livekit-agents pauses the agent's audio when the caller starts speaking over it, and resumes
it after a false interruption: `false_interruption_timeout` after the turn VAD ends the
caller's speech, which itself comes a hold (0.6 s) after the last sound. A caller's "yeah" over
the reply thus silenced the agent for ~2 s. The worker knows sooner: its STT node drops a
transcript that is only a backchannel (the segmenter closes segments after 0.15 s of
silence). `resume_now` then starts livekit's own false-interruption path at once, the way its
timer would: the reply resumes where it paused, with the agent's state restored.
"""

from __future__ import annotations

import logging

from livekit.agents import AgentSession

from . import WrittenFor

logger = logging.getLogger("livekit_patches.resume")

WRITTEN_FOR = WrittenFor("livekit-agents", "1.8.9")
"""The release whose `AgentActivity` false-interruption timer this module starts."""


def resume_now(session: AgentSession) -> bool:
    """Resume the session's paused reply now, as after a false interruption; False when no
    reply is paused (or on another livekit-agents release)."""
    activity = getattr(session, "_activity", None)
    if activity is None or getattr(activity, "_paused_speech", None) is None:
        return False
    if not WRITTEN_FOR.applies("resuming a reply paused by a backchannel"):
        return False
    activity._start_false_interruption_timer(0.0)
    return True
