"""API keys: generated with enough entropy that a plain SHA-256 digest is safe to store."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "vak_"


def generate_api_key() -> str:
    """A new key: `vak_` + 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The digest stored and looked up; the key itself is never stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, safe to show in listings."""
    return key[: len(KEY_PREFIX) + 6]
