"""Load tests: many simulated callers at once, each in its own room with its own agent.

    python -m simulator load --calls 8 --turns 6                # fixed load
    python -m simulator load --capacity --start 4 --step 4      # raise N until callers notice
    python -m simulator load --soak --calls 8 --duration 1800   # memory over a long run

The command starts its own stack on private ports (livekit-server, the worker and, with
`--providers network`, the fake OpenAI and ElevenLabs servers as separate processes with the
configured latencies; with `--providers local`, the embedded LLM server), then runs the
callers. Each caller dispatches an agent into a new room (the agent's config is inline in the
dispatch), waits for the greeting and speaks its turns: questions in espeak-ng's voice (or
`--wav-dir` files), every `--barge-in-every`-th one followed by a barge-in over the reply.

Everything is measured at the caller, as in `simulator.caller`: voice-to-voice per turn
(caller's last word sent -> agent audio received), barge-in stop, missed replies (no agent
audio within `--reply-timeout`), join times and dropped calls (the agent never answered, left
early, or the call failed). CPU and RSS of each process tree are sampled throughout. Ctrl-C
stops the callers after their current turn and still writes the report (JSON, markdown, PNGs).
"""

from __future__ import annotations

from .cli import add_arguments, cmd_load, plan_from, run_compare, run_load
from .plan import (
    BARGE_IN,
    ELEVENLABS_VOICE,
    FAKE_PORTS,
    LOAD_AGENT,
    LOAD_PORTS,
    PIPECAT_HOLD_S,
    PROVIDER_KEY,
    QUESTIONS,
    REPLY,
    RUNTIMES,
    STOCK_HOLD_S,
    TRANSCRIPT,
    LoadPlan,
    LoadPorts,
    Providers,
    Runtime,
    describe,
    load_utterances,
)
from .run import LoadRun, drive, report_dict, run_capacity, run_fixed, summed_series
from .runtimes import (
    PEERS,
    PIPECAT,
    PIPECAT_PYTHON,
    assign_workers,
    start_agents,
    start_fakes,
    start_pipecat,
    start_workers,
    worker_env,
)

__all__ = [
    "BARGE_IN",
    "ELEVENLABS_VOICE",
    "FAKE_PORTS",
    "LOAD_AGENT",
    "LOAD_PORTS",
    "PEERS",
    "PIPECAT",
    "PIPECAT_HOLD_S",
    "PIPECAT_PYTHON",
    "PROVIDER_KEY",
    "QUESTIONS",
    "REPLY",
    "RUNTIMES",
    "STOCK_HOLD_S",
    "TRANSCRIPT",
    "LoadPlan",
    "LoadPorts",
    "LoadRun",
    "Providers",
    "Runtime",
    "add_arguments",
    "assign_workers",
    "cmd_load",
    "describe",
    "drive",
    "load_utterances",
    "plan_from",
    "report_dict",
    "run_capacity",
    "run_compare",
    "run_fixed",
    "run_load",
    "start_agents",
    "start_fakes",
    "start_pipecat",
    "start_workers",
    "summed_series",
    "worker_env",
]
