"""The voice agent worker: registers with LiveKit and runs one agent session per job."""
