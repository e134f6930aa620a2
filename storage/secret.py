"""The one column type for everything a person wrote: encrypted at rest with MultiFernet.

The first key encrypts; every key decrypts, so keys can be rotated without downtime.
"""

from __future__ import annotations

import base64
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

_cipher: MultiFernet | None = None
_hash_keys: list[bytes] = []


class KeysDoNotFit(Exception):
    """At start: the configured keys cannot decrypt what the database holds (storage.privacy.check_keys)."""


class Undecryptable(ValueError):
    """Stored text none of the configured keys decrypts: the keys are wrong or incomplete, not the data."""


def configure(keys: list[str]) -> None:
    """Install the keys; raises ValueError with a readable reason when one is unusable."""
    global _cipher
    if not keys:
        raise ValueError("no encryption key is set")
    try:
        _cipher = MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ValueError("an encryption key is not a valid Fernet key (32 url-safe base64 bytes)") from exc
    # A key of its own for hashing link tokens, derived from each encryption key (never the key itself).
    _hash_keys[:] = [
        hmac.digest(base64.urlsafe_b64decode(key.strip()), b"herstel link tokens", "sha256") for key in keys
    ]


def link_hash(token: str) -> str:
    """A link token as it is stored: a keyed hash (HMAC-SHA256) under the first key. A dump of the
    database holds no usable link, and without the keys no guess can be checked against it."""
    return link_hashes(token)[0]


def link_hashes(token: str) -> list[str]:
    """The token's hash under every key, first key first: what a lookup searches while keys roll."""
    _require()
    return [hmac.new(key, token.encode(), "sha256").hexdigest() for key in _hash_keys]


def new_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(text: str) -> str:
    return _require().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _require().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise Undecryptable("stored text cannot be decrypted with the configured keys") from exc


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
