"""The fake OpenAI's chat completions route: JSON or server-sent events."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from fake_providers.common import Fault, RequestRecord
from fake_providers.openai.chat_plan import ChatPlanning
from fake_providers.openai.protocol import _count_tokens, _message_text, _request_id, _tokens


class ChatRoutes(ChatPlanning):
    """``POST /v1/chat/completions`` (route ``chat``)."""

    @staticmethod
    def _validate_chat(body: Any) -> tuple[str, str | None] | None:
        """(message, param) of the first problem with a chat request, or None."""
        if not isinstance(body, dict):
            return "The request body must be a JSON object.", None
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "you must provide a model parameter", "model"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "[] is too short - 'messages'", "messages"
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping) or message.get("role") not in (
                "system",
                "developer",
                "user",
                "assistant",
                "tool",
                "function",
            ):
                return f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role"
        return None

    @staticmethod
    def _prompt_tokens(body: Mapping[str, Any]) -> int:
        return sum(_count_tokens(_message_text(m)) + 3 for m in body["messages"])

    def _ttft_ms(self, body: Mapping[str, Any]) -> float:
        """Time to first token: the fixed part, and the prompt's reading (`prefill_ms_per_1k`)."""
        return self.ttft_ms + self.prefill_ms_per_1k * self._prompt_tokens(body) / 1000

    @classmethod
    def _usage(cls, body: Mapping[str, Any], completion_tokens: int) -> dict[str, Any]:
        prompt = cls._prompt_tokens(body)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    async def _chat(self, request: web.Request, record: RequestRecord, fault: Fault):
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self._bad_request(
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly.)"
            )
        record.body = body
        problem = self._validate_chat(body)
        if problem is not None:
            return self._bad_request(problem[0], param=problem[1])

        plan = self._plan(body)
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:29]
        created = int(time.time())
        model = body["model"]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")

        tokens: list[str] = []
        finish_reason = "tool_calls" if plan.tool_calls else "stop"
        if plan.text is not None:
            tokens = _tokens(plan.text)
            if isinstance(limit, int) and 0 < limit < len(tokens):
                tokens = tokens[:limit]
                finish_reason = "length"
        completion_tokens = len(tokens) + sum(
            _count_tokens(c.arguments) + 5 for c in plan.tool_calls or []
        )

        if not body.get("stream"):
            await self._sleep_ms(self._ttft_ms(body) + self.token_ms * max(0, len(tokens) - 1))
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(tokens) if plan.tool_calls is None else None,
                "refusal": None,
                "annotations": [],
            }
            if plan.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in plan.tool_calls
                ]
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": self._usage(body, completion_tokens),
                    "service_tier": "default",
                    "system_fingerprint": "fp_fake",
                }
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                data["usage"] = None
            return data

        # (delay before the event in ms, event)
        events: list[tuple[float, dict[str, Any]]] = []
        ttft = self._ttft_ms(body)
        if plan.tool_calls:
            events.append((ttft, chunk({"role": "assistant", "content": None})))
            for index, call in enumerate(plan.tool_calls):
                opening = {"index": index, "id": call.id, "type": "function"}
                opening["function"] = {"name": call.name, "arguments": ""}
                events.append((self.token_ms if index else 0.0, chunk({"tool_calls": [opening]})))
                for start in range(0, len(call.arguments), 8):
                    piece = {"index": index, "function": {"arguments": call.arguments[start:][:8]}}
                    events.append((self.token_ms, chunk({"tool_calls": [piece]})))
        else:
            events.append((ttft, chunk({"role": "assistant", "content": "", "refusal": None})))
            for index, token in enumerate(tokens):
                events.append((self.token_ms if index else 0.0, chunk({"content": token})))
        events.append((0.0, chunk({}, finish_reason)))
        if include_usage:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self._usage(body, completion_tokens)
            events.append((0.0, usage_chunk))

        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "x-request-id": _request_id(),
                "openai-version": "2020-10-01",
            }
        )
        await response.prepare(request)
        pieces = [
            (delay, f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode())
            for delay, event in events
        ]
        pieces.append((0.0, b"data: [DONE]\n\n"))
        record.completed = await self._write_stream(request, response, pieces, fault)
        if record.completed:
            await response.write_eof()
        return response
