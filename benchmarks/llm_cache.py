"""What prompt-cache size the embedded LLM server needs: time to first token and memory of
llama-cpp-python's server with no cache, a small one and today's default (2 GiB).

For each cache setting (`--caches`, MiB, `off` for `--cache false`) and each number of
simultaneous calls (`--concurrency`), the LLM server starts afresh in its own process, with
the command line the stack uses (`pipelines.llama_server_command`) and only `--cache` /
`--cache_size` changed (and `--verbose true`, to count the cache's hits in its log). Each
simulated call replays what the worker sends per turn: when the agent stops speaking, a
warm-up (the conversation so far, streamed, only its first token read); while the caller
speaks (`--caller-s`), nothing; then the real request (the same messages and the caller's new
words), its reply streamed and added to the conversation, and the agent speaks it
(`--agent-s`). With several calls their turns interleave (starts `--stagger-s` apart), so
their requests queue in the server (`--interrupt_requests false`) and each finds the model's
context holding another call's conversation: only the cache keeps its own.

Prints, per cache setting and number of calls, the real request's time to first token
(p50/p95, what the caller waits for) and its ratio to the 2 GiB default of the same run (the
machines are noisy), the warm-up's, the server's RSS (with its children) at start, end and
peak (sampled every 0.2 s and after every turn), and from its log the cache hits and the
prompt tokens it read. Writes everything as JSON.

The server is the stack's (`pipelines.llm.serve`: llama-cpp-python's server whose RAM cache
keeps one row of each state's logits buffer, and no logits of prompt tokens); llama-cpp-python's
own cache kept a ~100 MB logits copy with each state that it did not count, and the server
grew past 3 GB on three calls.

    .venv/bin/python benchmarks/llm_cache.py
    .venv/bin/python benchmarks/llm_cache.py --caches off,64 --concurrency 1 --turns 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines import llama_server_command  # noqa: E402
from shared.stats import percentile  # noqa: E402
from simulator.stack import ManagedProcess, ensure_port_free, http_ok  # noqa: E402

MIB = 1 << 20
DEFAULT_CACHE = "2048"
"""llama-cpp-python's default `--cache_size` (2 GiB), what `--cache true` gives today."""
SYSTEM_PROMPT = (
    "You are Maya, the phone assistant of Northwind Home, a shop selling furniture, "
    "lighting and kitchenware in Leeds and online. You talk to callers on the phone, so "
    "answer in one or two short sentences of plain speech, without lists, markdown or "
    "emojis. Be friendly and concrete. The shop is open Monday to Saturday from 9 to 6 "
    "and Sunday from 10 to 4. Standard delivery costs 5 pounds and takes three to five "
    "working days; orders over 50 pounds are delivered free. Returns are accepted within "
    "30 days with a receipt. If you do not know something, offer to pass the caller to a "
    "colleague."
)
GREETING = "Hello, this is Northwind Home. How can I help?"
QUESTIONS = [
    "Hi, I wanted to ask whether the Leeds shop is open on Sunday afternoons.",
    "How much does standard delivery cost for a small order like a lamp?",
    "I bought a kettle last week and it leaks, can I still return it?",
    "Do you have oak dining tables that seat six people in stock right now?",
    "How long does delivery usually take if I order a sofa today?",
    "Can I pay for my order with PayPal or only with a card?",
    "Is there free delivery if my order is over fifty pounds?",
    "My parcel has not arrived yet and it has been six days, what should I do?",
    "Do you sell replacement bulbs for the brass floor lamp I bought from you?",
    "Could I pick up my order in the shop instead of having it delivered?",
    "What time do you close on Saturdays, I want to come by after work?",
    "Thanks, and can I speak to someone about a bigger order for my office?",
]
"""Each call asks them in its own order (rotated by the call's index)."""
LOG_CACHE_HIT = "Llama._create_completion: cache hit"
LOG_PREFIX = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens")


@dataclass
class Row:
    """One cache setting with one number of calls."""

    cache: str
    concurrency: int
    real_ttft: list[float] = field(default_factory=list)
    real_total: list[float] = field(default_factory=list)
    warm_ttft: list[float] = field(default_factory=list)
    reply_chars: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_turns: list[float] = field(default_factory=list)
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_peak: float = 0.0
    seconds: float = 0.0
    log: dict[str, Any] = field(default_factory=dict)


def cache_bytes(setting: str) -> int | None:
    return None if setting == "off" else int(float(setting) * MIB)


def label(setting: str) -> str:
    if setting == "off":
        return "no cache"
    mib = float(setting)
    return f"{mib / 1024:g} GiB" if mib >= 1024 else f"{mib:g} MiB"


def server_command(setting: str, port: int) -> list[str]:
    """The stack's command line with the cache setting changed, and a verbose log."""
    size = cache_bytes(setting)
    cmd = llama_server_command(
        host="127.0.0.1", port=port, cache_mib=0 if size is None else size // (1024 * 1024)
    )
    cmd[cmd.index("--verbose") + 1] = "true"
    return cmd


