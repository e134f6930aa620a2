"""A local Telegram Bot API server for tests and the browser playground."""

from .people import Button, Channel, Group, Person, Received
from .server import ApiError, BotApiEmulator, Limits

__all__ = ["ApiError", "BotApiEmulator", "Button", "Channel", "Group", "Limits", "Person", "Received"]
