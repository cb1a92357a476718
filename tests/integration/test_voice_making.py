"""Making voices through seed 002's voice API and seed 001's voices, against the fake
ElevenLabs: the design flow, cloning (and the recordings it refuses), deleting, the library's
sources, company ownership, and preview jobs that outlive a restart of the control plane."""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest

from shared.audio import decode_to_mono
from tests.conftest import ELEVENLABS_KEY
from tests.helpers import poll_until
from tests.integration.conftest import ApiServer, database_url_for, running_api_server

pytestmark = pytest.mark.integration

ARABIC = "\u0600-\u06ff"
RESTART_PORT = 8397


def espeak_wav(text: str, voice: str = "en-us") -> bytes:
    return subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Iterator[str]:
    """A local web server with a recording (`voice.wav`) and a page (`page.html`)."""
    root: Path = tmp_path_factory.mktemp("served")
    (root / "voice.wav").write_bytes(
        espeak_wav("Hello, this is the voice I would like to clone for my agent. " * 2)
    )
    (root / "page.html").write_text("<html><body>not audio</body></html>")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


async def new_agent(client: httpx.AsyncClient, **values) -> str:
    resp = await client.post("/voice-agents", json={"name": "Voice maker", **values})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def connect_elevenlabs(client: httpx.AsyncClient) -> None:
    resp = await client.post("/integrations/elevenlabs", json={"api_key": ELEVENLABS_KEY})
    assert resp.status_code == 200, resp.text


async def library(client: httpx.AsyncClient, agent: str, source: str) -> set[str]:
    resp = await client.get(f"/v1/agents/{agent}/voice/library", params={"source": source})
    assert resp.status_code == 200, resp.text
    return {v["voice_id"] for v in resp.json()["voices"]}


async def test_design_flow_makes_a_company_voice_that_others_cannot_use(api_server: ApiServer):
    async with (
        api_server.client(api_server.acme) as acme,
        api_server.client(api_server.globex) as globex,
    ):
        await connect_elevenlabs(acme)
        agent = await new_agent(acme)
        base = f"/v1/agents/{agent}/voice"

        script = await acme.post(f"{base}/design/generate-script", json={"language": "ar"})
        assert script.status_code == 200, script.text
        arabic_script = script.json()["voice_sample"]
        assert any("\u0600" <= ch <= "\u06ff" for ch in arabic_script)
        script = (await acme.post(f"{base}/design/generate-script", json={})).json()
        assert 100 <= len(script["voice_sample"]) <= 1000

        resp = await acme.post(f"{base}/design/generate-description", json={})
        assert resp.status_code in (400, 422) and "gender" in resp.text
        described = await acme.post(
            f"{base}/design/generate-description",
            json={"gender": "male", "voice_description": "warm and confident", "language": "en"},
        )
        assert described.status_code == 200, described.text
        description = described.json()["voice_description"]
        assert "male" in description and "warm and confident" in description

        samples = await acme.post(
            f"{base}/design/generate-samples",
            json={"text": script["voice_sample"], "description": description},
        )
        assert samples.status_code == 200, samples.text
        candidates = samples.json()["samples"]
        assert len(candidates) == 3
        assert len({c["generation_id"] for c in candidates}) == 3
        audio = decode_to_mono(base64.b64decode(candidates[1]["audio"]), 16000)
        assert len(audio) > 16000 and float(np.abs(audio).max()) > 0.05

        made = await acme.post(
            f"{base}/design",
            json={
                "generation_id": candidates[1]["generation_id"],
                "name": "Santiago",
                "gender": "male",
                "language": "en",
                "description": "warm, confident",
            },
        )
        assert made.status_code == 201, made.text
        voice = made.json()
        assert voice["source"] == "user_designed" and voice["name"] == "Santiago"
        voice_id = voice["voice_id"]
        assert voice_id in await library(acme, agent, "user_designed")
        # not listed twice (as the key's own ElevenLabs voice too)
        assert voice_id not in await library(acme, agent, "user_elevenlabs")

        # Another company: not in its library, and its agents cannot speak with it.
        other = await new_agent(globex)
        assert voice_id not in await library(globex, other, "user_designed")
        resp = await globex.post("/voice-agents", json={"name": "Thief", "voice_id": voice_id})
        assert resp.status_code == 400 and "voice_id" in resp.json()["detail"]
        resp = await globex.put(f"/voice-agents/{other}", json={"voice_id": voice_id})
        assert resp.status_code == 400
        resp = await globex.delete(f"/v1/agents/{other}/voice/{voice_id}")
        assert resp.status_code == 404

        # In use, it cannot be deleted: the refusal names the agent.
        resp = await acme.put(f"/voice-agents/{agent}", json={"voice_id": voice_id})
        assert resp.status_code == 200, resp.text
        resp = await acme.delete(f"{base}/{voice_id}")
        assert resp.status_code == 409 and agent in resp.json()["detail"]
        await acme.put(f"/voice-agents/{agent}", json={"voice_id": "local:en_US-joe-medium"})
        resp = await acme.delete(f"{base}/{voice_id}")
        assert resp.status_code == 204, resp.text
        assert voice_id not in await library(acme, agent, "user_designed")
        assert (await acme.delete(f"{base}/{voice_id}")).status_code == 404
        # public voices are not the company's to delete
        resp = await acme.delete(f"{base}/EXAVITQu4vr4xnSDxMaL")
        assert resp.status_code == 400 and "public" in resp.json()["detail"]


