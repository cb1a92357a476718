"""Every change this project makes to livekit's private behaviour, in one place.

Each patch reaches into internals that livekit may change in any release, so each names the
package version it was written for (`WrittenFor`) and is applied only on that version: on
another it is skipped with a warning and the call runs on livekit's own behaviour, slower but
correct. `tests/unit/test_livekit_patches.py` fails when a pinned version moves, so an upgrade
re-reads each patch and its test before moving the pin.

- `ffi_routing`: livekit's audio events handed to the one call they belong to (`livekit`).
- `speaking_rate`: the transcript synchroniser's speaking-rate estimate in one numpy pass.
- `playout`: a pause drops the room output's queued audio at once.
- `silero`: one Silero ONNX session per process, shared by every call's VAD, scoring on the
  call's own thread.
- `segmented_stt`: a batch recogniser's segment starts reported as they are cut.
- `resume`: a reply paused by a backchannel resumes as soon as it is known to be one.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from importlib.metadata import version

logger = logging.getLogger("livekit_patches")


@functools.cache
def _installed(package: str) -> str:
    # Read once per process: patches are checked as each call is set up.
    return version(package)


@dataclass(frozen=True)
class WrittenFor:
    """The distribution and version a patch was written against."""

    package: str
    version: str

    def installed(self) -> str:
        return _installed(self.package)

    def applies(self, patch: str) -> bool:
        """Whether `patch` may be applied here; a warning says why not."""
        installed = self.installed()
        if installed == self.version:
            return True
        logger.warning(
            "%s %s is installed, %s was written for %s: not applied",
            self.package,
            installed,
            patch,
            self.version,
        )
        return False
