"""`make console` on a virtual sound card: the agent greets and answers through PortAudio.

`python -m simulator console` (what `make console` runs: the embedded LLM, then livekit-agents'
console mode) talks to a private PulseAudio server (`scripts/virtual-audio.sh`) through ALSA's
pulse plugin, as it would to a machine's sound card. A spoken question is played into the
virtual microphone; what the agent says is recorded from the virtual speaker and transcribed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.contract import DEFAULT_FIRST_MESSAGE
from simulator.audio import CALLER_RATE, FRAME_MS, frame_rms_dbfs, write_wav
from simulator.caller import AGENT_LEVEL_DBFS
from simulator.speech import render_speech
from simulator.stack import ROOT
from simulator.transcribe import HeardTranscriber
from tests.helpers import words

pytestmark = pytest.mark.e2e

SCRIPT = ROOT / "scripts" / "virtual-audio.sh"
LLM_PORT = int(os.environ.get("TEST_CONSOLE_LLM_PORT", 8488))
"""The console's own embedded LLM server, beside the default one and the test stack's."""
FRAME = CALLER_RATE * FRAME_MS // 1000
QUESTION = "Hi there. What is the capital of France?"


@pytest.fixture
def virtual_audio(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private PulseAudio server with a virtual speaker and microphone; the environment
    that points its clients (PortAudio through ALSA, parec, paplay) at it."""
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (Debian packages pulseaudio, pulseaudio-utils)")
    env = {k: v for k, v in os.environ.items() if k not in ("PULSE_SINK", "PULSE_SOURCE")}
    env["AUDIO_DIR"] = str(tmp_path / "audio")
    started = subprocess.run(
        [str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode == 0, started.stderr
    server = subprocess.run(
        [str(SCRIPT), "server"], env=env, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()
    assert started.stdout.strip() == f"export PULSE_SERVER={server}", started.stdout
    try:
        yield {**env, "PULSE_SERVER": server}
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, timeout=60, check=True)


class SpeakerRecording:
    """What the virtual speaker plays, 10 ms frame by frame as it plays (`parec` on the
    speaker's monitor), and where the agent's speech in it starts and ends."""

    def __init__(self, env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            ["parec", "-d", "speaker.monitor", "--raw", "--format=s16le", "--channels=1"]
            + [f"--rate={CALLER_RATE}", "--latency-msec=50"],
            stdout=subprocess.PIPE,
            env=env,
        )
        self._frames: list[np.ndarray] = []
        self._loud: list[bool] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="speaker-recording", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        pending = b""
        while chunk := os.read(self._proc.stdout.fileno(), FRAME * 2 * 10):
            pending += chunk
            whole = len(pending) - len(pending) % (FRAME * 2)
            samples = np.frombuffer(pending[:whole], np.int16).reshape(-1, FRAME)
            pending = pending[whole:]
            with self._changed:
                for frame in samples:
                    self._frames.append(frame)
                    self._loud.append(frame_rms_dbfs(frame) > AGENT_LEVEL_DBFS)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def frames(self) -> int:
        with self._changed:
            return len(self._frames)

    def audio(self, start: int, end: int) -> np.ndarray:
        with self._changed:
            return np.concatenate(self._frames[start:end])

    def loud_between(self, start: int, end: int) -> bool:
        with self._changed:
            return any(self._loud[start:end])

    def next_speech(
        self, *, after: int, within: float, end_silence: float, running: Callable[[], str | None]
    ) -> tuple[int, int]:
        """The frames (start, end) of the first speech from frame `after` on, ended by
        `end_silence` s of quiet; fails after `within` s, or as soon as `running()` says why
        the speaker's source is gone."""
        quiet = round(end_silence * 1000 / FRAME_MS)

        def speech() -> tuple[int, int] | None:
            loud = [i for i in range(after, len(self._loud)) if self._loud[i]]
            if loud and len(self._loud) - 1 - loud[-1] >= quiet:
                return loud[0], loud[-1] + 1
            return None

        deadline = time.monotonic() + within
        with self._changed:
            while (found := speech()) is None:
                gone = running() or (None if self._reader.is_alive() else "parec stopped")
                assert gone is None, gone
                left = deadline - time.monotonic()
                assert left > 0, f"no speech ended by {end_silence} s of quiet within {within} s"
                self._changed.wait(min(left, 1.0))
        return found

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._reader.join(10)


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def kill_group(pgid: int) -> bool:
    """SIGKILL whatever is left of process group `pgid`; whether anything was."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def conversation(log: Path) -> list[tuple[str, str]]:
    """(role, text) of each conversation item the console logged, in order."""
    text = log.read_text(errors="replace")
    return [
        (role, json.loads(f'"{said}"'))
        for role, said in re.findall(
            r'\{"role": "(user|assistant)", "lk.pii.text": "((?:[^"\\]|\\.)*)"', text
        )
    ]


def test_console_greets_and_answers_on_a_virtual_sound_card(
    virtual_audio: dict[str, str], tmp_path: Path
) -> None:
    assert not port_in_use(LLM_PORT), f"port {LLM_PORT} is busy: set TEST_CONSOLE_LLM_PORT"
    question = tmp_path / "question.wav"
    write_wav(question, render_speech(QUESTION), CALLER_RATE)
    env = {
        **virtual_audio,
        "LLM_PORT": str(LLM_PORT),
        # The devices as a user names them for `make console`: PortAudio's ALSA device
        # `pulse` (the default device goes to the same server when PulseAudio runs).
        "CONSOLE_INPUT_DEVICE": "pulse",
        "CONSOLE_OUTPUT_DEVICE": "pulse",
        # One log line a record, whatever its length (the console's log is for a terminal).
        "COLUMNS": "100000",
    }
    log = tmp_path / "console.log"
    speaker = SpeakerRecording(virtual_audio)
    with log.open("wb") as out:
        console = subprocess.Popen(
            [sys.executable, "-m", "simulator", "console"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def running() -> str | None:
        if console.poll() is None:
            return None
        return f"the console exited with code {console.returncode}:\n{log_tail(log)}"

    try:
        # Starting the LLM server and loading the models comes first; then the greeting.
        greeting = speaker.next_speech(after=0, within=300, end_silence=1.5, running=running)
        asked_from = speaker.frames
        subprocess.run(
            ["paplay", "-d", "microphone", str(question)],
            env=virtual_audio,
            check=True,
            timeout=60,
        )
        asked_to = speaker.frames
        reply = speaker.next_speech(after=asked_to, within=120, end_silence=2.5, running=running)
        assert running() is None

        # Stop it as Ctrl-C in its terminal does: the whole foreground process group.
        os.killpg(console.pid, signal.SIGINT)
        try:
            console.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the console did not stop within 60 s of Ctrl-C:\n{log_tail(log)}")
    finally:
        speaker.stop()
        outlived = kill_group(console.pid)
        console.wait()

    listener = HeardTranscriber()
    heard_greeting = listener.transcribe(speaker.audio(*greeting))
    heard_reply = listener.transcribe(speaker.audio(*reply))
    items = conversation(log)
    said = [text for role, text in items if role == "assistant"]
    asked = [text for role, text in items if role == "user"]
    assert said[:1] == [DEFAULT_FIRST_MESSAGE] and len(said) == 2, items
    assert {"how", "help"} <= words(heard_greeting), heard_greeting
    # The agent's speech-to-text heard the question through the virtual microphone (tiny.en
    # may mishear "France"), and the agent let it be said without a word over it.
    assert len(asked) == 1 and "capital" in words(asked[0]), items
    assert not speaker.loud_between(asked_from, asked_to), "the agent spoke over the question"
    # What came out of the virtual speaker is the answer the agent gave.
    answer = words(said[1])
    assert len(answer & words(heard_reply)) >= len(answer) / 2, (heard_reply, said[1])
    # Ctrl-C stopped everything the console started.
    assert not outlived, "a process of the console outlived Ctrl-C"
    assert not port_in_use(LLM_PORT), "the console's LLM server outlived it"
