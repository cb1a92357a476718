"""Human-readable output of a simulated call."""

from __future__ import annotations

from .caller import CallReport

STAGES = [
    ("end_of_utterance_delay", "end of utterance"),
    ("stt_duration", "STT"),
    ("llm_ttft", "LLM first token"),
    ("tts_ttfb", "TTS first audio"),
]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def format_call(report: CallReport) -> str:
    """Transcript and latency of one call, as printed by `make run`."""
    lines = [
        f"room {report.room}: caller joined in {ms(report.join_time)}, "
        f"agent audio after {ms(report.agent_join_time)}",
        "",
    ]
    if report.greeting:
        lines.append(f"  agent : {report.greeting.transcript or '(inaudible)'}")
    else:
        lines.append("  agent : (no greeting heard)")
    for turn in report.turns:
        lines.append(f"  caller: {turn.said}")
        if turn.reply:
            lines.append(f"  agent : {turn.reply.transcript or '(inaudible)'}")
        else:
            lines.append("  agent : (no reply heard)")
    lines += ["", "  turn  voice-to-voice  " + "  ".join(f"{label:>16}" for _, label in STAGES)]
    for i, turn in enumerate(report.turns, 1):
        stages = "  ".join(f"{ms(turn.agent_metrics.get(k)):>16}" for k, _ in STAGES)
        lines.append(f"  {i:>4}  {ms(turn.voice_to_voice):>14}  {stages}")
    lines.append(
        "  (voice-to-voice, measured by the caller: end of its speech -> first agent audio)"
    )
    return "\n".join(lines)
