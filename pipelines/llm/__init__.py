"""LLM providers: any OpenAI-compatible chat-completions endpoint, and the embedded server."""

from .openai_compat import build_openai_compatible_llm

__all__ = ["build_openai_compatible_llm"]
