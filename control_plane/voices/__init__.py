"""The voice catalog: local Piper voices installed here plus a curated ElevenLabs list.

The merged listing is `control_plane.voices.catalog.catalog()`; the function is not re-exported
here so that `control_plane.voices.catalog` always names the module.
"""

from .catalog import (
    COLLECTIONS,
    Collection,
    Voice,
    curated_elevenlabs_voices,
    installed_local_voices,
    local_voices,
    select_voices,
)

__all__ = [
    "COLLECTIONS",
    "Collection",
    "Voice",
    "curated_elevenlabs_voices",
    "installed_local_voices",
    "local_voices",
    "select_voices",
]