def rss_mb(proc: psutil.Process) -> float:
    """RSS of the process and its children, MB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 1e6


def from_log(text: str) -> dict[str, Any]:
    """The server's own account: cache hits, and the prompt tokens read after a prefix reuse
    (from the model's context or a cache state)."""
    prefix = [(int(a), int(b)) for a, b in LOG_PREFIX.findall(text)]
    return {
        "cache_hits": text.count(LOG_CACHE_HIT),
        "cache_misses": text.count("Llama._create_completion: cache miss"),
        "cache_saves": text.count("Llama._create_completion: cache saved"),
        "prefix_reuses": len(prefix),
        "prefix_tokens_reused": sum(a for a, _ in prefix),
        "tokens_read_after_reuse": sum(b for _, b in prefix),
    }


async def first_token(
    client: AsyncOpenAI, messages: list[ChatCompletionMessageParam], max_tokens: int
) -> float:
    """A warm-up: the conversation streamed, closed at its first token; seconds to it."""
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model="local", messages=messages, stream=True, temperature=0, max_tokens=max_tokens
    )
    try:
        async for _chunk in stream:
            break
    finally:
        await stream.close()
    return time.perf_counter() - started


async def reply(
    client: AsyncOpenAI, messages: list[ChatCompletionMessageParam], max_tokens: int
) -> tuple[float, float, str]:
    """The real request: (seconds to the first text, to the end, the reply)."""
    started = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    stream = await client.chat.completions.create(
        model="local", messages=messages, stream=True, temperature=0, max_tokens=max_tokens
    )
    async for chunk in stream:
        text = chunk.choices[0].delta.content if chunk.choices else None
        if text:
            if ttft is None:
                ttft = time.perf_counter() - started
            parts.append(text)
    total = time.perf_counter() - started
    return (total if ttft is None else ttft), total, "".join(parts)


async def call(
    i: int,
    client: AsyncOpenAI,
    row: Row,
    proc: psutil.Process,
    args: argparse.Namespace,
) -> None:
    """One simulated call: its turns, as the worker sends them."""
    await asyncio.sleep(i * args.stagger_s)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "assistant", "content": GREETING},
    ]
    for k in range(args.turns):
        question = QUESTIONS[(i * 5 + k) % len(QUESTIONS)]
        warmup = asyncio.create_task(first_token(client, list(messages), args.max_tokens))
        await asyncio.sleep(args.caller_s)  # the caller speaks
        messages.append({"role": "user", "content": question})
        ttft: float | None = None
        text = ""
        try:
            ttft, total, text = await reply(client, messages, args.max_tokens)
        except Exception as exc:
            row.errors.append(f"call {i} turn {k}: {exc!r}")
        else:
            row.real_ttft.append(ttft)
            row.real_total.append(total)
            row.reply_chars.append(len(text))
        messages.append({"role": "assistant", "content": text or "Sorry, could you repeat?"})
        try:
            row.warm_ttft.append(await warmup)
        except Exception as exc:
            row.errors.append(f"call {i} turn {k} warm-up: {exc!r}")
        row.rss_turns.append(rss_mb(proc))
        print(
            f"  call {i} turn {k + 1}: ttft {ms(ttft)} ms, {len(text)} chars, "
            f"rss {row.rss_turns[-1]:.0f} MB",
            flush=True,
        )
        await asyncio.sleep(args.agent_s)  # the agent speaks its reply


async def sample_peak(proc: psutil.Process, row: Row) -> None:
    while True:
        row.rss_peak = max(row.rss_peak, rss_mb(proc))
        await asyncio.sleep(0.2)


async def replay(port: int, proc: psutil.Process, row: Row, args: argparse.Namespace) -> None:
    client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", timeout=300)
    sampler = asyncio.create_task(sample_peak(proc, row))
    try:
        await asyncio.gather(*(call(i, client, row, proc, args) for i in range(row.concurrency)))
    finally:
        sampler.cancel()
        await client.close()


def measure(setting: str, concurrency: int, args: argparse.Namespace) -> Row:
    ensure_port_free(args.port, "the benchmark's LLM server", "--port")
    row = Row(cache=setting, concurrency=concurrency)
    log_path = ROOT / f".cache/logs/bench-llm-cache/llm-{setting}-c{concurrency}.log"
    server = ManagedProcess(
        "llm-server", server_command(setting, args.port), log_path, dict(os.environ)
    )
    server.start()
    try:
        server.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{args.port}/v1/models"),
            120,
            "the LLM server did not come up",
        )
        assert server.proc is not None
        proc = psutil.Process(server.proc.pid)
        row.rss_start = row.rss_peak = rss_mb(proc)
        started = time.perf_counter()
        asyncio.run(replay(args.port, proc, row, args))
        row.seconds = time.perf_counter() - started
        row.rss_end = rss_mb(proc)
        row.rss_peak = max(row.rss_peak, row.rss_end)
    finally:
        server.stop()
    row.log = from_log(log_path.read_text(errors="replace"))
    return row


