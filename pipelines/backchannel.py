"""Backchannels: what a caller says over the agent to show it is listening, not to take the turn.

"mm-hmm", "yeah", "okay", a cough transcribed as "(coughs)": while the agent is speaking, a
transcript made only of these is dropped, so the agent's voice (paused when the sound began)
resumes instead of the reply being cut off and answered.
"""

from __future__ import annotations

import re

BACKCHANNELS: dict[str, frozenset[str]] = {
    "en": frozenset({
        "mm", "mmm", "mhm", "mm-hmm", "mmhmm", "hmm", "hm", "uh-huh", "uhhuh", "uh", "huh", "um",
        "ah", "oh", "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright", "aha",
        "ah-ha", "i", "see", "got", "it", "cool", "great",
    }),
    "ar": frozenset({
        "نعم", "اه", "آه", "ايوه", "ايوا", "أيوه", "طيب", "تمام", "صح", "اها", "أها", "ماشي",
        "اوكي",
    }),
    "de": frozenset({"mhm", "hm", "ja", "jaja", "genau", "okay", "ok", "achso", "aha", "klar"}),
    "es": frozenset({"mhm", "sí", "si", "vale", "claro", "ajá", "aja", "ok", "okay", "ya"}),
    "fr": frozenset({"mhm", "hm", "oui", "ouais", "d'accord", "ok", "okay", "ah", "voilà"}),
}  # fmt: skip
FILLERS = frozenset({"and", "the", "a", "so", "then", "but", "well", "er", "erm", "like"})
"""What speech recognition makes of a murmur or a cough ("and the", "so"): no barge-in
consists of these alone."""
MAX_WORDS = 3
_NOISE = re.compile(r"[\(\[\*][^\)\]\*]*[\)\]\*]")
"""Sound annotations STT models write for non-speech: `(coughs)`, `[laughter]`, `*cough*`."""
_PUNCT = re.compile(r"[^\w\s'-]+")


def is_backchannel(text: str, language: str = "en") -> bool:
    """Whether `text` only acknowledges (or is no speech at all)."""
    words = _PUNCT.sub(" ", _NOISE.sub(" ", text.lower())).split()
    if not words:
        return True
    if len({w.strip("-'") for w in words}) > MAX_WORDS:
        return False  # the same sound again and again ("uh- uh- uh- uh-") is still one
    known = (
        BACKCHANNELS.get(language.split("-")[0].lower(), frozenset()) | BACKCHANNELS["en"] | FILLERS
    )
    return all(w.strip("-'") in known or _joined_sounds(w.strip("-'"), known) for w in words)


def _joined_sounds(word: str, known: frozenset[str]) -> bool:
    """A word Whisper joined from sounds ("mm-hmm-huh"), the last maybe cut short ("mm-h")."""
    parts = word.split("-")
    return len(parts) > 1 and parts[0] in known and all(p in known or len(p) <= 1 for p in parts)
