"""The phone gateway's settings, read from the environment (and `.env`)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.logs import LogFormat


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    livekit_url: str = "ws://127.0.0.1:7880"
    """The LiveKit server the calls' rooms are on (as this gateway reaches it)."""
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8765
    """Where the provider's media streams connect (`TELEPHONY_GATEWAY_URL` of the control
    plane is this address as the provider reaches it, `wss://.../twilio/media`)."""
    log_level: str = "INFO"
    log_format: LogFormat = "text"
