"""API keys: generated with enough entropy that a plain SHA-256 digest is safe to store;
what a key may do; users' passwords (Argon2id: a password has little entropy, so its hash must
be slow)."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_PREFIX = "vak_"

PERMISSIONS = ("read", "write", "delete", "admin")
"""What an API key may do: `read` (GET), `write` (create and change), `delete`, and `admin`
(provider credentials, webhooks, the company's keys)."""
ROLE_PERMISSIONS = {
    "admin": PERMISSIONS,
    "member": ("read", "write", "delete"),
    "viewer": ("read",),
}
"""What a user of each role may do, in the console and with the keys they take."""


def key_may(permissions: list[str] | None, needed: str) -> bool:
    """Whether a key with `permissions` (null: a key of the admin commands, everything) may
    do what needs `needed`."""
    return permissions is None or needed in permissions


_passwords = PasswordHasher()
"""argon2-cffi's defaults (RFC 9106's second recommended setting: Argon2id, 64 MiB, 3
passes)."""


@functools.cache
def _unknown_user_hash() -> str:
    """Checked against when the email is unknown, so that a wrong email takes as long as a
    wrong password (the time must not tell which one was wrong)."""
    return _passwords.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made of; `None` (no such user) takes
    the same time and is never right."""
    try:
        right = _passwords.verify(password_hash or _unknown_user_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return right and password_hash is not None


def new_token() -> str:
    """A random token (256 bits) for a session cookie or a form's CSRF field."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The digest of a session token, stored instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_api_key() -> str:
    """A new key: `vak_` + 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The digest stored and looked up; the key itself is never stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, safe to show in listings."""
    return key[: len(KEY_PREFIX) + 6]


# --- provider keys ----------------------------------------------------------------------------


class ProviderKeyVault:
    """Encrypts companies' provider API keys (ElevenLabs, OpenAI) for storage.

    Fernet (AES-128-CBC + HMAC-SHA256) under the deployment's secret; several secrets
    separated by commas rotate keys: the first encrypts, all decrypt. The control plane and the
    workers must share the secret (`PROVIDER_KEYS_SECRET`, or the file `provider_keys_secret_path`
    created on first use).
    """

    def __init__(self, secrets_: list[str]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not secrets_:
            raise ValueError("at least one provider-keys secret is needed")
        try:
            self._fernet = MultiFernet([Fernet(s.strip().encode()) for s in secrets_])
        except ValueError as exc:
            raise ValueError(
                "PROVIDER_KEYS_SECRET must be Fernet keys (32 url-safe base64 bytes), "
                "comma-separated; make one with `python -m control_plane new-secret`"
            ) from exc

    @classmethod
    def from_settings(cls, settings) -> ProviderKeyVault:
        configured = settings.provider_keys_secret
        if configured is not None and configured.get_secret_value().strip():
            return cls(configured.get_secret_value().split(","))
        return cls([load_or_create_secret(settings.provider_keys_secret_path())])

    def encrypt(self, key: str) -> str:
        return self._fernet.encrypt(key.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError(
                "a stored provider key cannot be decrypted with PROVIDER_KEYS_SECRET "
                "(was the secret changed without keeping the old one?)"
            ) from None


def new_secret() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def load_or_create_secret(path) -> str:
    """The secret in `path`, created (mode 0600) when missing."""
    import os
    from pathlib import Path

    path = Path(path)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_secret() + "\n")
    return path.read_text().strip()


def mask_key(key: str) -> str:
    """What may be shown of a provider key: its last four characters."""
    return "***" + key[-4:] if len(key) >= 8 else "***"
