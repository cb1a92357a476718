"""What a fake chat completion answers: scripted or default text, or tool calls picked from the
request's tools by trigger phrases and tool names, with arguments made up from their schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from fake_providers.openai.core import OpenAICore
from fake_providers.openai.protocol import _message_text


def _example_value(schema: Mapping[str, Any], text: str) -> Any:
    """A plausible, deterministic value for one JSON-schema property."""
    if not isinstance(schema, Mapping):
        return text
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return _example_value(options[0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return _example_arguments(schema, text)
    return text


def _example_arguments(parameters: Mapping[str, Any] | None, text: str) -> dict[str, Any]:
    """Arguments for every property of a tool's parameter schema (strict schemas need all)."""
    properties = (parameters or {}).get("properties") or {}
    return {name: _example_value(schema, text) for name, schema in properties.items()}


@dataclass
class _ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class _Plan:
    """What one chat completion answers: text, or tool calls."""

    text: str | None = None
    tool_calls: list[_ToolCall] | None = None


class ChatPlanning(OpenAICore):
    """The answer (`_Plan`) to a chat request."""

    def _default_reply(self, messages: list[dict[str, Any]]) -> str:
        last_user = next(
            (_message_text(m) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        said = last_user.strip().rstrip(".!? ")
        if not said:
            return "Hello! How can I help you today?"
        return f"You said: {said}. Here is my answer."

    def _text_reply(self, messages: list[dict[str, Any]], tool_results: list[str] | None) -> str:
        if self.reply_fn is not None:
            return self.reply_fn(messages)
        if self.replies:
            return self.replies.pop(0)
        if tool_results:
            return "Here is what I found: " + "; ".join(tool_results) + "."
        return self._default_reply(messages)

    def _match_tools(
        self, body: Mapping[str, Any], text: str, tools: list[Mapping[str, Any]]
    ) -> list[_ToolCall]:
        by_name = {t["name"]: t for t in tools}
        tool_choice = body.get("tool_choice", "auto")
        lowered = text.lower()
        chosen: list[tuple[str, dict[str, Any]]] = []

        if isinstance(tool_choice, Mapping):
            name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
            if name in by_name:
                args = next(
                    (a for p, (n, a) in self.tool_triggers.items() if n == name and p in lowered),
                    None,
                )
                chosen.append(
                    (
                        cast(str, name),  # a key of by_name
                        args if args is not None else self._args_for(by_name[name], text),
                    )
                )
        else:
            for phrase, (name, args) in self.tool_triggers.items():
                taken = name in [c[0] for c in chosen]
                if phrase.lower() in lowered and name in by_name and not taken:
                    chosen.append((name, args))
            for name, tool in by_name.items():
                mentioned = name.lower() in lowered or name.lower().replace("_", " ") in lowered
                if mentioned and name not in [c[0] for c in chosen]:
                    chosen.append((name, self._args_for(tool, text)))
            if not chosen and tool_choice == "required" and tools:
                first = tools[0]
                chosen.append((first["name"], self._args_for(first, text)))

        if body.get("parallel_tool_calls") is False:
            chosen = chosen[:1]
        return [
            _ToolCall("call_" + uuid.uuid4().hex[:24], name, json.dumps(args))
            for name, args in chosen
        ]

    @staticmethod
    def _args_for(tool: Mapping[str, Any], text: str) -> dict[str, Any]:
        return _example_arguments(tool.get("parameters"), text.strip())

    def _plan(self, body: Mapping[str, Any]) -> _Plan:
        messages: list[dict[str, Any]] = body["messages"]
        tools = [
            t["function"]
            for t in body.get("tools") or []
            if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
        ]
        last = messages[-1]
        if last.get("role") == "tool":
            names: dict[str, str] = {}
            for message in messages:
                for call in message.get("tool_calls") or []:
                    names[call.get("id", "")] = (call.get("function") or {}).get("name", "")
            results: list[str] = []
            for message in reversed(messages):
                if message.get("role") != "tool":
                    break
                results.insert(0, _message_text(message).strip())
            return _Plan(text=self._text_reply(messages, results))
        if tools and body.get("tool_choice", "auto") != "none" and last.get("role") == "user":
            calls = self._match_tools(body, _message_text(last), tools)
            if calls:
                return _Plan(tool_calls=calls)
        return _Plan(text=self._text_reply(messages, None))