async def test_clone_from_a_url_or_inline_and_the_recordings_it_refuses(
    sqlite_api: ApiServer, files: str
):
    tenant = sqlite_api.new_tenant("Cloners")
    async with sqlite_api.client(tenant) as client:
        agent = await new_agent(client)
        clone = f"/v1/agents/{agent}/voice/clone"

        # Without an ElevenLabs key the route says what is missing.
        resp = await client.post(clone, json={"name": "Me", "audio_url": f"{files}/voice.wav"})
        assert resp.status_code == 409 and "ElevenLabs key" in resp.json()["detail"]
        await connect_elevenlabs(client)

        resp = await client.post(
            clone, json={"name": "From URL", "audio_url": f"{files}/voice.wav", "gender": "male"}
        )
        assert resp.status_code == 201, resp.text
        from_url = resp.json()
        assert from_url["source"] == "user_trained" and from_url["gender"] == "male"

        inline = base64.b64encode(espeak_wav("A short clip of my voice, said twice. " * 2))
        resp = await client.post(
            clone, json={"name": "Inline", "audio_base64": inline.decode(), "language": "en"}
        )
        assert resp.status_code == 201, resp.text
        assert {from_url["voice_id"], resp.json()["voice_id"]} <= await library(
            client, agent, "user_trained"
        )

        refused = [
            ({"name": "Both", "audio_url": f"{files}/voice.wav", "audio_base64": "AAAA"}, 422),
            ({"name": "Neither"}, 422),
            ({"name": "Page", "audio_url": f"{files}/page.html"}, 415),
            ({"name": "Missing", "audio_url": f"{files}/nothing.wav"}, 400),
            ({"name": "Not base64", "audio_base64": "@@@ not base64 @@@"}, 400),
            ({"name": "Noise", "audio_base64": base64.b64encode(b"x" * 4000).decode()}, 400),
        ]
        for body, status in refused:
            resp = await client.post(clone, json=body)
            assert resp.status_code in ({status, 400} if status == 422 else {status}), (
                body["name"],
                resp.text,
            )
            assert resp.json()["detail"], body["name"]
        assert len(await library(client, agent, "user_trained")) == 2


