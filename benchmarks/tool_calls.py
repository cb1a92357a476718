"""Does the model call the agent's tools? Tool-call success of the embedded model and of the
fake OpenAI, through the worker's own LLM client and tools.

An agent with two HTTP tools (`book_appointment`, `order_status`) and the built-ins
`transfer_call` and `end_call`, as the worker builds them (`agent.tools.build_tools`), is
sent caller utterances through the worker's LLM client (`livekit-plugins-openai`, as on a
call). Some utterances want a tool, others none. A case succeeds when the right tool is
called with arguments its schema accepts, or, when none is wanted, when none is called.

  embedded  the packaged SmolLM2-135M-Instruct behind llama-cpp-python's server, as `make run`
            starts it
  fake      the fake OpenAI server, given keyword triggers ("book", "order", ...): it stands
            for a tool-capable model, so its figure checks the path (tool schemas sent, calls
            streamed back and parsed), not a model's judgement

Prints a table of successes per endpoint and kind of case and writes JSON.

    .venv/bin/python benchmarks/tool_calls.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
from livekit.agents import llm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.contract import AgentConfig  # noqa: E402
from agent.tools import ToolHooks, build_tools  # noqa: E402
from fake_providers.openai import FakeOpenAI  # noqa: E402
from pipelines import EngineSettings, build_llm, llama_server_command  # noqa: E402
from shared.egress import EgressPolicy  # noqa: E402
from simulator.stack import ManagedProcess, http_ok  # noqa: E402

LLM_PORT = 8392
SYSTEM_PROMPT = (
    "You are the phone assistant of Riverside Dental. You can book appointments, look up the "
    "status of orders from the clinic's shop, hand the caller over to a person, and end the "
    "call. Use a tool when the caller asks for one of these; otherwise answer briefly."
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "http",
        "name": "book_appointment",
        "description": "Book an appointment at the clinic for the caller.",
        "parameters": {
            "type": "object",
            "properties": {
                "day": {"type": "string", "description": "The day, e.g. Tuesday or 2026-12-08"},
                "time": {"type": "string", "description": "The time, e.g. 15:00"},
                "name": {"type": "string", "description": "The caller's name"},
            },
            "required": ["day", "time"],
        },
        "url": "https://booking.example.com/appointments",
    },
    {
        "type": "http",
        "name": "order_status",
        "description": "Look up where an order from the clinic's shop is.",
        "parameters": {
            "type": "object",
            "properties": {"order_number": {"type": "string"}},
            "required": ["order_number"],
        },
        "url": "https://shop.example.com/orders",
        "method": "GET",
    },
    {"type": "transfer_call", "transfer_to": "+441632960000"},
    {"type": "end_call"},
]
CASES: list[tuple[str, str | None]] = [
    ("I'd like to book an appointment for Tuesday at three in the afternoon.", "book_appointment"),
    ("Can you book me in for a check-up on Friday at 10 am? My name is Sara.", "book_appointment"),
    ("Book me an appointment next Monday at nine, please.", "book_appointment"),
    ("Where is my order? The number is 48213.", "order_status"),
    ("Has my order 7731 shipped yet?", "order_status"),
    ("Can you check the order status for order 5520?", "order_status"),
    ("Please put me through to a real person.", "transfer_call"),
    ("I want to speak to someone at the front desk, transfer me please.", "transfer_call"),
    ("That's all I needed, thank you. Goodbye!", "end_call"),
    ("Okay, you can end the call now.", "end_call"),
    ("Hello, how are you today?", None),
    ("What is the clinic's name?", None),
    ("Do you think flossing every day is important?", None),
    ("Thanks for the help earlier.", None),
]
FAKE_TRIGGERS = {
    "book": ("book_appointment", {"day": "Tuesday", "time": "15:00"}),
    "order": ("order_status", {"order_number": "48213"}),
    "transfer": ("transfer_call", {"reason": "asked for a person"}),
    "real person": ("transfer_call", {"reason": "asked for a person"}),
    "goodbye": ("end_call", {"reason": "the caller said goodbye"}),
    "end the call": ("end_call", {"reason": "the caller asked"}),
}
"""Keywords, not the cases' sentences: the fake calls a tool whenever one appears."""


async def _nothing(*_: Any) -> None:
    return None


AGENT = AgentConfig.model_validate(
    {"name": "Riverside Dental", "tools": TOOLS, "temperature": 0.0, "system_prompt": SYSTEM_PROMPT}
)


def agent_tools() -> list[llm.Tool]:
    hooks = ToolHooks(end_call=_nothing, transfer=_nothing)
    return build_tools(AGENT, hooks, EgressPolicy())


