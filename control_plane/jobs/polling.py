"""The loop of a job that works through rows waiting in the store: claim what is due, work,
and when nothing was due wait for the poll interval or for the API to say there is work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ..store.outage import OutageLog


class PollingLoop:
    def __init__(self, outages: OutageLog, poll_interval: float) -> None:
        self.outages = outages
        self.poll_interval = poll_interval
        self.wake = asyncio.Event()
        """Set by the API when it adds work: the job starts without waiting for the poll."""

    async def run(self, run_due: Callable[[], Awaitable[int]]) -> None:
        """Call `run_due` (which returns how much it did) until cancelled; a failure is
        logged once per outage and the next round tries again."""
        while True:
            try:
                done = await run_due()
                self.outages.succeeded()
            except Exception as exc:  # the next round tries again
                self.outages.failed(exc)
                done = 0
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_interval)
                self.wake.clear()
