"""The agent form: every field of the agent contract as an HTML control, made from the
contract itself (a field added to `AgentConfig` appears on the form), and the submitted form
read back into the contract's JSON (typed as the strict contract wants; what cannot be read
is reported per field, and the page shows back what was typed).

Nested settings (`turn_detection`, `privacy`...) are fieldsets of their own fields, named
`turn_detection.mode`; lists and objects of their own (tools) are JSON text.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import textwrap
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from agent.contract import AgentConfig

Kind = Literal["text", "textarea", "number", "checkbox", "select", "json"]
LONG_TEXT = 2000
"""Texts allowed to be longer than this get a text area."""
SECTIONS = {
    "Agent": ("name", "description", "industry", "personality", "active", "language"),
    "Conversation": ("first_message", "system_prompt", "max_duration_seconds"),
    "Voice": (
        "voice_id",
        "voice_name",
        "model_id",
        "voice_speed",
        "voice_pitch",
        "voice_stability",
        "voice_similarity_boost",
        "voice_style",
        "output_format",
    ),
    "Models": (
        "llm_model",
        "llm_base_url",
        "temperature",
        "max_completion_tokens",
        "stt_provider",
        "stt_model",
    ),
}
"""The page's sections, in order; nested settings follow, then the rest."""


@dataclass
class Control:
    """One control of the form."""

    name: str
    """The form field's name (`turn_detection.mode` inside a setting)."""
    label: str
    kind: Kind
    help: str = ""
    choices: list[str] = field(default_factory=list)
    optional: bool = False
    """Empty means null."""
    value: str = ""
    """What the control shows (a checkbox: "on" or "")."""
    error: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


@dataclass
class Section:
    title: str
    controls: list[Control]
    help: str = ""


def _unwrap(annotation: Any, rules: list[Any] | None = None) -> tuple[Any, bool]:
    """The type without `Annotated` and `| None`, and whether None is allowed; the
    constraints met on the way are added to `rules`."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *found = typing.get_args(annotation)
            if rules is not None:
                for rule in found:
                    rules.extend(getattr(rule, "metadata", None) or [rule])
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation, optional


def _bounds(rules: list[Any]) -> tuple[float | None, float | None, int | None]:
    low = high = length = None
    for rule in rules:
        low = getattr(rule, "ge", None) if getattr(rule, "ge", None) is not None else low
        low = getattr(rule, "gt", None) if getattr(rule, "gt", None) is not None else low
        high = getattr(rule, "le", None) if getattr(rule, "le", None) is not None else high
        high = getattr(rule, "lt", None) if getattr(rule, "lt", None) is not None else high
        if getattr(rule, "max_length", None) is not None:
            length = rule.max_length
    return low, high, length


@functools.cache
def field_help(model: type[BaseModel]) -> dict[str, str]:
    """The docstrings under a model's fields (the contract documents each field so)."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in zip(body, body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                found[stmt.target.id] = " ".join(after.value.value.split())
    return found


def _label(name: str) -> str:
    text = name.replace("_", " ")
    for short, long in (("llm", "LLM"), ("stt", "STT"), ("url", "URL"), ("id", "ID")):
        text = " ".join(long if w == short else w for w in text.split())
    return text[:1].upper() + text[1:]


def _control(model: type[BaseModel], name: str, info: FieldInfo, prefix: str = "") -> Control:
    rules = list(info.metadata)
    base, optional = _unwrap(info.annotation, rules)
    low, high, length = _bounds(rules)
    control = Control(
        name=prefix + name,
        label=_label(name),
        kind="text",
        help=field_help(model).get(name, ""),
        optional=optional,
    )
    if base is bool:
        control.kind = "checkbox"
    elif typing.get_origin(base) is Literal:
        control.kind = "select"
        control.choices = [str(c) for c in typing.get_args(base)]
    elif base in (int, float):
        control.kind = "number"
        control.minimum, control.maximum = low, high
        control.step = "1" if base is int else "any"
    elif base is str:
        control.kind = "textarea" if (length or 0) > LONG_TEXT else "text"
    else:
        control.kind = "json"
    return control


def _is_setting(info: FieldInfo) -> bool:
    base, _ = _unwrap(info.annotation)
    return isinstance(base, type) and issubclass(base, BaseModel)


def _show(control: Control, value: Any) -> str:
    if control.kind == "checkbox":
        return "on" if value else ""
    if value is None:
        return ""
    if control.kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


