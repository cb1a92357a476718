"""Where call recordings live: a local directory by default, any fsspec filesystem otherwise.

`RECORDINGS_URL` names the place: a path (default `data/recordings`), `file:///...`, or an
object store such as `s3://bucket/prefix` once its fsspec driver (`s3fs`, `gcsfs`, `adlfs`)
is installed. The worker writes each call's recording when the call ends; the control plane
streams and deletes them. Both must see the same place.

A recording is stereo, the caller on the left channel and the agent on the right, each where
it was heard: the agent's audio stops where an interruption cut it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
from fsspec.core import url_to_fs

RecordingFormat = Literal["ogg", "mp3"]
CONTENT_TYPES: dict[str, str] = {"ogg": "audio/ogg", "mp3": "audio/mpeg"}
CHUNK_BYTES = 64 * 1024
_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}\.(ogg|mp3)$")


class RecordingStore:
    """Recordings by key (`<conversation id>.<format>`), in one directory or bucket prefix."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = url_to_fs(url)

    def _path(self, key: str) -> str:
        if not _KEY.match(key):  # keys come from our records, never from a request path
            raise ValueError(f"not a recording key: {key!r}")
        return f"{self.root.rstrip('/')}/{key}"

    def put(self, key: str, source: Path) -> None:
        """Store the file at `source` under `key` (replacing any earlier one)."""
        self.fs.makedirs(self.root, exist_ok=True)
        self.fs.put_file(str(source), self._path(key))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def size(self, key: str) -> int:
        """Bytes of the recording; `FileNotFoundError` when there is none."""
        return int(self.fs.size(self._path(key)))

    def chunks(self, key: str) -> Iterator[bytes]:
        """The recording's bytes; `FileNotFoundError` (before the first chunk) when missing."""
        handle = self.fs.open(self._path(key), "rb")

        def read() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(CHUNK_BYTES):
                    yield chunk

        return read()

    def delete(self, key: str) -> bool:
        """Remove the recording; whether there was one (and this call removed it: another
        control plane's purge may race this one for the same file)."""
        path = self._path(key)
        if not self.fs.exists(path):
            return False
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True


def recording_key(conversation_id: str, fmt: RecordingFormat) -> str:
    return f"{conversation_id}.{fmt}"


def format_of(key: str) -> RecordingFormat:
    return "mp3" if key.endswith(".mp3") else "ogg"


def to_mp3(source: Path, target: Path, bitrate: int = 64_000) -> None:
    """Transcode a recording (any format PyAV reads) to stereo MP3."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="mp3") as dst:
        rate = 24_000
        stream = dst.add_stream("libmp3lame", rate=rate, layout="stereo")
        stream.bit_rate = bitrate
        resampler = av.AudioResampler(format="s16p", layout="stereo", rate=rate)
        for frame in src.decode(audio=0):
            frame.pts = None
            for converted in resampler.resample(frame):
                converted.time_base = Fraction(1, rate)
                for packet in stream.encode(converted):
                    dst.mux(packet)
        for converted in resampler.resample(None):
            for packet in stream.encode(converted):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
