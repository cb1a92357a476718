"""A load test's calls over phone lines (`--phone`): each caller dials a number through a fake
Twilio; the control plane answers with its stored agent, the phone gateway bridges the line
into the call's room, and our worker answers as on any call.

What a phone line needs beside the load stack: a store shared by the control plane and the
worker (a SQLite file and its provider-keys secret in one data directory), the control plane,
the gateway, and, in the callers' own event loop, the fake Twilio (which plays the phones). A
company with the fake's account, the plan's agent, and the number it answers are made through
the API, as a user would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from fake_providers.twilio import FakeTwilio

from ..caller import CallReport, CallScript
from ..caller.phone import phone_call
from ..stack import Stack, admin, control_plane_process, gateway_process
from .plan import LOAD_AGENT, LoadPlan

PHONE_PORTS = {"control-plane": 9393, "gateway": 9394, "fake-twilio": 9395}
"""Clear of the load stack's own ports and the fakes'."""
ACCOUNT = "AC" + "10ad" * 8
TOKEN = "load-test-twilio-token-0001"  # noqa: S105 - the fake's account, on loopback only
NUMBER = "+15550009000"


def store_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'voice-agents.db'}"


def phone_env(data_dir: Path) -> dict[str, str]:
    """What the worker needs to answer stored agents: the control plane's store and secret."""
    return {"DATA_DIR": str(data_dir), "DATABASE_URL": store_url(data_dir)}


def start_phone_services(stack: Stack, data_dir: Path, log_dir: Path) -> str:
    """The control plane and the phone gateway, on the load stack's livekit-server; the
    control plane's URL."""
    port = PHONE_PORTS["control-plane"]
    api_url = f"http://127.0.0.1:{port}"
    stack.processes["control-plane"] = control_plane_process(
        port,
        database_url=store_url(data_dir),
        log_path=log_dir / "control-plane.log",
        env={
            "DATA_DIR": str(data_dir),
            "LIVEKIT_URL": stack.config.livekit_url,
            "LIVEKIT_API_KEY": stack.key,
            "LIVEKIT_API_SECRET": stack.secret,
            "VOICE_AGENT_NAME": LOAD_AGENT,
            "PUBLIC_URL": api_url,
            "TELEPHONY_GATEWAY_URL": f"ws://127.0.0.1:{PHONE_PORTS['gateway']}/twilio/media",
            "TWILIO_BASE_URL": f"http://127.0.0.1:{PHONE_PORTS['fake-twilio']}",
            "RATE_LIMIT": "100000/minute",
            "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
        },
    )
    stack.processes["phone-gateway"] = gateway_process(
        PHONE_PORTS["gateway"],
        livekit_url=stack.config.livekit_url,
        log_path=log_dir / "phone-gateway.log",
    )
    return api_url


@dataclass
class PhoneLines:
    """Places the load test's calls over the phone (see the module docstring)."""

    api_url: str
    database_url: str
    twilio: FakeTwilio | None = None

    async def open(self, plan: LoadPlan) -> None:
        """Start the fake Twilio (in this event loop) and make the company, its agent and its
        number."""
        self.twilio = FakeTwilio(accounts={ACCOUNT: TOKEN}, port=PHONE_PORTS["fake-twilio"])
        await self.twilio.start()
        company = admin(self.database_url, "create-company", f"Load {uuid.uuid4().hex[:6]}")
        headers = {"x-api-key": company["api_key"]}
        body = {"name": "Load agent", "active": True}
        body |= plan.agent().model_dump(mode="json", exclude_defaults=True)
        async with httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=60) as api:
            for path, payload in [
                ("/integrations/twilio", {"account_sid": ACCOUNT, "auth_token": TOKEN}),
                ("/voice-agents", body),
            ]:
                resp = await api.post(path, json=payload)
                if resp.status_code >= 300:
                    raise RuntimeError(f"{path}: {resp.status_code} {resp.text}")
                agent_id = resp.json().get("id")
            resp = await api.post("/phone-numbers", json={"number": NUMBER, "agent_id": agent_id})
            if resp.status_code >= 300:
                raise RuntimeError(f"/phone-numbers: {resp.status_code} {resp.text}")

    async def call(self, script: CallScript, caller: int) -> CallReport:
        assert self.twilio is not None, "open() first"
        return await phone_call(
            self.twilio,
            script,
            voice_url=f"{self.api_url}/telephony/twilio/voice",
            to=NUMBER,
            from_=f"+1555{caller:07d}",
            account_sid=ACCOUNT,
        )

    async def aclose(self) -> None:
        if self.twilio is not None:
            await self.twilio.stop()