async def test_seed_001_lists_voices_by_language_and_creates_one_from_samples(
    sqlite_api: ApiServer,
):
    tenant = sqlite_api.new_tenant("Seed voices")
    async with sqlite_api.client(tenant) as client:
        german = await client.get("/v1/api/voices/list", params={"language": "de-DE"})
        assert german.status_code == 200, german.text
        voices = german.json()["data"]["voices"]
        assert voices and {v["language"] for v in voices} == {"de-DE"}
        assert "local:espeak-de" in {v["id"] for v in voices}
        arabic = (await client.get("/v1/api/voices/list", params={"language": "ar"})).json()
        assert "local:espeak-ar" in {v["id"] for v in arabic["data"]["voices"]}
        assert all(v["language"].startswith("ar") for v in arabic["data"]["voices"])
        resp = await client.get("/v1/api/voices/list", params={"language": "not a code"})
        assert resp.status_code in (400, 422)

        sample = ("sample.wav", espeak_wav("My voice for the medical practice. " * 3), "audio/wav")
        form = {"name": "Custom Voice", "description": "Professional voice for medical practice"}
        resp = await client.post(
            "/v1/api/voice/create", data=form, files=[("audio_samples", sample)]
        )
        assert resp.status_code == 409, resp.text
        await connect_elevenlabs(client)
        resp = await client.post(
            "/v1/api/voice/create",
            data={**form, "language": "de"},
            files=[("audio_samples", sample), ("audio_samples", sample)],
        )
        assert resp.status_code == 201, resp.text
        created = resp.json()["data"]
        assert created["name"] == "Custom Voice" and created["language"] == "de-DE"
        german = (await client.get("/v1/api/voices/list", params={"language": "de"})).json()
        assert created["id"] in {v["id"] for v in german["data"]["voices"]}

        text = ("notes.txt", b"just text", "text/plain")
        resp = await client.post("/v1/api/voice/create", data=form, files=[("audio_samples", text)])
        assert resp.status_code == 415 and resp.json()["success"] is False
        junk = ("junk.wav", b"RIFF" + b"\0" * 100, "audio/wav")
        resp = await client.post("/v1/api/voice/create", data=form, files=[("audio_samples", junk)])
        assert resp.status_code == 400 and "junk.wav" in resp.json()["error"]["message"]


async def wait_for_job(client: httpx.AsyncClient, url: str) -> dict:
    async def finished() -> dict | None:
        job = (await client.get(url)).json()
        return job if job["status"] in ("completed", "failed") else None

    return await poll_until(finished, 60, f"the preview job at {url} to finish")


async def test_preview_jobs_survive_a_restart_and_fail_with_a_reason(
    tmp_path, provider_env: dict[str, str]
):
    database_url = database_url_for("sqlite", tmp_path)
    env = {**provider_env, "VOICE_PREVIEW_POLL_SECONDS": "0.2"}
    with running_api_server(
        "sqlite",
        database_url,
        RESTART_PORT,
        "control-plane-previews-off.log",
        {**env, "VOICE_PREVIEWS": "false"},
    ) as server:
        async with server.client(server.acme) as client:
            agent = await new_agent(client, language="ar", voice_id="local:espeak-ar")
            base = f"/v1/agents/{agent}/voice"
            started = await client.post(
                f"{base}/local:espeak-ar/preview", json={"text": "مرحبا، كيف يمكنني مساعدتك؟"}
            )
            assert started.status_code == 202, started.text
            job_id = started.json()["user_job_id"]
            assert isinstance(job_id, int)
            # A voice the company has no key for is accepted, and fails with the reason.
            cloud = await client.post(
                f"{base}/EXAVITQu4vr4xnSDxMaL/preview", json={"text": "Hello world"}
            )
            assert cloud.status_code == 202, cloud.text
            pending = (await client.get(f"{base}/preview/{job_id}")).json()
            assert pending["status"] == "pending" and pending["output_resources"] == []
            assert (
                await client.post(f"{base}/nope/preview", json={"text": "x"})
            ).status_code == 404
            assert (await client.post(f"{base}/local:espeak-ar/preview", json={})).status_code in (
                400,
                422,
            )
            acme = server.acme
    # The process that took the jobs is gone; the next one makes them.
    with running_api_server(
        "sqlite", database_url, RESTART_PORT, "control-plane-previews-on.log", env
    ) as server:
        server.acme = acme
        async with server.client(acme) as client:
            done = await wait_for_job(client, f"{base}/preview/{job_id}")
            assert done["status"] == "completed", done
            (resource,) = done["output_resources"]
            audio = await client.get(resource["file_url"])
            assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
            samples = decode_to_mono(audio.content, 16000)
            assert len(samples) > 8000 and float(np.abs(samples).max()) > 0.05

            failed = await wait_for_job(client, f"{base}/preview/{cloud.json()['user_job_id']}")
            assert failed["status"] == "failed" and "ElevenLabs key" in failed["error"]
            resp = await client.get(f"{base}/preview/{cloud.json()['user_job_id']}/audio")
            assert resp.status_code == 404 and "failed" in resp.json()["detail"]
        # another company sees neither job
        other = server.new_tenant("Other")
        async with server.client(other) as client:
            other_agent = await new_agent(client)
            resp = await client.get(f"/v1/agents/{other_agent}/voice/preview/{job_id}")
            assert resp.status_code == 404
