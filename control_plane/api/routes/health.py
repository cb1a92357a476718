"""`/health`: whether this control plane can serve, for load balancers and container health
checks (no API key)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from ...store.db import ping
from ...store.outage import StoreUnavailableError
from ..errors import error_responses
from ..ratelimit import RedisUnavailableError

HEALTH_TIMEOUT_SECONDS = 5.0
"""A dependency that has not answered in this long counts as unreachable."""

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Every dependency answered."""

    status: Literal["ok"]


@router.get("/health", responses=error_responses(503))
async def health(request: Request) -> Health:
    """200 when the database (and Redis, when `REDIS_URL` is set) answer; 503 whose `detail`
    names the one that does not. While Redis is out of reach the API still serves, with rate
    limits counted per process."""
    try:
        await asyncio.wait_for(ping(request.app.state.engine), HEALTH_TIMEOUT_SECONDS)
    except TimeoutError:
        raise HTTPException(503, "the database is unreachable: no answer in time") from None
    except StoreUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    try:
        await asyncio.wait_for(request.app.state.guard.counters.ping(), HEALTH_TIMEOUT_SECONDS)
    except TimeoutError:
        raise HTTPException(503, "Redis is unreachable: no answer in time") from None
    except RedisUnavailableError as exc:
        raise HTTPException(503, f"{exc} (rate limits are counted per process meanwhile)") from None
    return Health(status="ok")
