"""How well post-call analysis reads the labelled set (`benchmarks/analysis_set/`: 80 calls,
48 English and 32 Arabic), through the API.

A control plane (`python -m control_plane serve`, SQLite) and the agents' language model: the
embedded one (`pipelines.llm.serve`, SmolLM2-135M) by default, or any OpenAI-compatible model
(`--llm-model gpt-4o-mini --openai-base-url ... --openai-key ...`). One agent per kind of call
(restaurant, clinic, telecom support, delivery) carries the set's intents, data fields and
criteria as its `analysis` settings; each call's transcript goes to
`POST /voice-agents/{id}/analysis-preview` (the work the job does after a call, stored
nowhere), and what comes back is scored against the labels:

  sentiment   the sign of the caller's overall sentiment (calls labelled positive or
              negative), and each caller message's label
  resolution  resolved / unresolved / escalated
  intents     the labelled intents found (recall) and the found ones labelled (precision)
  data        per field: values found that equal the label (precision, recall)
  criteria    yes/no answers that equal the label
  usable      answers of the model that were a JSON object

`--model-answers labels` replaces the model with the fake OpenAI answering each call with its
own labels, as a perfect model would: what is then lost is lost by the checks and the plumbing
(the prompt, the JSON parsing, the JSON Schema of each field), not by a model.

The peer, in the same run, is the answer that needs no model: the most common label of the set
for each part (all calls "resolved", each kind's most common intent, every criterion its most
common answer, no data), and for sentiment the most common sign. Each part's ratio is ours over
the peer's. Prints a table and writes JSON.

    .venv/bin/python benchmarks/analysis.py                 # all 80 calls, the embedded model
    .venv/bin/python benchmarks/analysis.py --limit 16      # the first 8 English, 8 Arabic
    .venv/bin/python benchmarks/analysis.py --model-answers labels   # the plumbing alone
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines import llama_server_command  # noqa: E402
from shared.stats import percentile  # noqa: E402
from simulator.stack import (  # noqa: E402
    ManagedProcess,
    admin,
    control_plane_process,
    fake_openai_process,
    http_ok,
)

SET = ROOT / "benchmarks/analysis_set/conversations.json"
CONTROL_PLANE_PORT = 9398
LLM_PORT = 9388
FAKE_PORT = 9399
FAKE_KEY = "sk-bench-analysis"
"""Clear of the test suite's ports."""
UNLIMITED = "1000000/minute"