def summarize(row: Row) -> dict[str, Any]:
    def dist(values: list[float]) -> dict[str, Any]:
        return {
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "mean": statistics.fmean(values) if values else None,
            "values": values,
        }

    return {
        "cache": row.cache,
        "cache_bytes": cache_bytes(row.cache),
        "label": label(row.cache),
        "concurrency": row.concurrency,
        "real_ttft": dist(row.real_ttft),
        "real_total": dist(row.real_total),
        "warmup_ttft": dist(row.warm_ttft),
        "reply_chars_mean": statistics.fmean(row.reply_chars) if row.reply_chars else None,
        "rss_mb": {
            "start": row.rss_start,
            "end": row.rss_end,
            "peak": row.rss_peak,
            "after_each_turn": row.rss_turns,
        },
        "errors": row.errors,
        "seconds": row.seconds,
        "server_log": row.log,
    }


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"x{a / b:.2f}"


def table(results: dict[str, Any]) -> str:
    head = (
        f"{'cache':<10}{'C':>3}{'real p50':>10}{'real p95':>10}{'vs default':>11}"
        f"{'warm p50':>10}{'RSS start':>11}{'end':>7}{'peak':>7}{'peak vs def':>12}"
        f"{'hits':>6}{'read tok':>10}{'errors':>8}"
    )
    lines = [
        "time to first token (ms) of the real request and the warm-up; server RSS (MB); "
        "'vs default': p50 / the 2 GiB default's, same C",
        head,
        "-" * len(head),
    ]
    rows = results["rows"]
    default = {r["concurrency"]: r for r in rows if r["cache"] == results["default_cache"]}
    for r in rows:
        d = default.get(r["concurrency"])
        lines.append(
            f"{r['label']:<10}{r['concurrency']:>3}{ms(r['real_ttft']['p50']):>10}"
            f"{ms(r['real_ttft']['p95']):>10}"
            f"{ratio(r['real_ttft']['p50'], d['real_ttft']['p50'] if d else None):>11}"
            f"{ms(r['warmup_ttft']['p50']):>10}{r['rss_mb']['start']:>11.0f}"
            f"{r['rss_mb']['end']:>7.0f}{r['rss_mb']['peak']:>7.0f}"
            f"{ratio(r['rss_mb']['peak'], d['rss_mb']['peak'] if d else None):>12}"
            f"{r['server_log']['cache_hits']:>6}"
            f"{r['server_log']['tokens_read_after_reuse']:>10}{len(r['errors']):>8}"
        )
    lines.append(
        "(hits: requests that loaded a cached state; read tok: prompt tokens read after a "
        "reused prefix, summed; requests with no prefix at all are not in it)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--caches",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        default=["off", "64", "256", DEFAULT_CACHE],
        help="comma list of cache sizes in MiB, `off` for no cache",
    )
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(c) for c in s.split(",") if c],
        default=[1, 3],
        help="comma list of simultaneous calls",
    )
    parser.add_argument("--turns", type=int, default=8, help="turns per call")
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--caller-s", type=float, default=1.5, help="caller speaking a turn")
    parser.add_argument("--agent-s", type=float, default=1.5, help="agent speaking its reply")
    parser.add_argument("--stagger-s", type=float, default=0.8, help="between calls' starts")
    parser.add_argument("--port", type=int, default=9393)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/llm_cache.json")
    args = parser.parse_args()

    started = time.time()
    wall = time.perf_counter()
    load = os.getloadavg()
    rows = []
    for setting in args.caches:
        for c in args.concurrency:
            print(f"{label(setting)}, {c} call(s) x {args.turns} turns ...", flush=True)
            rows.append(summarize(measure(setting, c, args)))
    server = llama_server_command(host="127.0.0.1", port=args.port)
    results = {
        "benchmark": "llm_cache",
        "started_at": started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
        "llm": {
            "model": Path(server[server.index("--model") + 1]).name,
            "command": server[1:],
        },
        "default_cache": DEFAULT_CACHE,
        "settings": {
            "caches_mib": args.caches,
            "concurrency": args.concurrency,
            "turns_per_call": args.turns,
            "max_tokens": args.max_tokens,
            "caller_s": args.caller_s,
            "agent_s": args.agent_s,
            "stagger_s": args.stagger_s,
            "system_prompt_words": len(SYSTEM_PROMPT.split()),
        },
        "seconds": time.perf_counter() - wall,
        "rows": rows,
    }
    print()
    print(table(results))
    print(f"\nthe run took {results['seconds']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