def agent_form(values: dict[str, Any] | None = None) -> list[Section]:
    """The form's sections showing `values` (the agent as JSON; None: a new agent's
    defaults)."""
    shown = values if values is not None else AgentConfig().model_dump(mode="json")
    fields = AgentConfig.model_fields
    placed: set[str] = set()
    sections: list[Section] = []
    for title, names in SECTIONS.items():
        controls = []
        for name in names:
            control = _control(AgentConfig, name, fields[name])
            control.value = _show(control, shown.get(name))
            controls.append(control)
            placed.add(name)
        sections.append(Section(title, controls))
    rest: list[Control] = []
    for name, info in fields.items():
        if name in placed:
            continue
        if _is_setting(info):
            model, _ = _unwrap(info.annotation)
            stored = shown.get(name) or {}
            controls = []
            for sub, sub_info in model.model_fields.items():
                control = _control(model, sub, sub_info, prefix=f"{name}.")
                control.value = _show(control, stored.get(sub))
                controls.append(control)
            sections.append(Section(_label(name), controls, help=(model.__doc__ or "").strip()))
        else:
            control = _control(AgentConfig, name, info)
            control.value = _show(control, shown.get(name))
            rest.append(control)
    if rest:
        sections.append(Section("Tools and more", rest))
    return sections


def controls_of(sections: list[Section]) -> dict[str, Control]:
    return {c.name: c for s in sections for c in s.controls}


def read_form(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str], list[Section]]:
    """The agent JSON a submitted form says, the errors of fields that could not be read
    (by field name), and the form showing what was typed. A field not sent at all is left out
    (its default for a new agent, its stored value for an edit)."""
    sections = agent_form()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, control in controls_of(sections).items():
        if name not in form and control.kind != "checkbox":
            continue  # not sent (a browser sends every field but an unticked box): unchanged
        raw = form.get(name, "")
        control.value = "on" if control.kind == "checkbox" and raw else raw
        try:
            value = _read(control, raw)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        head, _, sub = name.partition(".")
        if sub:
            values.setdefault(head, {})[sub] = value
        else:
            values[name] = value
    return values, errors, sections


def _read(control: Control, raw: str) -> Any:
    raw = raw.replace("\r\n", "\n")
    if control.kind == "checkbox":
        return bool(raw)
    if control.kind in ("text", "textarea", "select") and raw == "" and control.optional:
        return None
    if control.kind == "number":
        if raw.strip() == "":
            if control.optional:
                return None
            raise ValueError("a number is needed")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        if control.step == "1":
            if not number.is_integer():
                raise ValueError("a whole number is needed")
            return int(number)
        return number
    if control.kind == "select":
        # Literal choices may be numbers (`vad_frame_ms`).
        return int(raw) if raw.lstrip("-").isdigit() else raw
    if control.kind == "json":
        if raw.strip() == "":
            return None if control.optional else []
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    return raw


PATTERN_HINTS = {
    "language": "a language code, like en or en-US",
    "voice_id": "local:<voice>, openai:<voice> or an ElevenLabs voice ID (the list offers them)",
    "llm_base_url": "an http:// or https:// URL",
    "embedding_base_url": "an http:// or https:// URL",
    "url": "an http:// or https:// URL",
    "name": "letters, digits, _ and - (starting with a letter), 64 at most",
}
"""What a field's text must look like, said in words instead of its pattern."""


def check(values: dict[str, Any]) -> dict[str, str]:
    """The errors of the agent `values` would make, by form field name (fields that could not
    be read are left out of `values`: the others are still checked)."""
    from ...schemas.voice_agents import VoiceAgentCreate

    try:
        VoiceAgentCreate.model_validate(values)
    except ValidationError as exc:
        return validation_errors(exc)
    return {}


def validation_errors(exc: ValidationError) -> dict[str, str]:
    """A model's validation errors by form field name (`turn_detection.mode`, `tools`)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        name = loc[0] if loc else ""
        if len(loc) > 1 and name in AgentConfig.model_fields:
            info = AgentConfig.model_fields[name]
            if _is_setting(info):
                name = f"{loc[0]}.{loc[1]}"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "string_pattern_mismatch":
            message = PATTERN_HINTS.get(loc[-1], "not in the expected form")
        errors.setdefault(name, message)
    return errors


def first_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
