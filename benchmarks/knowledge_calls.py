"""What knowledge adds to a call's voice-to-voice latency, measured from the caller's side.

Agents on the same worker, stack and models, the same prompt and greeting: `plain` has no
knowledge; `knows` has the shop's English documents of the knowledge QA set
(`knowledge_qa/`) with the default settings; `knows_top3` the same documents with every
passage of the top 3 over `min_score` put before the model (no `score_margin`). Calls
alternate between them, one at a time; each call asks questions of the QA set that its
documents answer. Prints, per agent, the caller-side voice-to-voice latency
and the agent-side stages (p50/p95), the difference and ratio to `plain`, and from the
worker's log how long each search took and how long the LLM request waited for it (the
search starts with preemptive generation, while the hold decides the end of the turn).
Writes everything as JSON.

`--llm cloud` puts the agents on an OpenAI model served by the fake OpenAI in its own process
(`--ttft-ms` to the first token, plus `--prefill-ms-per-1k` per 1,000 prompt tokens: a hosted
model reads a longer prompt for a little longer), the rest of the call on the same embedded
STT and TTS: what knowledge adds when the model reads the passages as fast as a hosted one.

    .venv/bin/python benchmarks/knowledge_calls.py --calls 5 --turns 3
    .venv/bin/python benchmarks/knowledge_calls.py --llm cloud --calls 8 --turns 3
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.stats import percentile  # noqa: E402
from simulator.caller import CallReport, CallScript, Utterance, join_conversation  # noqa: E402
from simulator.speech import render_speech  # noqa: E402
from simulator.stack import (  # noqa: E402
    Stack,
    StackConfig,
    admin,
    control_plane_process,
    fake_openai_process,
)

QA_DIR = ROOT / "benchmarks/knowledge_qa"
AGENT_NAME = "bench-knowledge"
CONTROL_PLANE_PORT = 9395
FAKE_OPENAI_PORT = 9394
OPENAI_KEY = "sk-bench-knowledge-calls"
STAGES = ["end_of_utterance_delay", "llm_ttft", "agent_llm_node_ttfs", "tts_ttfb"]
QUESTIONS = [
    "How long do I have to return something?",
    "Is the Leeds shop open on Sundays?",
    "How much is standard delivery?",
    "How long is the guarantee on a sofa frame?",
    "Can I pay with PayPal?",
    "Do you deliver to Germany?",
]
"""Questions of the QA set that its English documents answer, phrased so a synthetic voice
is transcribed well; each must be one of the set's (checked at start)."""
AGENTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "knows": {},
    "knows_top3": {"knowledge": {"score_margin": 1.0}},
}
"""Without knowledge; with it (the defaults: passages within 0.02 of the best); with it and
every passage of the top 3 over `min_score` (no margin)."""
SEARCHED = re.compile(r"knowledge: (\d+) passage\(s\).*searched in ([\d.]+) ms")
WAITED = re.compile(r"knowledge: the LLM request waited ([\d.]+) ms")


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def summarize(reports: list[CallReport]) -> dict[str, Any]:
    turns = [t for r in reports for t in r.turns]
    v2v = [t.voice_to_voice for t in turns if t.voice_to_voice is not None]
    out: dict[str, Any] = {
        "calls": len(reports),
        "turns": len(turns),
        "missed_replies": sum(1 for t in turns if t.reply is None),
        "voice_to_voice": {
            "p50": percentile(v2v, 0.5),
            "p95": percentile(v2v, 0.95),
            "mean": statistics.fmean(v2v) if v2v else None,
            "values": v2v,
        },
    }
    for stage in STAGES:
        vals = [t.agent_metrics[stage] for t in turns if stage in t.agent_metrics]
        out[stage] = {"p50": percentile(vals, 0.5), "p95": percentile(vals, 0.95), "n": len(vals)}
    return out


def from_log(text: str) -> dict[str, Any]:
    """The worker's own account of its searches (seconds)."""
    searches = [(int(n), float(t) / 1000) for n, t in SEARCHED.findall(text)]
    waits = [float(t) / 1000 for t in WAITED.findall(text)]
    found = [n for n, _ in searches]
    return {
        "searches": len(searches),
        "with_passages": sum(1 for n in found if n),
        "search": {
            "p50": percentile([t for _, t in searches], 0.5),
            "p95": percentile([t for _, t in searches], 0.95),
        },
        "llm_request_waited": {
            "p50": percentile(waits, 0.5),
            "p95": percentile(waits, 0.95),
            "n": len(waits),
        },
    }


