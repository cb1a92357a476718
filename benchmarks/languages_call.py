"""Caller-side voice-to-voice latency of an Arabic call against an English call, same run.

One stack (livekit-server and one worker) answers two agents, each given inline in its
dispatch:
  en   English: Whisper tiny.en hears, Piper `local:en_US-joe-medium` speaks
  ar   Arabic: the multilingual Whisper base hears, espeak-ng `local:espeak-ar` speaks
Both get their replies from the fake OpenAI-compatible server (`python -m fake_providers.openai`,
one process per language, the same time to first token and per-token delay), which answers
every turn with one fixed sentence in the agent's language, so the model costs the same on
both sides and only hearing and speaking differ. Each agent's `llm_base_url` points at its
fake (an agent's own server: no embedded model behind it, none started).

The caller speaks espeak-ng in the agent's language (`latency.py`'s questions in English,
call-centre questions in Arabic). `--calls` calls of `--turns` turns per language, one call
at a time, the languages alternating (which goes first alternates each round), after
`--warm-up` unmeasured rounds (the first Arabic call loads Whisper base into the worker).
Voice-to-voice is measured at the caller (`simulator.caller`): the send time of the frame that
ends the caller's speech -> the arrival of the first audible agent frame; the agent's stages
(end of utterance, STT, LLM first token, TTS first byte) come over the data channel. A question
in which the agent's STT hears no words gets no answer: what the caller hears next is the
agent's reprompt after its silence, so such a turn (no end-of-utterance report) counts as a
missed reply, not as a voice-to-voice figure. Prints p50/p95 per language and the ratio
Arabic/English, and writes everything as JSON.

    .venv/bin/python benchmarks/languages_call.py --calls 4 --turns 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.latency import QUESTIONS, STAGES, fmt, summarize  # noqa: E402
from benchmarks.phone import worker_idle  # noqa: E402
from simulator.caller import (  # noqa: E402
    CallReport,
    CallScript,
    TurnResult,
    Utterance,
    place_call,
)
from simulator.speech import render_speech  # noqa: E402
from simulator.stack import Stack, StackConfig, fake_openai_process  # noqa: E402

AGENT_NAME = "bench-languages"
LIVEKIT_PORT, LIVEKIT_UDP_PORT, WORKER_HTTP_PORT = 7880 + 340, 7882 + 340, 8221
EN, AR = "en", "ar"
LANGUAGES = (EN, AR)

ARABIC_QUESTIONS = [
    "مرحبا، أريد أن أحجز موعدا مع الطبيب",
    "أين أقرب صيدلية؟",
    "كم سعر التذكرة إلى القاهرة؟",
    "هل يمكنني التحدث مع المدير؟",
    "ما هي مواعيد العمل يوم الجمعة؟",
    "أريد إلغاء طلبي من فضلك",
]
"""Call-centre questions, in plain Modern Standard Arabic (no vowel marks, as people write)."""

AGENTS: dict[str, dict[str, Any]] = {
    EN: {
        "language": "en",
        "voice_id": "local:en_US-joe-medium",
        "first_message": "Hello, thanks for calling. How can I help?",
        "reply": "Sure. Here is a short answer to your question, and I hope it helps.",
        "questions": QUESTIONS,
        "caller_voice": "en-us",
        "models": "Whisper tiny.en + Piper en_US-joe-medium",
    },
    AR: {
        "language": "ar",
        "voice_id": "local:espeak-ar",
        "first_message": "مرحبا، شكرا لاتصالك. كيف يمكنني مساعدتك؟",
        "reply": "بالتأكيد. هذه إجابة قصيرة على سؤالك، وأتمنى أن تفيدك.",
        "questions": ARABIC_QUESTIONS,
        "caller_voice": "ar",
        "models": "Whisper base (multilingual) + espeak-ng ar",
    },
}
"""Per language: the agent (inline config), its model's one reply, the caller's questions and
espeak-ng voice. Both replies open with a one-word sentence, so the first audio the caller
hears is the same short piece of text."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent_metadata(language: str, llm_base_url: str) -> str:
    spec = AGENTS[language]
    agent = {
        "name": f"Bench {language}",
        "language": spec["language"],
        "voice_id": spec["voice_id"],
        "first_message": spec["first_message"],
        # an agent's own OpenAI-compatible server for its model: no key, no fallback
        "llm_model": "local",
        "llm_base_url": llm_base_url,
    }
    return json.dumps({"agent": agent})


