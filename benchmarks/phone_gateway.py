"""The phone gateway alone: how much later the room hears a phone caller than a WebRTC caller.

One livekit-server, no agent. A tone burst (0.5 s of 440 Hz after 1.5 s of silence, eight
times) is spoken twice into the same room: by a phone line through the gateway's bridge
(8 kHz mu-law media messages at real-time pace, each sent when its 20 ms have been "captured",
as a provider does), and by a WebRTC publisher (10 ms frames into a 20 ms source queue, as the
simulated caller does). A hidden subscriber records both tracks' levels every 10 ms; each
burst's onset and end as it hears them, against their send times, is that path's delay. The
difference is what the gateway adds (the target: at most 30 ms), without an agent, Whisper or
a turn detector in between.

    .venv/bin/python benchmarks/phone_gateway.py            # table + benchmarks/results JSON
    .venv/bin/python benchmarks/phone_gateway.py --quality MEDIUM   # another resampler
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from livekit import api, rtc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.audio import ulaw_encode  # noqa: E402
from simulator.stack import Stack, StackConfig  # noqa: E402
from telephony import bridge  # noqa: E402

ROOM = "gateway-probe"
BURSTS = 8
GAP = 1.5
TONE = 0.5
LOUD_RMS = 500.0
"""A received 10 ms frame louder than this is the tone (it is ~5600 RMS; silence is 0)."""


def bursts(rate: int) -> np.ndarray:
    t = np.arange(int(TONE * rate)) / rate
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    silence = np.zeros(int(GAP * rate), np.int16)
    return np.concatenate([np.concatenate([silence, tone]) for _ in range(BURSTS)] + [silence])


def burst_times(
    first_sample_sent: list[float] | float, frame_s: float
) -> list[tuple[float, float]]:
    """(start, end) send time of each burst: `first_sample_sent` is the send time of frame 0."""
    out = []
    for k in range(BURSTS):
        start = k * (GAP + TONE) + GAP
        if isinstance(first_sample_sent, list):
            sent = first_sample_sent
            out.append((sent[round(start / frame_s)], sent[round((start + TONE) / frame_s) - 1]))
        else:
            base = first_sample_sent + frame_s  # a frame leaves once its audio is captured
            out.append((base + start, base + start + TONE - frame_s))
    return out


class Listener:
    """The hidden subscriber: every track's 10 ms levels with arrival times."""

    def __init__(self) -> None:
        self.room = rtc.Room()
        self.levels: dict[str, list[tuple[float, float]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self, url: str, token: str) -> None:
        self.room.on("track_subscribed", self._on_track)
        await self.room.connect(url, token)

    def _on_track(self, track: rtc.Track, _pub: Any, who: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            task = asyncio.create_task(self._record(track, who.identity))
            self._tasks.add(task)

    async def _record(self, track: rtc.Track, identity: str) -> None:
        stream = rtc.AudioStream.from_track(
            track=track, sample_rate=48000, num_channels=1, frame_size_ms=10
        )
        levels = self.levels.setdefault(identity, [])
        async for event in stream:
            samples = np.frombuffer(event.frame.data, np.int16).astype(np.float64)
            levels.append((time.monotonic(), float(np.sqrt(np.mean(samples * samples)))))

    def delays(self, identity: str, sent: list[tuple[float, float]]) -> dict[str, list[float]]:
        heard = self.levels.get(identity, [])
        onset, end = [], []
        for start, stop in sent:
            loud = [t for t, level in heard if level > LOUD_RMS and start - 0.2 < t < stop + 1.0]
            if loud:
                onset.append((loud[0] - start) * 1000)
                end.append((loud[-1] - stop) * 1000)
        return {"onset_ms": onset, "end_ms": end}

    async def leave(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.room.disconnect()


class _Message:
    def __init__(self, data: str) -> None:
        self.data = data


class ProviderSide:
    """The provider's end of the media stream, as the bridge reads and writes it."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def send_str(self, _data: str) -> None:
        return None

    async def close(self) -> bool:
        await self.inbox.put(None)
        return True

    def __aiter__(self) -> ProviderSide:
        return self

    async def __anext__(self) -> _Message:
        data = await self.inbox.get()
        if data is None:
            raise StopAsyncIteration
        return _Message(data)


async def phone(url: str, token: str) -> list[tuple[float, float]]:
    line = ulaw_encode(bursts(8000))
    side = ProviderSide()
    stream = {"streamSid": "MZprobe", "callSid": "CAprobe", "accountSid": "ACprobe"}
    start = {
        **stream,
        "tracks": ["inbound"],
        "customParameters": {"token": token},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    await side.inbox.put(json.dumps({"event": "start", "streamSid": "MZprobe", "start": start}))
    running = asyncio.create_task(bridge.PhoneBridge(side, url).run())
    await asyncio.sleep(1.0)  # joined and published (audio before that is dropped anyway)
    t0 = time.monotonic()
    for i in range(len(line) // 160):
        delay = t0 + (i + 1) * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        payload = base64.b64encode(line[i * 160 : (i + 1) * 160]).decode()
        media = {"track": "inbound", "chunk": str(i + 1), "payload": payload}
        await side.inbox.put(json.dumps({"event": "media", "streamSid": "MZprobe", "media": media}))
    await asyncio.sleep(1.0)
    stop = {"event": "stop", "streamSid": "MZprobe", "stop": stream}
    await side.inbox.put(json.dumps(stop))
    await running
    return burst_times(t0, 0.02)


async def webrtc(url: str, token: str) -> list[tuple[float, float]]:
    room = rtc.Room()
    await room.connect(url, token)
    source = rtc.AudioSource(48000, 1, queue_size_ms=20)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    await asyncio.sleep(1.0)
    audio, step, sent = bursts(48000), 480, []
    for i in range(len(audio) // step):
        frame = rtc.AudioFrame(audio[i * step : (i + 1) * step].tobytes(), 48000, 1, step)
        await source.capture_frame(frame)
        sent.append(time.monotonic())
    await asyncio.sleep(1.0)
    await room.disconnect()
    return burst_times(sent, 0.01)


async def measure(stack: Stack) -> dict[str, dict[str, list[float]]]:
    ep = stack.endpoint

    def token(identity: str, hidden: bool = False) -> str:
        grants = api.VideoGrants(room_join=True, room=ROOM, hidden=hidden)
        return (
            api.AccessToken(ep.api_key, ep.api_secret)
            .with_identity(identity)
            .with_grants(grants)
            .to_jwt()
        )

    listener = Listener()
    await listener.join(ep.url, token("listener", hidden=True))
    try:
        sent = {
            "phone": await phone(ep.url, token("phone")),
            "webrtc": await webrtc(ep.url, token("webrtc")),
        }
        return {path: listener.delays(path, times) for path, times in sent.items()}
    finally:
        await listener.leave()


def summary(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        "mean": float(np.mean(values)) if values else float("nan"),
        "p50": float(np.percentile(values, 50)) if values else float("nan"),
        "max": float(np.max(values)) if values else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quality", default=bridge.RESAMPLER_QUALITY.name, help="the gateway's resampler"
    )
    parser.add_argument(
        "--rate", type=int, default=bridge.ROOM_SAMPLE_RATE, help="the rate published in the room"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/phone_gateway.json")
    args = parser.parse_args()
    bridge.RESAMPLER_QUALITY = rtc.AudioResamplerQuality[args.quality]
    bridge.ROOM_SAMPLE_RATE = args.rate
    config = StackConfig(
        livekit_port=7880 + 320,
        livekit_udp_port=7882 + 320,
        llm_port=0,
        worker_http_port=0,
        log_dir=ROOT / ".cache/logs/bench-gateway",
    )
    with Stack(config, llm=False, worker=False) as stack:
        raw = asyncio.run(measure(stack))
    results = {path: {k: summary(v) for k, v in d.items()} for path, d in raw.items()}
    how = f"published at {args.rate} Hz" + (
        f", resampler {args.quality}" if args.rate != 8000 else ", as the line's 8 kHz"
    )
    print(f"\nthe room hears a tone burst (ms after it was sent), {how}\n")
    header = ("path", "onset mean", "onset max", "end mean", "end max", "bursts")
    print("{:10} {:>11} {:>10} {:>9} {:>8} {:>7}".format(*header))
    for path, r in results.items():
        on, end = r["onset_ms"], r["end_ms"]
        row = (path, on["mean"], on["max"], end["mean"], end["max"], on["n"])
        print("{:10} {:11.0f} {:10.0f} {:9.0f} {:8.0f} {:7d}".format(*row))
    added = results["phone"]["onset_ms"]["mean"] - results["webrtc"]["onset_ms"]["mean"]
    ratio = results["phone"]["onset_ms"]["mean"] / results["webrtc"]["onset_ms"]["mean"]
    print(f"\nthe gateway adds {added:.0f} ms at the onset (phone/webrtc {ratio:.2f})")
    payload = {
        "benchmark": "phone_gateway",
        "started_at": time.time(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "resampler": args.quality,
        "room_rate": args.rate,
        "results": results,
        "raw": raw,
        "gateway_adds_ms": added,
        "ratio_phone_webrtc": ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
