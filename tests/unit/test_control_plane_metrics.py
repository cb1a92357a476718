"""The control plane's request metrics, in process: labels a client cannot multiply, and
`METRICS_ENABLED=false`."""

from __future__ import annotations

import httpx

from control_plane.api.app import create_app
from control_plane.metrics import REGISTRY
from control_plane.settings import Settings


def client(**settings: object) -> httpx.AsyncClient:
    app = create_app(Settings(**settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def requests(**labels: str) -> float:
    return REGISTRY.get_sample_value("voice_agent_http_requests_total", labels) or 0


async def test_unknown_methods_and_paths_share_one_label_each() -> None:
    labels = {"method": "other", "route": "unmatched", "status": "404"}
    before = requests(**labels)
    async with client() as c:
        for n in range(3):
            resp = await c.request(f"BREW{n}", f"/coffee/{n}")
            assert resp.status_code == 404
    assert requests(**labels) - before == 3
    samples = [
        sample
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == "voice_agent_http_requests_total"
    ]
    assert not any("BREW" in s.labels["method"] or "coffee" in s.labels["route"] for s in samples)


async def test_metrics_can_be_turned_off() -> None:
    async with client(metrics_enabled=False) as c:
        assert (await c.get("/metrics")).status_code == 404
        before = requests(method="GET", route="unmatched", status="404")
        await c.get("/nowhere")
        assert requests(method="GET", route="unmatched", status="404") == before
