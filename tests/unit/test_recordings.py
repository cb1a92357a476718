"""The recording store behind one interface: a local directory by default, any fsspec
filesystem (here its in-memory one, standing in for an object store) by URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from control_plane.recordings import RecordingStore, format_of, recording_key
from control_plane.settings import StoreSettings


@pytest.fixture(params=["directory", "file-url", "memory"])
def store(request, tmp_path: Path) -> RecordingStore:
    return RecordingStore(
        {
            "directory": str(tmp_path / "recordings"),
            "file-url": f"file://{tmp_path}/recordings",
            "memory": f"memory://recordings-{uuid.uuid4().hex}",
        }[request.param]
    )


def test_put_read_delete(store: RecordingStore, tmp_path: Path) -> None:
    source = tmp_path / "call.ogg"
    body = bytes(range(256)) * 1000  # more than one read chunk
    source.write_bytes(body)
    key = recording_key("conv_abc123", "ogg")
    assert not store.exists(key)
    store.put(key, source)
    assert store.exists(key) and store.size(key) == len(body)
    assert b"".join(store.chunks(key)) == body
    assert format_of(key) == "ogg" and format_of(recording_key("conv_abc123", "mp3")) == "mp3"
    assert store.delete(key) is True
    assert store.delete(key) is False
    with pytest.raises(FileNotFoundError):
        store.chunks(key)


@pytest.mark.parametrize("key", ["../etc/passwd.ogg", "a/b.ogg", "conv.wav", "", "x" * 70 + ".ogg"])
def test_keys_cannot_leave_the_store(store: RecordingStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.exists(key)


def test_default_place_is_under_the_data_directory(tmp_path: Path) -> None:
    settings = StoreSettings(data_dir=tmp_path, recordings_url="")
    assert Path(settings.recording_store().root) == tmp_path / "recordings"
