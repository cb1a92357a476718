"""Property-based checks of the voice-agents validation against the running server: any
in-range agent is stored and returned as sent; any out-of-range value is a 400 that names
its field and stores nothing."""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.contract import VOICE_ID_PATTERN, AgentConfig
from control_plane.agent_loader import load_agent
from shared.audio import OUTPUT_FORMATS
from tests.integration.conftest import ApiServer

UNIT_FIELDS = ["temperature", "voice_stability", "voice_similarity_boost", "voice_style"]
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
# Text a client can send: no NUL (no field accepts it: PostgreSQL cannot store it) and no lone
# surrogate (not encodable as UTF-8; the API refuses one sent as a JSON escape with a 400).
TEXT_CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")
valid_agent = st.fixed_dictionaries(
    {
        "name": st.text(TEXT_CHARACTERS, min_size=1, max_size=60),
        "voice_id": st.from_regex(VOICE_ID_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 200),
        **{field: unit for field in UNIT_FIELDS},
        "voice_speed": st.floats(min_value=50.0, max_value=200.0, allow_nan=False),
        "active": st.just(True),
        "output_format": st.sampled_from(sorted(OUTPUT_FORMATS)),
        "language": st.sampled_from(["en", "ar", "en-US", "ar-EG", "fr"]),
        "max_completion_tokens": st.integers(min_value=1, max_value=4096),
        "turn_detection": st.fixed_dictionaries(
            {
                "timeout": st.floats(min_value=0.5, max_value=600, allow_nan=False),
                "end_call_on_silence": st.floats(min_value=1, max_value=3600, allow_nan=False),
                "vad": st.sampled_from(["silero", "webrtc"]),
                "min_silence_duration": st.floats(min_value=0.05, max_value=5, allow_nan=False),
                "vad_frame_ms": st.sampled_from([10, 20, 30]),
            }
        ),
        "custom_responses": st.fixed_dictionaries(
            {"farewell": st.one_of(st.none(), st.text(TEXT_CHARACTERS))}
        ),
    }
)
out_of_range = st.one_of(
    st.tuples(
        st.sampled_from(UNIT_FIELDS),
        st.one_of(
            st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False),
            st.floats(min_value=1.000001, allow_nan=False, allow_infinity=False),
        ),
    ),
    st.tuples(
        st.just("voice_speed"),
        st.one_of(
            st.floats(max_value=49.99, allow_nan=False, allow_infinity=False),
            st.floats(min_value=200.01, allow_nan=False, allow_infinity=False),
        ),
    ),
    st.tuples(
        st.just("output_format"),
        st.text(max_size=20).filter(lambda s: s not in OUTPUT_FORMATS),
    ),
    st.tuples(
        st.sampled_from(["name", "first_message", "system_prompt", "description"]),
        st.text(max_size=20).map(lambda s: s + "\x00"),
    ),
)


def client_for(server: ApiServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=server.acme.headers, timeout=30)


def test_valid_agents_round_trip(api_server: ApiServer):
    """What the API accepts, it returns, and a call to the agent runs exactly that: the
    worker's config is the agent contract read from the request."""
    with client_for(api_server) as client:

        @PROPERTY_SETTINGS
        @given(body=valid_agent)
        def check(body):
            resp = client.post("/voice-agents", json=body)
            assert resp.status_code == 201, resp.text
            stored = client.get(f"/voice-agents/{resp.json()['id']}").json()
            for field, value in body.items():
                if isinstance(value, dict):
                    for k, v in value.items():
                        assert stored[field][k] == v
                else:
                    assert stored[field] == value, field
            call = asyncio.run(load_agent(api_server.database_url, stored["id"]))
            assert call.config == AgentConfig.model_validate_json(json.dumps(body))
            assert client.delete(f"/voice-agents/{stored['id']}").status_code == 204

        check()


def test_out_of_range_values_are_rejected_by_name(api_server: ApiServer):
    with client_for(api_server) as client:
        agent = client.post("/voice-agents", json={"name": "P", "voice_id": "v"}).json()
        before = client.get("/voice-agents").json()

        @PROPERTY_SETTINGS
        @given(bad=out_of_range)
        def check(bad):
            field, value = bad
            resp = client.post("/voice-agents", json={"name": "P", "voice_id": "v", field: value})
            assert resp.status_code == 400, resp.text
            assert field in resp.json()["detail"]
            resp = client.put(f"/voice-agents/{agent['id']}", json={field: value})
            assert resp.status_code == 400, resp.text
            assert field in resp.json()["detail"]

        check()
        assert client.get("/voice-agents").json() == before
