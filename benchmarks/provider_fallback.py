"""What a failing cloud voice costs the caller: time to first audio of a reply, through the
TTS a call gets (`pipelines.factory.build_tts`), with the fake ElevenLabs server healthy or
failing in each way, and the local voice alone as the peer in the same run.

    .venv/bin/python benchmarks/provider_fallback.py --runs 10

The fake adds `--ttfb-ms` before its first audio (ElevenLabs' turbo models answer in roughly
150-300 ms), so the "healthy" row is that plus our overhead; each failure row shows what the
retries and the fallback add on top of the local voice.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livekit.agents.utils import http_context  # noqa: E402

from agent.contract import AgentConfig  # noqa: E402
from fake_providers.common import Fault  # noqa: E402
from fake_providers.elevenlabs import FakeElevenLabs  # noqa: E402
from pipelines import (  # noqa: E402
    CloudSettings,
    Engines,
    EngineSettings,
    ProviderCredentials,
    attempt_options,
    build_tts,
    is_fallback,
)

KEY = "sk_bench_0001"
TEXT = "Your order will be ready in ten minutes. Thank you for waiting."
CASES: dict[str, Fault | None] = {
    "local voice only (peer)": None,
    "cloud, healthy": Fault(),
    "cloud, 503 once then served": Fault(status=503, times=1),
    "cloud, key rejected (401)": Fault(status=401),
    "cloud, down (500)": Fault(status=500),
    "cloud, websocket drops": Fault(drop_after_chunks=0),
    "cloud, stalls past timeout": Fault(latency_ms=60_000),
}


async def first_audio(engines: Engines, voice_id: str) -> float:
    """Seconds from the reply's text to its first audio frame."""
    keys = ProviderCredentials(elevenlabs=KEY)
    tts = build_tts(AgentConfig(voice_id=voice_id), engines, keys)
    options = attempt_options(engines.settings.cloud, cloud_first=is_fallback(tts), voice=True)
    stream = tts.stream(conn_options=options)
    start = time.perf_counter()
    stream.push_text(TEXT)
    stream.end_input()
    first = None
    async with stream:
        async for _audio in stream:
            if first is None:
                first = time.perf_counter() - start
    await tts.aclose()
    assert first is not None, "no audio"
    return first


async def run(
    runs: int, ttfb_ms: float, tts_timeout: float, retries: int
) -> dict[str, list[float]]:
    fake = FakeElevenLabs(valid_keys=[KEY], tts_ttfb_ms=ttfb_ms)
    base = await fake.start()
    cloud = CloudSettings(elevenlabs_base_url=base, tts_timeout=tts_timeout, tts_max_retry=retries)
    engines = Engines(EngineSettings(cloud=cloud))
    http_context._new_session_ctx()
    results: dict[str, list[float]] = {}
    try:
        for name, fault in CASES.items():
            voice = "local:en_US-joe-medium" if fault is None else "EXAVITQu4vr4xnSDxMaL"
            values = []
            for _ in range(runs + 1):  # the first run warms up, and is dropped
                fake.state.faults.clear()
                if fault is not None:
                    fake.state.faults["tts_ws"] = dataclasses.replace(fault)
                values.append(await first_audio(engines, voice))
            results[name] = values[1:]
    finally:
        await http_context._close_http_ctx()
        await fake.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--ttfb-ms", type=float, default=150.0)
    parser.add_argument("--timeout", type=float, default=2.0, help="TTS_TIMEOUT_SECONDS")
    parser.add_argument("--retries", type=int, default=1, help="retries before the fallback")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/provider_fallback.json"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.runs, args.ttfb_ms, args.timeout, args.retries))
    peer = statistics.median(results["local voice only (peer)"])
    rows = []
    print(
        f"time to first audio, {args.runs} runs each (fake TTFB {args.ttfb_ms:.0f} ms, "
        f"timeout {args.timeout:.1f} s, {args.retries} retries)"
    )
    print(f"{'case':32} {'p50 ms':>8} {'max ms':>8} {'/ local':>8}")
    for name, values in results.items():
        p50 = statistics.median(values)
        rows.append({"case": name, "p50": p50, "max": max(values), "ratio_to_local": p50 / peer})
        print(f"{name:32} {p50 * 1000:8.0f} {max(values) * 1000:8.0f} {p50 / peer:8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "provider_fallback",
                "runs": args.runs,
                "ttfb_ms": args.ttfb_ms,
                "timeout_s": args.timeout,
                "retries": args.retries,
                "rows": rows,
                "values": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