def schemas(tools: list[llm.Tool]) -> dict[str, dict[str, Any]]:
    out = {}
    for tool in tools:
        info = tool.info  # type: ignore[attr-defined]
        out[info.name] = info.raw_schema.get("parameters") or {"type": "object"}
    return out


async def ask(model: llm.LLM, tools: list[llm.Tool], said: str) -> tuple[list[Any], str, float]:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=SYSTEM_PROMPT)
    ctx.add_message(role="user", content=said)
    calls: list[Any] = []
    text = ""
    started = time.perf_counter()
    async with model.chat(chat_ctx=ctx, tools=tools) as stream:
        async for chunk in stream:
            if chunk.delta is not None:
                text += chunk.delta.content or ""
                calls.extend(chunk.delta.tool_calls or [])
    return calls, text, time.perf_counter() - started


def judge(calls: list[Any], wanted: str | None, params: dict[str, dict[str, Any]]) -> str:
    if wanted is None:
        return "ok" if not calls else "called_unasked"
    if not calls:
        return "no_call"
    first = calls[0]
    if first.name != wanted:
        return "wrong_tool"
    try:
        jsonschema.validate(json.loads(first.arguments or "{}"), params[wanted])
    except (ValueError, jsonschema.ValidationError):
        return "bad_arguments"
    return "ok"


async def run_endpoint(model: llm.LLM, tools: list[llm.Tool]) -> dict[str, Any]:
    params = schemas(tools)
    results = []
    for said, wanted in CASES:
        calls, text, seconds = await ask(model, tools, said)
        verdict = judge(calls, wanted, params)
        results.append(
            {
                "said": said,
                "wanted": wanted,
                "called": [{"name": c.name, "arguments": c.arguments} for c in calls],
                "text": text,
                "seconds": seconds,
                "verdict": verdict,
            }
        )
        got = ", ".join(c.name for c in calls) or "-"
        print(f"  {verdict:<15} wanted {wanted or '-':<17} called {got:<17} {said}", flush=True)
    wanting = [r for r in results if r["wanted"]]
    plain = [r for r in results if not r["wanted"]]
    return {
        "cases": results,
        "tool_wanted": {"n": len(wanting), "ok": sum(r["verdict"] == "ok" for r in wanting)},
        "no_tool_wanted": {"n": len(plain), "ok": sum(r["verdict"] == "ok" for r in plain)},
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    head = f"{'endpoint':<10}{'tool wanted: right call':>26}{'none wanted: none called':>27}"
    lines = [head, "-" * len(head)]
    for name, res in results.items():
        tw, nw = res["tool_wanted"], res["no_tool_wanted"]
        lines.append(
            f"{name:<10}{tw['ok']:>18}/{tw['n']:<3} {tw['ok'] / tw['n']:>4.0%}"
            f"{nw['ok']:>19}/{nw['n']:<3} {nw['ok'] / nw['n']:>4.0%}"
        )
    return "\n".join(lines)


async def measure(endpoints: list[str], log_dir: Path) -> dict[str, dict[str, Any]]:
    tools = agent_tools()
    results: dict[str, dict[str, Any]] = {}
    if "embedded" in endpoints:
        server = ManagedProcess(
            "llm-server",
            llama_server_command(host="127.0.0.1", port=LLM_PORT),
            log_dir / f"llm-{LLM_PORT}.log",
            dict(os.environ),
        )
        server.start()
        try:
            base_url = f"http://127.0.0.1:{LLM_PORT}/v1"
            server.wait_until(lambda: http_ok(f"{base_url}/models"), 120, "no LLM server")
            model = build_llm(AGENT, EngineSettings(llm_base_url=base_url))
            print("embedded (SmolLM2-135M-Instruct):", flush=True)
            results["embedded"] = await run_endpoint(model, tools)
        finally:
            server.stop()
    if "fake" in endpoints:
        async with FakeOpenAI(tool_triggers=FAKE_TRIGGERS) as fake:
            # The agent's own OpenAI-compatible endpoint: no fallback, the fake's answers only.
            cloud = AGENT.model_copy(
                update={"llm_model": "gpt-4o-mini", "llm_base_url": str(fake.base_url)}
            )
            loopback = EgressPolicy.from_setting("127.0.0.0/8")
            model = build_llm(cloud, EngineSettings(egress=loopback))
            print("fake OpenAI (keyword triggers):", flush=True)
            results["fake"] = await run_endpoint(model, tools)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", default="embedded,fake", help="comma list")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/tool_calls.json")
    args = parser.parse_args()
    started = time.time()
    results = asyncio.run(measure(args.endpoints.split(","), ROOT / ".cache/logs/bench-tool-calls"))
    print()
    print(table(results))
    payload = {
        "benchmark": "tool_calls",
        "started_at": started,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
