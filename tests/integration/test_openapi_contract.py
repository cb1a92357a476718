"""The served OpenAPI document is the contract: schemathesis generates requests from it
(valid and invalid) against the running server and checks every response against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.conftest import ApiServer

CONFIG = Path(__file__).with_name("schemathesis.toml")


async def test_docs_and_openapi_are_served(sqlite_api: ApiServer):
    async with httpx.AsyncClient(base_url=sqlite_api.base_url) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path, method in [
        ("/voice-agents", "get"),
        ("/voice-agents", "post"),
        ("/voice-agents/{id}", "put"),
        ("/voice-agents/{id}", "delete"),
        ("/voice-agents/arabic", "get"),
        ("/voice-agents/english", "get"),
        ("/voice-agents/multilingual", "get"),
        ("/voice-agents/elevenlabs/voices/{voiceId}/tts", "post"),
        ("/voice-agents/stt", "post"),
        ("/conversations", "post"),
    ]:
        operation = paths[path][method]
        assert "401" in operation["responses"], (path, method)
        assert "422" not in operation["responses"]  # validation errors are 400
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "x-api-key"
    assert schema["components"]["securitySchemes"]["APIToken"]["name"] == "x-api-token"
    for path, method in [
        ("/api/v1/chat/conversations", "post"),
        ("/api/v1/chat/agent/chat", "post"),
        ("/api/v1/chat/agent/stream", "post"),
    ]:
        responses = paths[path][method]["responses"]
        assert responses["429"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ChatErrorResponse"
        )
    stream = paths["/api/v1/chat/agent/stream"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream


def test_schemathesis_finds_no_contract_violation(sqlite_api: ApiServer):
    seed = os.environ.get("SCHEMATHESIS_SEED", "20261121")
    examples = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40")
    result = subprocess.run(
        [
            Path(sys.executable).with_name("schemathesis"),
            "--config-file", str(CONFIG),
            "run", f"{sqlite_api.base_url}/openapi.json",
            "-H", f"x-api-key: {sqlite_api.acme.api_key}",
            "--max-examples", examples,
            "--seed", seed,
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    report = result.stdout[-6000:]
    assert result.returncode == 0, report
    assert " passed" in report and "failures" not in report.lower(), report
