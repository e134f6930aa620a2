"""Settings from the environment or `.env`. Every one is documented in .env.example."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TOKEN_SHAPE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{20,}$")


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
    playground_port: int = Field(default=8765, ge=0, le=65535)

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
