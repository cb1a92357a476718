"""Per-agent analytics."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class StageLatency(BaseModel):
    p50: float
    p95: float
    samples: int


class DayCount(BaseModel):
    date: str
    calls: int
    success: int
    failed: int
    chats: int = 0


class AgentAnalytics(BaseModel):
    agent_id: uuid.UUID
    total_calls: int
    total_chats: int = 0
    """Text chats with the agent in the period (not in the calls' figures)."""
    success_rate: float | None
    """Share of finished calls that succeeded (ongoing calls are not counted)."""
    average_duration: float | None
    latency: dict[str, StageLatency]
    """Per-turn seconds of each stage the worker measured (`e2e_latency` is voice to voice as
    the framework sees it), over every turn of the period's calls."""
    timeline: list[DayCount]
