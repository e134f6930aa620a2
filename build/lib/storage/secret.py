"""The one column type for everything a person wrote: encrypted at rest with MultiFernet.

The first key encrypts; every key decrypts, so keys can be rotated without downtime.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

_cipher: MultiFernet | None = None


def configure(keys: list[str]) -> None:
    """Install the keys; raises ValueError with a readable reason when one is unusable."""
    global _cipher
    if not keys:
        raise ValueError("no encryption key is set")
    try:
        _cipher = MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ValueError("an encryption key is not a valid Fernet key (32 url-safe base64 bytes)") from exc


def new_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(text: str) -> str:
    return _require().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _require().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored text cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    return _require().rotate(token.encode()).decode()


def _require() -> MultiFernet:
    if _cipher is None:
        raise RuntimeError("storage.secret.configure() was not called")
    return _cipher


class SecretText(TypeDecorator):
    """Text that is encrypted before it reaches the database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)
