"""The livekit patches and the versions they were written for.

Each patch reaches into livekit internals; its own unit test checks the behaviour it changes
(`test_ffi_routing`, `test_speaking_rate`, `test_playout`, `test_transcript_gate`,
`test_factory`'s shared Silero session). This module fails when the installed livekit moves
away from those versions (the pins in pyproject.toml), so an upgrade re-reads every patch
before moving a pin, and checks that a patch on another version stands aside.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from livekit_patches import (
    WrittenFor,
    ffi_routing,
    playout,
    resume,
    segmented_stt,
    silero,
    speaking_rate,
)

PATCHES = [ffi_routing, playout, resume, segmented_stt, silero, speaking_rate]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pinned() -> dict[str, str]:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return dict(d.split("==", 1) for d in dependencies if "==" in d)


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.__name__)
def test_each_patch_was_written_for_the_pinned_and_installed_release(patch) -> None:
    written = patch.WRITTEN_FOR
    assert pinned()[written.package] == written.version, (
        f"{patch.__name__} was written for {written.package} {written.version}: re-read it "
        "and its test against the new release, then update WRITTEN_FOR"
    )
    assert written.installed() == written.version


def test_a_patch_stands_aside_on_another_release(caplog) -> None:
    other = WrittenFor("livekit-agents", "0.0.1")
    with caplog.at_level(logging.WARNING, logger="livekit_patches"):
        assert other.applies("a patch") is False
    assert "written for 0.0.1: not applied" in caplog.text
    assert WrittenFor("livekit-agents", pinned()["livekit-agents"]).applies("a patch")