def utterances(language: str, round_index: int, turns: int) -> list[Utterance]:
    spec = AGENTS[language]
    questions: list[str] = spec["questions"]
    asked = [questions[(round_index * turns + k) % len(questions)] for k in range(turns)]
    return [Utterance(render_speech(q, voice=spec["caller_voice"]), q) for q in asked]


def speech_seconds(utts: list[Utterance]) -> list[float]:
    return [end - start for start, end in (u.speech_bounds() for u in utts)]


def heard(turn: TurnResult) -> bool:
    """Whether the agent took the caller's words as a turn (its end-of-utterance report came):
    when its STT hears no words in a question, nothing answers it, and the first agent audio
    the caller hears is the reprompt after the caller's silence."""
    return "end_of_utterance_delay" in turn.agent_metrics


def answered_only(report: CallReport) -> CallReport:
    """The report with the turns the agent did not hear counted as missed replies."""
    return replace(report, turns=[t if heard(t) else replace(t, reply=None) for t in report.turns])


async def run_calls(
    stack: Stack, llm_urls: dict[str, str], args: argparse.Namespace
) -> tuple[dict[str, list[CallReport]], dict[str, list[float]]]:
    reports: dict[str, list[CallReport]] = {lang: [] for lang in LANGUAGES}
    spoken: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
    loop = asyncio.get_running_loop()
    for i in range(-args.warm_up, args.calls):
        # Which language goes first alternates, so neither always follows the other.
        for lang in LANGUAGES if i % 2 == 0 else LANGUAGES[::-1]:
            await loop.run_in_executor(None, worker_idle, WORKER_HTTP_PORT)
            utts = utterances(lang, i, args.turns)
            script = CallScript(
                turns=utts,
                agent_name=AGENT_NAME,
                metadata=agent_metadata(lang, llm_urls[lang]),
                greeting_timeout=60,
                reply_timeout=30,
                keep_audio=False,
            )
            report = await place_call(stack.endpoint, script)
            v2v = [
                f"{t.voice_to_voice * 1000:.0f}{'' if heard(t) else ' (unheard)'}"
                if t.voice_to_voice
                else "miss"
                for t in report.turns
            ]
            name = f"{i + 1}/{args.calls}" if i >= 0 else "warm-up"
            print(f"call {name} {lang}: voice-to-voice ms {' '.join(v2v)}", flush=True)
            if i >= 0:
                reports[lang].append(report)
                spoken[lang].extend(speech_seconds(utts))
    return reports, spoken


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Arabic over English, per metric and percentile."""
    out: dict[str, dict[str, float | None]] = {}
    for row in ["voice_to_voice", *STAGES]:
        en, ar = results[EN][row], results[AR][row]
        out[row] = {
            q: (ar[q] / en[q] if ar[q] is not None and en[q] else None) for q in ("p50", "p95")
        }
    return out


def report_table(results: dict[str, dict[str, Any]], ratio: dict[str, Any]) -> str:
    head = (
        f"{'metric (ms)':<26}"
        + "".join(f"{lang + ' p50':>10}{lang + ' p95':>10}" for lang in LANGUAGES)
        + f"{'ar/en p50':>11}{'ar/en p95':>11}"
    )
    lines = [head, "-" * len(head)]
    for row in ["voice_to_voice", *STAGES]:
        line = f"{row:<26}"
        for lang in LANGUAGES:
            line += f"{fmt(results[lang][row]['p50']):>10}{fmt(results[lang][row]['p95']):>10}"
        for q in ("p50", "p95"):
            r = ratio[row][q]
            line += f"{'-' if r is None else f'{r:.2f}':>11}"
        lines.append(line)
    v = ratio["voice_to_voice"]
    if v["p50"] is not None and v["p95"] is not None:
        lines.append(
            f"\nratio Arabic/English voice-to-voice: p50 {v['p50']:.2f}, p95 {v['p95']:.2f}"
        )
    for lang in LANGUAGES:
        res = results[lang]
        lines.append(
            f"{lang}: {AGENTS[lang]['models']}; {res['calls']} calls, {res['turns']} turns, "
            f"{res['missed_replies']} missed replies ({res['unheard_turns']} not heard by the "
            f"agent's STT), {res['greetings_missed']} missed greetings; "
            f"caller speech {res['caller_speech_s']['mean']:.2f} s a turn on average"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4, help="measured calls per language")
    parser.add_argument("--turns", type=int, default=4, help="questions per call")
    parser.add_argument("--warm-up", type=int, default=1, help="unmeasured calls per language")
    parser.add_argument("--ttft-ms", type=float, default=200.0, help="fake LLM: first token")
    parser.add_argument("--token-ms", type=float, default=10.0, help="fake LLM: per token")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/languages_call.json")
    args = parser.parse_args()

    log_dir = ROOT / ".cache/logs/bench-languages"
    config = StackConfig(
        livekit_port=LIVEKIT_PORT,
        livekit_udp_port=LIVEKIT_UDP_PORT,
        llm_port=0,
        worker_http_port=WORKER_HTTP_PORT,
        agent_name=AGENT_NAME,
        log_dir=log_dir,
        # the fakes run on loopback, where an agent's own URL may not reach otherwise
        worker_env={"EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8"},
    )
    started = time.time()
    load_at_start = os.getloadavg()
    with contextlib.ExitStack() as cleanup:
        llm_urls: dict[str, str] = {}
        for lang in LANGUAGES:
            port = free_port()
            fake = fake_openai_process(
                port,
                log_dir / f"fake-openai-{lang}.log",
                *("--ttft-ms", str(args.ttft_ms), "--token-ms", str(args.token_ms)),
                *("--always-reply", AGENTS[lang]["reply"]),
            )
            cleanup.callback(fake.stop)
            llm_urls[lang] = f"http://127.0.0.1:{port}/v1"
        with Stack(config, llm=False) as stack:
            reports, spoken = asyncio.run(run_calls(stack, llm_urls, args))

    results: dict[str, dict[str, Any]] = {}
    for lang in LANGUAGES:
        res = summarize([answered_only(r) for r in reports[lang]])
        res["unheard_turns"] = sum(not heard(t) for r in reports[lang] for t in r.turns)
        res["as_heard_by_the_caller"] = summarize(reports[lang])["voice_to_voice"]
        res["caller_speech_s"] = {
            "mean": statistics.fmean(spoken[lang]) if spoken[lang] else 0.0,
            "values": spoken[lang],
        }
        res["agent"] = {k: AGENTS[lang][k] for k in ("language", "voice_id", "models", "reply")}
        results[lang] = res
    ratio = ratios(results)
    print()
    print(report_table(results, ratio))
    seconds = time.time() - started
    payload = {
        "benchmark": "languages_call",
        "started_at": started,
        "seconds": seconds,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": load_at_start,
        },
        "llm": {
            "model": "fake OpenAI-compatible",
            "ttft_ms": args.ttft_ms,
            "token_ms": args.token_ms,
        },
        "calls_per_language": args.calls,
        "warm_up_calls_per_language": args.warm_up,
        "turns_per_call": args.turns,
        "results": results,
        "ratio_ar_en": ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    print(f"\n{seconds / 60:.1f} min; written to {args.out}")


if __name__ == "__main__":
    main()
