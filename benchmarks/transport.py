"""One-way audio latency through livekit-server on loopback: the floor under every caller-side
figure. Participant A publishes tone bursts through the same `Microphone` the simulated caller
uses; participant B records them. Latency = first audible frame at B - hand-off at A.

    .venv/bin/python benchmarks/transport.py --bursts 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livekit import api, rtc  # noqa: E402

from simulator.audio import CALLER_RATE, FRAME_MS, frame_rms_dbfs  # noqa: E402
from simulator.caller import Microphone  # noqa: E402
from simulator.stack import Stack, StackConfig  # noqa: E402


def token(stack: Stack, identity: str, room: str) -> api.AccessToken:
    grants = api.VideoGrants(room_join=True, room=room)
    return api.AccessToken(stack.key, stack.secret).with_identity(identity).with_grants(grants)


async def measure(stack: Stack, bursts: int) -> list[float]:
    sender, receiver = rtc.Room(), rtc.Room()
    loud_at: list[float] = []
    heard = asyncio.Event()

    async def record(track: rtc.Track) -> None:
        stream = rtc.AudioStream.from_track(
            track=track, sample_rate=CALLER_RATE, num_channels=1, frame_size_ms=FRAME_MS
        )
        async for ev in stream:
            if frame_rms_dbfs(np.frombuffer(ev.frame.data, np.int16)) > -45:
                loud_at.append(time.monotonic())
                heard.set()

    tasks: list[asyncio.Task[None]] = []
    receiver.on("track_subscribed", lambda t, *_: tasks.append(asyncio.create_task(record(t))))
    await receiver.connect(stack.endpoint.url, token(stack, "b", "transport").to_jwt())
    await sender.connect(stack.endpoint.url, token(stack, "a", "transport").to_jwt())
    mic = Microphone(sender)
    await mic.start()
    n = int(0.3 * CALLER_RATE)
    tone = (np.sin(np.arange(n) * 2 * np.pi * 440 / CALLER_RATE) * 8000).astype(np.int16)
    burst = np.concatenate([tone, np.zeros(CALLER_RATE // 2, np.int16)])
    latencies = []
    for _ in range(bursts):
        heard.clear()
        sent = await mic.say(burst)
        await asyncio.wait_for(heard.wait(), 5)
        first = next(t for t in loud_at if t >= sent[0] - 0.005)
        latencies.append(first - sent[0])
        loud_at.clear()
    await mic.aclose()
    for task in tasks:
        task.cancel()
    await sender.disconnect()
    await receiver.disconnect()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/transport.json")
    args = parser.parse_args()
    config = StackConfig(
        livekit_port=8190, livekit_udp_port=8192, log_dir=ROOT / ".cache/logs/bench"
    )
    with Stack(config, llm=False, worker=False) as stack:
        values = asyncio.run(measure(stack, args.bursts))
    values.sort()
    p50, p95 = values[len(values) // 2], values[int(len(values) * 0.95) - 1]
    print(
        f"one-way audio latency over {len(values)} bursts: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms (round trip ~{2 * p50 * 1000:.0f} ms)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"benchmark": "transport", "values": values, "p50": p50, "p95": p95}, indent=2)
    )


if __name__ == "__main__":
    main()
