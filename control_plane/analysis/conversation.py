"""What is worked out from a finished conversation: the caller's sentiment (offline, by the
multilingual embeddings, `sentiment`), and from the agent's language model a summary, the
intents, the resolution, the data the agent's `analysis.data_collection` asks for and the
answers to its `analysis.success_criteria`, with the evidence.

The model is asked for one JSON object. What it answers is checked, not trusted: an intent
outside the agent's list, a resolution outside the three, a collected value that does not
match its field's JSON Schema or a criterion it was not asked are left out. A model that
cannot be reached raises `ModelUnreachableError` (the job retries); an answer that is not JSON
leaves those parts empty and says so (`Analysis.problem`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents import llm

from agent.contract import AnalysisSettings

from . import sentiment as sentiment_of

Resolution = Literal["resolved", "unresolved", "escalated"]
RESOLUTIONS: tuple[str, ...] = ("resolved", "unresolved", "escalated")
MAX_INTENTS = 3
MAX_TRANSCRIPT_CHARS = 24000
"""The transcript the model reads is cut to its last this many characters (a long call's
end decides its resolution)."""
LANGUAGES = {"en": "English", "ar": "Arabic", "de": "German", "es": "Spanish", "fr": "French"}


class ModelUnreachableError(Exception):
    """The language model could not be asked (the job tries again later)."""


@dataclass(frozen=True)
class Line:
    speaker: str
    """`user` or `agent`."""
    text: str


@dataclass
class Analysis:
    sentiment_score: float | None = None
    sentiment: str | None = None
    message_sentiments: list[dict[str, Any]] = field(default_factory=list)
    summary: str | None = None
    intents: list[str] = field(default_factory=list)
    resolution: str | None = None
    data_collected: dict[str, Any] = field(default_factory=dict)
    criteria: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: str | None = None
    """Why the model's parts are missing (its answer was not usable), if they are."""


async def analyse(
    lines: Sequence[Line],
    settings: AnalysisSettings,
    *,
    language: str,
    model: llm.LLM | None,
    embedding: sentiment_of.EmbeddingSentiment,
) -> Analysis:
    """The analysis of a transcript; `model` None: the offline sentiment only."""
    result = await offline_analysis(lines, embedding)
    await ask_model(result, lines, settings, language=language, model=model)
    return result


async def offline_analysis(
    lines: Sequence[Line], embedding: sentiment_of.EmbeddingSentiment
) -> Analysis:
    """What needs no model: the sentiment of each caller message and of the whole."""
    result = Analysis()
    said = [(i, line.text) for i, line in enumerate(lines) if line.speaker == "user"]
    scores = await embedding.scores([text for _, text in said])
    result.message_sentiments = [
        {"index": i, "score": round(s, 3), "label": sentiment_of.label(s)}
        for (i, _), s in zip(said, scores, strict=True)
    ]
    if scores:
        overall = sentiment_of.overall(scores)
        result.sentiment_score = round(overall, 3)
        result.sentiment = sentiment_of.label(overall)
    return result


async def ask_model(
    result: Analysis,
    lines: Sequence[Line],
    settings: AnalysisSettings,
    *,
    language: str,
    model: llm.LLM | None,
) -> None:
    """Adds the model's part to `result`; raises ModelUnreachableError before changing it."""
    if model is None or not lines:
        return
    answer = await ask(model, prompt(lines, settings, language))
    try:
        parsed = parse_answer(answer)
    except ValueError as exc:
        result.problem = f"the language model's answer was not usable: {exc}"
        return
    read_answer(parsed, settings, result)


