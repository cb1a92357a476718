"""Speech pipelines: VAD, STT, LLM and TTS providers and the factory that assembles them."""
