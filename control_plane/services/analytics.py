"""Per-agent analytics over its conversations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.stats import percentile
from shared.telemetry import CallLatency

from ..schemas.analytics import AgentAnalytics, DayCount, StageLatency
from ..store.models import Conversation


def analytics(agent_id: uuid.UUID, conversations: Sequence[Conversation]) -> AgentAnalytics:
    """Calls' counts, outcomes and latency; text chats counted beside them."""
    rows = [r for r in conversations if r.channel == "voice"]
    chats = [r for r in conversations if r.channel == "chat"]
    finished = [r for r in rows if r.status != "ongoing"]
    durations = [r.duration for r in finished if r.duration is not None]
    stages: dict[str, list[float]] = {}
    for row in rows:
        for stage, values in CallLatency.stored(row.metrics).stage_values().items():
            stages.setdefault(stage, []).extend(values)
    days: dict[str, DayCount] = {}
    for row in conversations:
        day = row.created_at.date().isoformat()
        count = days.setdefault(day, DayCount(date=day, calls=0, success=0, failed=0))
        if row.channel == "chat":
            count.chats += 1
            continue
        count.calls += 1
        count.success += row.status == "success"
        count.failed += row.status == "failed"
    return AgentAnalytics(
        agent_id=agent_id,
        total_calls=len(rows),
        total_chats=len(chats),
        success_rate=(
            round(sum(r.status == "success" for r in finished) / len(finished), 4)
            if finished
            else None
        ),
        average_duration=round(sum(durations) / len(durations), 3) if durations else None,
        latency={stage: _percentiles(values) for stage, values in sorted(stages.items())},
        timeline=[days[d] for d in sorted(days)],
    )


def _percentiles(values: list[float]) -> StageLatency:
    return StageLatency(
        p50=round(percentile(values, 0.5, method="nearest") or 0.0, 4),
        p95=round(percentile(values, 0.95, method="nearest") or 0.0, 4),
        samples=len(values),
    )