def pick(conversations: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """All of them, or the first `limit / 2` of each language."""
    if limit is None:
        return conversations
    half = max(1, limit // 2)
    return [c for c in conversations if c["language"] == "en"][:half] + [
        c for c in conversations if c["language"] == "ar"
    ][:half]


def sign(label: str) -> int:
    return {"positive": 1, "negative": -1}.get(label, 0)


class Tally:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()

    def add(self, part: str, hit: bool) -> None:
        self.totals[part] += 1
        self.hits[part] += int(hit)

    def share(self, part: str) -> float | None:
        return self.hits[part] / self.totals[part] if self.totals[part] else None


def score(tally: Tally, call: dict[str, Any], got: dict[str, Any]) -> None:
    """Add one call's answer to `tally`."""
    labels = call["labels"]
    if sign(labels["sentiment"]):
        tally.add(
            "sentiment_sign", sign(got.get("sentiment") or "neutral") == sign(labels["sentiment"])
        )
    said = [m for m in got.get("message_sentiments") or []]
    for expected, found in zip(labels["message_sentiments"], said, strict=False):
        tally.add("message_sentiment", found.get("label") == expected)
    tally.add("resolution", got.get("resolution") == labels["resolution"])
    found_intents = set(got.get("intents") or [])
    for intent in labels["intents"]:
        tally.add("intent_recall", intent in found_intents)
    for intent in found_intents:
        tally.add("intent_precision", intent in labels["intents"])
    data = got.get("data_collected") or {}
    for name, value in labels["data_collected"].items():
        tally.add("data_recall", data.get(name) == value)
    for name, value in data.items():
        tally.add("data_precision", labels["data_collected"].get(name) == value)
    criteria = got.get("criteria") or {}
    for name, expected in labels["criteria"].items():
        tally.add("criteria", (criteria.get(name) or {}).get("result") == expected)
    tally.add("usable", got.get("problem") is None)


def labels_as_answer(call: dict[str, Any]) -> str:
    """What a perfect model would answer for `call`."""
    labels = call["labels"]
    return json.dumps(
        {
            "summary": f"A {call['agent_kind']} call.",
            "intents": labels["intents"],
            "resolution": labels["resolution"],
            "data_collected": labels["data_collected"],
            "criteria": {
                name: {"result": value, "evidence": "(labelled)"}
                for name, value in labels["criteria"].items()
            },
        },
        ensure_ascii=False,
    )


async def set_fake_answer(call: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as fake:
        answered = await fake.post(
            f"http://127.0.0.1:{FAKE_PORT}/_fake/config", json={"replies": [labels_as_answer(call)]}
        )
        answered.raise_for_status()


def peer_answers(conversations: list[dict[str, Any]], everything: dict[str, Any]) -> dict[str, Any]:
    """The model-free answer for each kind: the set's most common labels."""
    calls = everything["conversations"]
    resolution = Counter(c["labels"]["resolution"] for c in calls).most_common(1)[0][0]
    mood = Counter(
        c["labels"]["sentiment"] for c in calls if sign(c["labels"]["sentiment"])
    ).most_common(1)[0][0]
    message = Counter(m for c in calls for m in c["labels"]["message_sentiments"]).most_common(1)[
        0
    ][0]
    kinds: dict[str, Any] = {}
    for kind in everything["intents"]:
        of_kind = [c for c in calls if c["agent_kind"] == kind]
        intent = Counter(i for c in of_kind for i in c["labels"]["intents"]).most_common(1)[0][0]
        criteria = {
            name: Counter(c["labels"]["criteria"][name] for c in of_kind).most_common(1)[0][0]
            for name in of_kind[0]["labels"]["criteria"]
        }
        kinds[kind] = {"intents": [intent], "criteria": criteria}
    return {"resolution": resolution, "sentiment": mood, "message": message, "kinds": kinds}


def peer_reply(call: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    kind = peer["kinds"][call["agent_kind"]]
    return {
        "sentiment": peer["sentiment"],
        "message_sentiments": [
            {"label": peer["message"]} for _ in call["labels"]["message_sentiments"]
        ],
        "resolution": peer["resolution"],
        "intents": kind["intents"],
        "data_collected": {},
        "criteria": {k: {"result": v} for k, v in kind["criteria"].items()},
        "problem": None,
    }


async def measure(api: str, key: str, args: argparse.Namespace) -> dict[str, Any]:
    everything = json.loads(SET.read_text("utf-8"))
    calls = pick(everything["conversations"], args.limit)
    headers = {"x-api-key": key}
    ours, peer_tally = Tally(), Tally()
    peer = peer_answers(calls, everything)
    seconds: list[float] = []
    failures: list[str] = []
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=600) as client:
        if args.openai_key:
            connected = await client.post("/integrations/openai", json={"api_key": args.openai_key})
            connected.raise_for_status()
        agents: dict[str, str] = {}
        for kind, intents in everything["intents"].items():
            fields = everything["data_fields"][kind]
            created = await client.post(
                "/voice-agents",
                json={
                    "name": f"Bench {kind}",
                    "llm_model": args.llm_model,
                    "analysis": {
                        "intents": intents,
                        "data_collection": fields["properties"],
                        "success_criteria": everything["criteria"][kind],
                    },
                },
            )
            created.raise_for_status()
            agents[kind] = created.json()["id"]
        for n, call in enumerate(calls, 1):
            if args.model_answers == "labels":
                await set_fake_answer(call)
            began = time.perf_counter()
            answer = await client.post(
                f"/voice-agents/{agents[call['agent_kind']]}/analysis-preview",
                json={"messages": call["messages"], "language": call["language"]},
            )
            took = time.perf_counter() - began
            if answer.status_code != 200:
                failures.append(f"{call['id']}: {answer.status_code} {answer.text[:200]}")
                continue
            seconds.append(took)
            if answer.json().get("problem") and len(problems) < 3:
                problems.append(f"{call['id']}: {answer.json()['problem'][:300]}")
            score(ours, call, answer.json())
            score(peer_tally, call, peer_reply(call, peer))
            print(f"  {n}/{len(calls)} {call['id']} {took:.1f} s", flush=True)
    parts = sorted(set(ours.totals) | set(peer_tally.totals))
    return {
        "calls": len(calls),
        "languages": dict(Counter(c["language"] for c in calls)),
        "failures": failures,
        "problems": problems,
        "seconds_per_call": {
            "p50": percentile(seconds, 0.5, method="nearest"),
            "p95": percentile(seconds, 0.95, method="nearest"),
        },
        "parts": {
            part: {
                "ours": ours.share(part),
                "peer": peer_tally.share(part),
                "n": ours.totals[part],
                "ratio": (ours.share(part) or 0) / peer_tally.share(part)  # type: ignore[operator]
                if peer_tally.share(part)
                else None,
            }
            for part in parts
        },
    }


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def table(results: dict[str, Any]) -> str:
    lines = [
        f"post-call analysis of {results['measured']['calls']} labelled calls "
        f"({results['measured']['languages']}), model {results['llm_model']}"
        + (" answering with the labels" if results["model_answers"] == "labels" else ""),
        "",
        f"{'part':<18} {'ours':>6} {'peer':>6} {'ratio':>6} {'n':>5}",
    ]
    for part, row in results["measured"]["parts"].items():
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(
            f"{part:<18} {pct(row['ours']):>6} {pct(row['peer']):>6} {ratio:>6} {row['n']:>5}"
        )
    per = results["measured"]["seconds_per_call"]
    lines += [
        "",
        f"seconds per call: p50 {per['p50'] or 0:.1f}, p95 {per['p95'] or 0:.1f}",
        "peer: the set's most common label for each part (no model)",
    ]
    if results["measured"]["failures"]:
        lines.append(f"failed requests: {len(results['measured']['failures'])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="calls (half of each language)")
    parser.add_argument("--llm-model", default="local")
    parser.add_argument(
        "--model-answers",
        choices=["model", "labels"],
        default="model",
        help="labels: the fake OpenAI answers each call with its labels (the plumbing alone)",
    )
    parser.add_argument("--openai-base-url", default=None)
    parser.add_argument("--openai-key", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    fake: ManagedProcess | None = None
    if args.model_answers == "labels":
        args.llm_model = "gpt-4o-mini"
        args.openai_base_url = f"http://127.0.0.1:{FAKE_PORT}/v1"
        args.openai_key = FAKE_KEY

    log_dir = ROOT / ".cache/logs/bench-analysis"
    wall = time.perf_counter()
    llm: ManagedProcess | None = None
    control_plane: ManagedProcess | None = None
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite+aiosqlite:///{tmp}/analysis.db"
        env = {
            "PROVIDER_KEYS_SECRET": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "DATA_DIR": tmp,
            "RATE_LIMIT": UNLIMITED,
            "ANALYSIS": "false",
            "ANALYSIS_EMBEDDED_MODEL": "true",
            "LLM_BASE_URL": f"http://127.0.0.1:{LLM_PORT}/v1",
            **({"OPENAI_BASE_URL": args.openai_base_url} if args.openai_base_url else {}),
        }
        try:
            if args.model_answers == "labels":
                fake = fake_openai_process(
                    FAKE_PORT, log_dir / "fake-openai.log", "--api-key", FAKE_KEY
                )
            if args.llm_model == "local":
                llm = ManagedProcess(
                    "llm-server",
                    llama_server_command(host="127.0.0.1", port=LLM_PORT),
                    log_dir / "llm.log",
                    dict(os.environ),
                )
                llm.start()
                llm.wait_until(
                    lambda: http_ok(f"http://127.0.0.1:{LLM_PORT}/v1/models"), 120, "no LLM server"
                )
            control_plane = control_plane_process(
                CONTROL_PLANE_PORT,
                database_url=store,
                log_path=log_dir / "control-plane.log",
                env=env,
            )
            company = admin(store, "create-company", "Bench Analysis")
            started = time.time()
            load = os.getloadavg()
            measured = asyncio.run(
                measure(f"http://127.0.0.1:{CONTROL_PLANE_PORT}", company["api_key"], args)
            )
        finally:
            if control_plane is not None:
                control_plane.stop()
            if llm is not None:
                llm.stop()
            if fake is not None:
                fake.stop()
    results = {
        "benchmark": "analysis",
        "started_at": started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "llm_model": args.llm_model,
        "model_answers": args.model_answers,
        "seconds": time.perf_counter() - wall,
        "measured": measured,
    }
    print()
    print(table(results))
    print(f"\nthe run took {results['seconds']:.0f} s")
    out = args.out or ROOT / "benchmarks/results" / (
        "analysis-labels.json" if args.model_answers == "labels" else "analysis.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
