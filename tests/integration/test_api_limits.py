"""Per-key rate limiting and upload limits, on a server configured with small limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from simulator.stack import control_plane_process
from tests.integration.conftest import LOG_DIR, Tenant, admin, database_url_for

PORT = 8392


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of a server allowing 5 requests a minute per key."""
    database_url = database_url_for("sqlite", tmp_path_factory.mktemp("limits"))
    process = control_plane_process(
        PORT,
        database_url=database_url,
        log_path=LOG_DIR / "control-plane-limits.log",
        env={
            "RATE_LIMIT": "5/minute",
            "CHAT_CONVERSATIONS_RATE_LIMIT": "3/minute",
            "CHAT_STREAM_RATE_LIMIT": "2/minute",
            "STT_MAX_UPLOAD_BYTES": "64000",
            "STT_MAX_SECONDS": "1",
        },
    )
    try:
        yield f"http://127.0.0.1:{PORT}", database_url
    finally:
        process.stop()


def tenant(database_url: str, name: str) -> Tenant:
    created = admin(database_url, "create-company", name)
    return Tenant(created["company_id"], created["key_id"], created["api_key"])


async def test_rate_limit_is_per_key_with_retry_after(limited):
    base_url, database_url = limited
    first, second = tenant(database_url, "Busy"), tenant(database_url, "Quiet")
    async with httpx.AsyncClient(base_url=base_url) as client:
        codes = [
            (await client.get("/voice-agents", headers=first.headers)).status_code for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]
        resp = await client.get("/voice-agents", headers=first.headers)
        assert resp.status_code == 429
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        assert "Rate limit" in resp.json()["detail"]
        # Another key of another company is not affected.
        assert (await client.get("/voice-agents", headers=second.headers)).status_code == 200


async def test_chat_api_routes_have_their_own_limits_per_key(limited):
    """The chat API's conversation routes and its streaming route each count per key on top of
    the key's overall limit, and answer 429 in that API's error shape."""
    base_url, database_url = limited
    chats, streams = tenant(database_url, "Chats"), tenant(database_url, "Streams")
    async with httpx.AsyncClient(base_url=base_url) as client:
        answers = [
            await client.get("/api/v1/chat/conversations", headers=chats.headers) for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [200] * 3 + [429]
        refused = answers[-1]
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json() == {**refused.json(), "error": "RateLimitError", "statusCode": 429}
        # The key's other routes still answer: 4 of its 5 requests a minute are taken.
        assert (await client.get("/voice-agents", headers=chats.headers)).status_code == 200

        # Counted before the form is read: refused requests (400) count too.
        form = {"agent_key": "agent:bad", "query": "Hi"}
        codes = [
            (
                await client.post("/api/v1/chat/agent/stream", data=form, headers=streams.headers)
            ).status_code
            for _ in range(3)
        ]
        assert codes == [400, 400, 429]


async def test_uploads_too_large_or_too_long_are_413(limited):
    base_url, database_url = limited
    key = tenant(database_url, "Uploader")
    async with httpx.AsyncClient(base_url=base_url, headers=key.headers, timeout=60) as client:
        resp = await client.post(
            "/voice-agents/stt", files={"file": ("big.wav", b"\0" * 70000, "audio/wav")}
        )
        assert resp.status_code == 413
        assert "64000" in resp.json()["detail"]

        # Small file, long audio: 2 s of 8 kHz u-law silence in a WAV is 16 kB.
        import io

        import av

        out = io.BytesIO()
        with av.open(out, "w", format="wav") as c:
            stream = c.add_stream("pcm_mulaw", rate=8000, layout="mono")
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 16000), np.int16), format="s16", layout="mono"
            )
            frame.sample_rate = 8000
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                c.mux(packet)
        resp = await client.post(
            "/voice-agents/stt", files={"file": ("long.wav", out.getvalue(), "audio/wav")}
        )
        assert resp.status_code == 413
        assert "longer than" in resp.json()["detail"]
