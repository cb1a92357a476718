"""`python -m simulator {demo,call,console,load}`.

demo     start the local stack, place one call, print it, keep the stack up until Ctrl-C
call     place one call against a running stack (LIVEKIT_URL / keys from the environment)
console  talk to the agent with your microphone and speaker (livekit-agents console mode)
load     many concurrent simulated calls on a stack of its own: latency, CPU, memory, capacity
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import signal
import subprocess
import sys
import time

from pipelines import PipelineSetupError

from . import load
from .caller import CallScript, LiveKitEndpoint, Utterance, place_call
from .report import format_call
from .speech import SpeechRenderError, render_speech
from .stack import Stack, StackConfig, StackError, http_ok, livekit_keys

DEMO_QUESTIONS = [
    "Hi there. What is the capital of France?",
    "Great, thank you. Can you tell me something about cats?",
]


def demo_script(agent_name: str, questions: list[str]) -> CallScript:
    return CallScript(
        turns=[Utterance(render_speech(q), q) for q in questions], agent_name=agent_name
    )


async def run_call(endpoint: LiveKitEndpoint, script: CallScript) -> str:
    from .transcribe import HeardTranscriber

    report = await place_call(endpoint, script)
    await HeardTranscriber().fill(report)
    return format_call(report)


def _exit_on_signal(signum: int, _frame: object) -> None:
    # The stack's processes run in their own sessions: a closed terminal (SIGHUP) or a kill
    # (SIGTERM) must unwind through Stack.__exit__ so they stop with us.
    raise SystemExit(128 + signum)


def cmd_demo(_: argparse.Namespace) -> None:
    # Ctrl-C stops the demo even when it was started with SIGINT ignored (as a shell starts
    # a background job): Python then keeps it ignored instead of raising KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    config = StackConfig.from_env()
    print("starting livekit-server, the embedded LLM and the worker ...", flush=True)
    try:
        with Stack(config) as stack:
            logs = config.log_dir
            print(f"stack up (logs in {logs}); placing a demo call ...\n", flush=True)
            text = asyncio.run(
                run_call(stack.endpoint, demo_script(config.agent_name, DEMO_QUESTIONS))
            )
            print(text)
            print(
                f"\nThe stack keeps running: livekit-server at {config.livekit_url} "
                f"(key {stack.key}), agent name '{config.agent_name}'.\n"
                "Talk to it yourself: run `make console` in another terminal (microphone and "
                "speaker),\nor `make call` for another simulated call. Press Ctrl-C to stop.",
                flush=True,
            )
            try:
                while True:
                    # Not signal.pause(): a signal taken by another thread (the stack's
                    # clients run native ones) would not wake it; Python runs the handler on
                    # this thread at its next step, within a second.
                    time.sleep(1)
            except KeyboardInterrupt:
                print("\nstopping ...", flush=True)
    finally:
        print("stack stopped", flush=True)


def cmd_call(args: argparse.Namespace) -> None:
    key, secret = livekit_keys()
    endpoint = LiveKitEndpoint(
        os.environ.get("LIVEKIT_URL", "ws://127.0.0.1:7880"),
        os.environ.get("LIVEKIT_API_KEY", key),
        os.environ.get("LIVEKIT_API_SECRET", secret),
    )
    if not http_ok(endpoint.http_url):
        raise StackError(
            f"livekit-server is not reachable at {endpoint.url}: start the stack with `make run` "
            "or set LIVEKIT_URL"
        )
    agent_name = os.environ.get("VOICE_AGENT_NAME", "voice-agent")
    script = demo_script(agent_name, args.say or DEMO_QUESTIONS)
    if args.json:
        from .transcribe import HeardTranscriber

        async def go() -> None:
            report = await place_call(endpoint, script)
            await HeardTranscriber().fill(report)
            print(json.dumps(report.as_dict(), indent=2))

        asyncio.run(go())
    else:
        print(asyncio.run(run_call(endpoint, script)))


def cmd_console(_: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    config = StackConfig.from_env()
    llm_up = http_ok(f"{config.llm_base_url}/models")
    stack = Stack(config, livekit=False, llm=not llm_up, worker=False)
    with stack:
        env = stack.worker_environment()
        console = subprocess.Popen([sys.executable, "-m", "agent_worker", "console"], env=env)
        try:
            code = console.wait()
        except KeyboardInterrupt:
            # The console got the same Ctrl-C: let it restore the terminal it put in raw
            # mode (killed at once, it leaves the terminal without echo).
            try:
                code = console.wait(CONSOLE_EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                console.kill()
                code = console.wait()
        sys.exit(code)


CONSOLE_EXIT_TIMEOUT = 30.0
"""Seconds the console has to stop after Ctrl-C before it is killed."""


def main() -> None:
    # `kill -USR1 <pid>` prints every thread's stack: what a run that will not stop waits on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="start the stack and place a demo call").set_defaults(fn=cmd_demo)
    call = sub.add_parser("call", help="place one call against a running stack")
    call.add_argument("--say", action="append", help="a caller utterance (repeatable)")
    call.add_argument("--json", action="store_true", help="print the report as JSON")
    call.set_defaults(fn=cmd_call)
    sub.add_parser("console", help="talk to the agent locally").set_defaults(fn=cmd_console)
    loader = sub.add_parser(
        "load",
        help="concurrent simulated calls: latency, CPU, memory, capacity",
        description=load.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_arguments(loader)
    loader.set_defaults(fn=load.cmd_load)
    args = parser.parse_args()
    try:
        args.fn(args)
    except (StackError, PipelineSetupError, SpeechRenderError) as exc:
        sys.exit(f"error: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