def table(results: dict[str, Any]) -> str:
    agents = results["agents"]
    head = f"{'metric (ms)':<26}" + "".join(f"{a + ' p50':>12}{a + ' p95':>12}" for a in agents)
    lines = [head, "-" * len(head)]
    for row in ["voice_to_voice", *STAGES]:
        line = f"{row:<26}"
        for res in agents.values():
            line += f"{ms(res[row]['p50']):>12}{ms(res[row]['p95']):>12}"
        lines.append(line)
    plain = agents["plain"]["voice_to_voice"]
    for name in ("knows", "knows_top3"):
        knows = agents[name]["voice_to_voice"]
        if knows["p50"] and plain["p50"]:
            lines.append(
                f"{name} adds to voice-to-voice: p50 {ms(knows['p50'] - plain['p50'])} ms "
                f"(ratio {name}/plain {knows['p50'] / plain['p50']:.2f}), "
                f"p95 {ms(knows['p95'] - plain['p95'])} ms"
            )
    log = results["worker_log"]
    lines.append(
        f"searches: {log['searches']} ({log['with_passages']} found passages), "
        f"search p50 {ms(log['search']['p50'])} ms p95 {ms(log['search']['p95'])} ms; "
        f"the LLM request waited for it p50 {ms(log['llm_request_waited']['p50'])} ms "
        f"p95 {ms(log['llm_request_waited']['p95'])} ms"
    )
    for name, res in agents.items():
        lines.append(
            f"{name}: {res['calls']} calls, {res['turns']} turns, "
            f"{res['missed_replies']} missed replies"
        )
    return "\n".join(lines)


async def make_agents(api: str, headers: dict[str, str], cloud: bool) -> dict[str, str]:
    """The agents, the knowledge of two ingested; name -> agent id. `cloud`: on an OpenAI
    model, the company's key connected."""
    common: dict[str, Any] = {
        "voice_id": "local:en_US-joe-medium",
        "active": True,
        "temperature": 0.0,
        "first_message": "Hello, this is Northwind Home. How can I help?",
        "system_prompt": "You answer the callers of Northwind Home, a home goods shop, briefly.",
    }
    if cloud:
        common["llm_model"] = "gpt-4o-mini"
    ids: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as client:
        if cloud:
            resp = await client.post("/integrations/openai", json={"api_key": OPENAI_KEY})
            resp.raise_for_status()
        for name, extra in AGENTS.items():
            created = await client.post("/voice-agents", json={"name": name, **common, **extra})
            created.raise_for_status()
            ids[name] = created.json()["id"]
        items = []
        for doc in sorted((QA_DIR / "documents").glob("*_en.txt")):
            if doc.stem == "hotel_en":  # another business
                continue
            for name in ("knows", "knows_top3"):
                body = {"agent_id": ids[name], "title": doc.stem, "content": doc.read_text()}
                added = await client.post("/v1/api/knowledge-base/text", json=body)
                added.raise_for_status()
                items.append(added.json()["data"]["id"])
        deadline = time.monotonic() + 600
        while items:
            if time.monotonic() > deadline:
                raise TimeoutError("the knowledge base was not ingested in 10 minutes")
            item = (await client.get(f"/v1/api/knowledge-base/{items[0]}")).json()["data"]
            if item["status"] == "failed":
                raise RuntimeError(f"ingestion failed: {item}")
            if item["status"] == "ready":
                items.pop(0)
            else:
                await asyncio.sleep(0.5)
    return ids


