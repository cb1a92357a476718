"""One call through a running control plane, as a customer places it: create an agent, start a
conversation, join it as a simulated caller, and wait for the conversation's record.

    python scripts/image/call.py CONTROL_PLANE_URL API_KEY

Prints what the caller heard and the record's transcript; exits 1 unless the caller heard the
greeting and an answer and the record closed as a success with both sides' messages.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import httpx

from simulator.caller import CallScript, Utterance, join_conversation
from simulator.speech import render_speech
from simulator.transcribe import HeardTranscriber

GREETING = "Hello, this is the image test line. How can I help?"
QUESTION = "Hello. What is the capital of France?"


async def call(base_url: str, api_key: str) -> list[str]:
    """The call's failures (none when it went as it should)."""
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": api_key}) as client:
        agent = await client.post(
            "/voice-agents",
            json={
                "name": "Image test",
                "active": True,
                "first_message": GREETING,
                "voice_id": "local:en_US-joe-medium",
            },
        )
        agent.raise_for_status()
        started = await client.post(
            "/conversations", json={"agent_id": agent.json()["id"], "user_id": "image-test"}
        )
        started.raise_for_status()
        details = started.json()["connection_details"]
        script = CallScript(
            turns=[Utterance(render_speech(QUESTION), QUESTION)],
            greeting_timeout=90,
            reply_timeout=90,
        )
        report = await join_conversation(
            details["websocket_url"], details["token"], details["room_name"], script
        )
        await HeardTranscriber().fill(report)
        record = await _closed_record(client, started.json()["conversation_id"])

    turn = report.turns[0]
    print(f"  agent : {report.greeting.transcript if report.greeting else None}")
    print(f"  caller: {QUESTION}")
    print(f"  agent : {turn.reply.transcript if turn.reply else None}", end="")
    print(f"  ({turn.voice_to_voice or 0:.2f} s voice to voice)")
    print(f"  record: {record['status']}, {[m['speaker'] for m in record['transcript']]}")
    failures = []
    if not (report.greeting_heard and report.greeting and report.greeting.transcript):
        failures.append("the caller heard no greeting")
    if not (turn.reply_heard and turn.reply and turn.reply.transcript):
        failures.append("the caller heard no answer")
    if record["status"] != "success":
        failures.append(f"the record closed as {record['status']} ({record.get('end_reason')})")
    if [m["speaker"] for m in record["transcript"]][:3] != ["agent", "user", "agent"]:
        failures.append("the record's transcript lacks the greeting, question or answer")
    return failures


async def _closed_record(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        record: dict[str, Any] = (await client.get(f"/conversations/{conversation_id}")).json()
        if record["status"] != "ongoing" or time.monotonic() > deadline:
            return record
        await asyncio.sleep(1)


def main() -> int:
    base_url, api_key = sys.argv[1:3]
    failures = asyncio.run(call(base_url, api_key))
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
