"""Local stand-ins for cloud speech and language APIs (ElevenLabs, OpenAI).

They speak the vendors' documented wire formats closely enough for the official clients and
the livekit-agents plugins to run unchanged against them by base URL, with injectable
failures (latency, error statuses, dropped connections, slow streams). Tests and load tests use
them because the real vendors are unreachable from here; nothing in them is a mock of this
project's own components.
"""