async def run(
    api: str, headers: dict[str, str], ids: dict[str, str], calls: int, turns: int
) -> dict[str, list[CallReport]]:
    reports: dict[str, list[CallReport]] = {name: [] for name in ids}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as client:
        for i in range(calls):
            asked = [QUESTIONS[(i * turns + k) % len(QUESTIONS)] for k in range(turns)]
            script = CallScript(
                turns=[Utterance(render_speech(q), q) for q in asked],
                greeting_timeout=60,
                reply_timeout=30,
            )
            for name, agent_id in ids.items():
                started = await client.post(
                    "/conversations", json={"agent_id": agent_id, "user_id": f"bench-{i}"}
                )
                started.raise_for_status()
                d = started.json()["connection_details"]
                report = await join_conversation(
                    d["websocket_url"], d["token"], d["room_name"], script
                )
                reports[name].append(report)
                v2v = [ms(t.voice_to_voice) if t.voice_to_voice else "miss" for t in report.turns]
                print(
                    f"call {i + 1}/{calls} {name:>10}: voice-to-voice ms {' '.join(v2v)}",
                    flush=True,
                )
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--llm", choices=["embedded", "cloud"], default="embedded")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="cloud: time to first token")
    parser.add_argument("--token-ms", type=float, default=20.0, help="cloud: time per token")
    parser.add_argument(
        "--prefill-ms-per-1k",
        type=float,
        default=100.0,
        help="cloud: time to first token per 1,000 prompt tokens",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cloud = args.llm == "cloud"
    suffix = "_cloud" if cloud else ""
    out = args.out or ROOT / f"benchmarks/results/knowledge_calls{suffix}.json"
    qa = json.loads((QA_DIR / "questions.json").read_text(encoding="utf-8"))
    known = {item["q"] for item in qa["answerable"]}
    assert set(QUESTIONS) <= known, set(QUESTIONS) - known

    log_dir = ROOT / f".cache/logs/bench-knowledge-calls{suffix}"
    fake_url = f"http://127.0.0.1:{FAKE_OPENAI_PORT}"
    provider_env = {
        "OPENAI_BASE_URL": f"{fake_url}/v1",
        "PROVIDER_KEYS_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory() as tmp:
        if cloud:
            fake = fake_openai_process(
                FAKE_OPENAI_PORT,
                log_dir / "fake-openai.log",
                *("--ttft-ms", str(args.ttft_ms), "--token-ms", str(args.token_ms)),
                *("--prefill-ms-per-1k", str(args.prefill_ms_per_1k), "--api-key", OPENAI_KEY),
            )
            cleanup.callback(fake.stop)
        store = f"sqlite+aiosqlite:///{tmp}/knowledge-calls.db"
        subprocess.run(
            [sys.executable, "-m", "control_plane", "migrate"],
            env={**os.environ, "DATABASE_URL": store},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        config = StackConfig(
            livekit_port=7880 + 330,
            livekit_udp_port=7882 + 330,
            llm_port=8391,
            worker_http_port=0,
            agent_name=AGENT_NAME,
            log_dir=log_dir,
            worker_env={"DATABASE_URL": store, **provider_env},
        )
        started = time.time()
        with Stack(config) as stack:
            control_plane = control_plane_process(
                CONTROL_PLANE_PORT,
                database_url=store,
                log_path=log_dir / "control-plane.log",
                env={
                    "LIVEKIT_URL": config.livekit_url,
                    "LIVEKIT_API_KEY": stack.key,
                    "LIVEKIT_API_SECRET": stack.secret,
                    "VOICE_AGENT_NAME": AGENT_NAME,
                    **provider_env,
                },
            )
            try:
                company = admin(store, "create-company", "Northwind Home")
                api = f"http://127.0.0.1:{CONTROL_PLANE_PORT}"
                headers = {"Authorization": f"Bearer {company['api_key']}"}
                ids = asyncio.run(make_agents(api, headers, cloud))
                reports = asyncio.run(run(api, headers, ids, args.calls, args.turns))
            finally:
                control_plane.stop()
            worker_log = stack.processes["worker"].log_path.read_text(errors="replace")
    results = {
        "benchmark": "knowledge_calls",
        "started_at": started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "llm": (
            {
                "model": "fake OpenAI gpt-4o-mini",
                "ttft_ms": args.ttft_ms,
                "token_ms": args.token_ms,
                "prefill_ms_per_1k": args.prefill_ms_per_1k,
            }
            if cloud
            else {"model": "embedded SmolLM2-135M"}
        ),
        "calls": args.calls,
        "turns_per_call": args.turns,
        "agents": {name: summarize(r) for name, r in reports.items()},
        "worker_log": from_log(worker_log),
    }
    print()
    print(table(results))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
