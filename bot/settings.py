"""Settings from the environment or `.env`. Every one is documented in .env.example."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TOKEN_SHAPE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")
WEBHOOK_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows 1-256; short ones are guessable


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_prefix="HERSTEL_", extra="ignore")

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "HERSTEL_TELEGRAM_BOT_TOKEN")
    )
    bot_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite:///data/herstel.db"
    encryption_keys: SecretStr | None = None  # comma-separated Fernet keys; the first encrypts
    default_language: Literal["en", "nl"] = "en"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line
    playground_port: int = Field(default=8765, ge=0, le=65535)
    tick_seconds: float = Field(default=20.0, gt=0, le=3600)  # how often due check-ins and nudges are looked for
    retention_days: int = Field(default=90, ge=1)  # storage.privacy.purge: every table's retention
    send_rate: float = Field(default=25.0, gt=0, le=1000)  # calls in any one second, all chats together
    chat_burst: int = Field(default=20, ge=1, le=1000)  # messages at once into one chat, then one a second
    parallel_units: int = Field(default=4, ge=1, le=32)  # units of work at once on PostgreSQL (SQLite: one)
    # Webhook mode (instead of polling) when webhook_url is set.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_path: str = "/telegram"
    webhook_listen: str = "0.0.0.0"
    # /healthz, /readyz and /metrics (bot/health.py); port 0 picks a free one.
    health_listen: str = "127.0.0.1"
    health_port: int = Field(default=8766, ge=0, le=65535)

    @field_validator("webhook_url")
    @classmethod
    def _public_https_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValueError("must be a public https:// URL (Telegram only calls HTTPS webhooks)")
        if not parts.hostname or parts.fragment:
            raise ValueError("must be a full URL such as https://example.org/telegram")
        return url

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        value = secret.get_secret_value() if secret else ""
        if not value:
            if info.data.get("webhook_url"):
                raise ValueError("is required with HERSTEL_WEBHOOK_URL: 16-256 characters of A-Z a-z 0-9 _ -")
            return None
        if not WEBHOOK_SECRET_SHAPE.match(value):
            raise ValueError("must be 16-256 characters of A-Z a-z 0-9 _ - (make one with `openssl rand -hex 32`)")
        return secret

    @field_validator("webhook_path")
    @classmethod
    def _path_shape(cls, path: str) -> str:
        if not re.fullmatch(r"/[A-Za-z0-9_./-]*", path):
            raise ValueError("must start with / and hold only letters, digits and _ . / -")
        return path

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value():
            return None
        if token is not None and not TOKEN_SHAPE.match(token.get_secret_value()):
            raise ValueError("does not look like a token from BotFather (digits, a colon, then letters)")
        return token

    @field_validator("bot_api_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return url.rstrip("/")

    @property
    def token(self) -> str:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""

    @property
    def webhook_secret_token(self) -> str:
        return self.webhook_secret.get_secret_value() if self.webhook_secret else ""

    @property
    def keys(self) -> list[str]:
        raw = self.encryption_keys.get_secret_value() if self.encryption_keys else ""
        return [key.strip() for key in raw.split(",") if key.strip()]


def describe(error: ValidationError) -> str:
    """One clear line that says which setting to fix."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "a setting"
    name = field if field.isupper() else "HERSTEL_" + field.upper()
    if field == "telegram_bot_token":
        name = "TELEGRAM_BOT_TOKEN"
    return f"Setting {name} is not valid: {first['msg']}. Fix it in the environment or in .env (see .env.example)."