def prompt(lines: Sequence[Line], settings: AnalysisSettings, language: str) -> str:
    """The instructions and the transcript, as one message."""
    transcript = "\n".join(
        f"{'Caller' if line.speaker == 'user' else 'Agent'}: {line.text}" for line in lines
    )[-MAX_TRANSCRIPT_CHARS:]
    keys = [
        '"summary": one or two sentences saying what the caller wanted and what happened, in '
        f"{LANGUAGES.get(language.split('-')[0], 'the language of the conversation')}",
        '"intents": '
        + (
            f"one to three of {json.dumps(settings.intents)}"
            if settings.intents
            else "one to three short snake_case labels of what the caller wanted"
        ),
        '"resolution": "resolved" when the agent met the caller\'s need during the call, '
        '"escalated" when it was handed on (a transfer, a promised callback, another team), '
        '"unresolved" otherwise',
    ]
    if settings.data_collection:
        fields = {name: schema for name, schema in settings.data_collection.items()}
        keys.append(
            '"data_collected": an object with only those of these fields the caller stated or '
            "accepted (leave out any not given), each matching its JSON Schema: "
            + json.dumps(fields, ensure_ascii=False)
        )
    if settings.success_criteria:
        questions = {c.id: c.description for c in settings.success_criteria}
        keys.append(
            '"criteria": an object answering each of these yes/no questions as '
            '{"result": true or false, "evidence": "a short quote from the transcript"}: '
            + json.dumps(questions, ensure_ascii=False)
        )
    return (
        "You review a finished conversation between a caller and an AI agent. Answer with "
        "one JSON object and nothing else, with these keys:\n- "
        + "\n- ".join(keys)
        + "\n\nThe conversation:\n"
        + transcript
    )


async def ask(model: llm.LLM, text: str) -> str:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="user", content=text)
    parts: list[str] = []
    try:
        async with model.chat(chat_ctx=ctx) as stream:
            async for chunk in stream:
                if chunk.delta is not None and chunk.delta.content:
                    parts.append(chunk.delta.content)
    except Exception as exc:  # any failure of the provider: the job tries again
        raise ModelUnreachableError(f"{type(exc).__name__}: {exc}"[:500]) from exc
    return "".join(parts)


_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse_answer(answer: str) -> dict[str, Any]:
    """The JSON object in the model's answer (models wrap it in prose or a code fence)."""
    found = _OBJECT.search(answer)
    if found is None:
        raise ValueError(f"no JSON object in {answer[:120]!r}")
    try:
        value = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} in {found.group(0)[:120]!r}") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def read_answer(answer: dict[str, Any], settings: AnalysisSettings, into: Analysis) -> None:
    """Keep what is valid of the model's answer."""
    summary = answer.get("summary")
    if isinstance(summary, str) and summary.strip():
        into.summary = summary.strip()[:2000]
    intents = answer.get("intents")
    if isinstance(intents, str):
        intents = [intents]
    if isinstance(intents, list):
        allowed = set(settings.intents)
        kept: list[str] = []
        for intent in intents:
            if not isinstance(intent, str):
                continue
            name = re.sub(r"[^a-z0-9_]+", "_", intent.strip().lower()).strip("_")[:64]
            if name and (not allowed or name in allowed) and name not in kept:
                kept.append(name)
        into.intents = kept[:MAX_INTENTS]
    resolution = answer.get("resolution")
    if isinstance(resolution, str) and resolution.strip().lower() in RESOLUTIONS:
        into.resolution = resolution.strip().lower()
    data = answer.get("data_collected")
    if isinstance(data, dict):
        into.data_collected = collected(data, settings.data_collection)
    criteria = answer.get("criteria")
    if isinstance(criteria, dict):
        for criterion in settings.success_criteria:
            given = criteria.get(criterion.id)
            if isinstance(given, bool):
                given = {"result": given}
            if not isinstance(given, dict) or not isinstance(given.get("result"), bool):
                continue
            evidence = given.get("evidence")
            into.criteria[criterion.id] = {
                "result": given["result"],
                "evidence": evidence[:500] if isinstance(evidence, str) else None,
            }


def collected(data: dict[str, Any], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The values of `data` that match their field's schema (a number given as its digits is
    taken as the number); fields not asked for, nulls and mismatches are left out."""
    from jsonschema import Draft202012Validator

    kept: dict[str, Any] = {}
    for name, schema in fields.items():
        value = data.get(name)
        if value is None or value == "":
            continue
        value = _coerce(value, schema.get("type"))
        if Draft202012Validator(schema).is_valid(value):
            kept[name] = value
    return kept


def _coerce(value: Any, kind: object) -> Any:
    if isinstance(value, str) and kind in ("integer", "number"):
        text = value.strip().replace(",", "")
        try:
            number = float(text)
        except ValueError:
            return value
        return int(number) if kind == "integer" and number.is_integer() else number
    if isinstance(value, float) and kind == "integer" and value.is_integer():
        return int(value)
    return value
