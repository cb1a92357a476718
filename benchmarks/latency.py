"""Caller-side voice-to-voice latency on the embedded offline stack, with a same-run peer.

Starts its own stack (livekit-server, llama.cpp server) and two workers with the same models:
  ours   our tuned defaults (webrtcvad, short-window Whisper, fast endpointing, LLM warm-up)
  stock  livekit-agents' defaults as its quickstart runs them (Silero VAD, 0.5 s endpointing
         delay, faster-whisper's 30 s window): `peers/livekit_embedded.py`
and places N calls of several turns to each, one call at a time, alternating. `--peers` may
also name variants of ours with one of its first-word measures changed (VARIANTS), each in its
own worker, to measure what that measure is worth in the same run. Prints p50/p95 of
caller-side voice-to-voice latency and of each agent-side stage, the ratio ours/stock, and
writes everything as JSON.

    .venv/bin/python benchmarks/latency.py --calls 5 --turns 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.stats import percentile  # noqa: E402
from simulator.caller import CallReport, CallScript, Utterance, place_call  # noqa: E402
from simulator.speech import render_speech  # noqa: E402
from simulator.stack import Stack, StackConfig  # noqa: E402

QUESTIONS = [
    "Hi there. What is the capital of France?",
    "Can you tell me something about cats?",
    "What should I cook for dinner tonight?",
    "How far away is the moon?",
    "Thanks. What is a good name for a dog?",
    "Why is the sky blue?",
]
STAGES = [
    "end_of_utterance_delay",
    "stt_duration",
    "llm_ttft",
    "agent_llm_node_ttfs",
    "tts_ttfb",
    "agent_e2e_latency",
]
PEERS = {"ours": "bench-ours", "stock": "bench-stock"}
HOLD = 0.6
VARIANTS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    # name: (worker environment, inline agent config)
    "sentences": ({"TTS_CHUNKS": "sentence"}, {}),
    "no-warm-up": ({"LLM_WARM_UP": "false"}, {}),
    # the STT segmenter closes a segment only when the turn's hold has passed
    "stt-at-commit": ({}, {"turn_detection": {"stt_silence_duration": HOLD}}),
    "preemptive-tts": ({"PREEMPTIVE_TTS": "true"}, {}),
}
STOCK_PEER = ROOT / "benchmarks/peers/livekit_embedded.py"


def summarize(reports: list[CallReport]) -> dict[str, Any]:
    turns = [t for r in reports for t in r.turns]
    v2v = [t.voice_to_voice for t in turns if t.voice_to_voice is not None]
    out: dict[str, Any] = {
        "calls": len(reports),
        "turns": len(turns),
        "missed_replies": sum(1 for t in turns if t.reply is None),
        "greetings_missed": sum(1 for r in reports if r.greeting is None),
        "voice_to_voice": {
            "p50": percentile(v2v, 0.5),
            "p95": percentile(v2v, 0.95),
            "mean": statistics.fmean(v2v) if v2v else None,
            "values": v2v,
        },
        "per_turn": [
            {"said": t.said, "voice_to_voice": t.voice_to_voice, **t.agent_metrics} for t in turns
        ],
    }
    for stage in STAGES:
        vals = [t.agent_metrics[stage] for t in turns if stage in t.agent_metrics]
        out[stage] = {"p50": percentile(vals, 0.5), "p95": percentile(vals, 0.95), "n": len(vals)}
    return out


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = ["voice_to_voice", *STAGES]
    head = f"{'metric (ms)':<26}" + "".join(f"{p + ' p50':>12}{p + ' p95':>12}" for p in results)
    lines = [head, "-" * len(head)]
    for row in rows:
        line = f"{row:<26}"
        for res in results.values():
            line += f"{fmt(res[row]['p50']):>12}{fmt(res[row]['p95']):>12}"
        lines.append(line)
    if {"ours", "stock"} <= results.keys():
        o, s = results["ours"]["voice_to_voice"], results["stock"]["voice_to_voice"]
        if o["p50"] and s["p50"]:
            lines.append(
                f"\nratio ours/stock voice-to-voice: p50 {o['p50'] / s['p50']:.2f}, "
                f"p95 {o['p95'] / s['p95']:.2f}"
            )
    for name in (n for n in results if n in VARIANTS):
        o, v = results.get("ours", {}).get("voice_to_voice"), results[name]["voice_to_voice"]
        if o and o["p50"] and v["p50"]:
            lines.append(
                f"ratio {name}/ours voice-to-voice: p50 {v['p50'] / o['p50']:.2f}, "
                f"p95 {v['p95'] / o['p95']:.2f}"
            )
    for name, res in results.items():
        lines.append(
            f"{name}: {res['calls']} calls, {res['turns']} turns, "
            f"{res['missed_replies']} missed replies, {res['greetings_missed']} missed greetings"
        )
    return "\n".join(lines)


async def run(stack: Stack, calls: int, turns: int, peers: list[str]) -> dict[str, Any]:
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(turns)]
    utterances = [Utterance(render_speech(q), q) for q in questions]
    reports: dict[str, list[CallReport]] = {p: [] for p in peers}
    for i in range(calls):
        for peer in peers:
            agent = VARIANTS.get(peer, ({}, {}))[1]
            script = CallScript(
                turns=utterances,
                agent_name=agent_name(peer),
                reply_timeout=20,
                metadata=json.dumps({"agent": agent}) if agent else "",
            )
            report = await place_call(stack.endpoint, script)
            reports[peer].append(report)
            v2v = [
                f"{t.voice_to_voice * 1000:.0f}" if t.voice_to_voice else "miss"
                for t in report.turns
            ]
            print(f"call {i + 1}/{calls} {peer:>5}: voice-to-voice ms {' '.join(v2v)}", flush=True)
    return {p: summarize(r) for p, r in reports.items()}


def agent_name(peer: str) -> str:
    return PEERS.get(peer, f"bench-{peer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument(
        "--peers",
        default="ours,stock",
        help=f"comma list of: ours, stock, {', '.join(VARIANTS)}",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/latency.json")
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS and p not in VARIANTS]
    if unknown:
        parser.error(f"unknown peers: {', '.join(unknown)}")

    config = StackConfig(
        livekit_port=7880 + 300,
        livekit_udp_port=7882 + 300,
        llm_port=8388,
        worker_http_port=0,
        log_dir=ROOT / ".cache/logs/bench",
    )
    started = time.time()
    with Stack(config, worker=False) as stack:
        for peer in peers:
            argv = [sys.executable, str(STOCK_PEER), "start"] if peer == "stock" else None
            env = VARIANTS.get(peer, ({}, {}))[0]
            stack.start_worker(
                f"worker-{peer}", agent_name=agent_name(peer), http_port=0, argv=argv, env=env
            )
        results = asyncio.run(run(stack, args.calls, args.turns, peers))
    print()
    print(table(results))
    payload = {
        "benchmark": "latency",
        "started_at": started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "calls": args.calls,
        "turns_per_call": args.turns,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
