"""Telegram updates in, engine events out. The only place that reads Telegram's types."""

from __future__ import annotations

import re
from functools import lru_cache

from telegram import Chat, ChatMember, Message, Update

from dialogues.model import Command, Edited, Event, GroupChat, Located, Press, Sender, Start, Text, Unsupported
from dialogues.texts import language_for

PAYLOAD_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UNKNOWN_PAYLOAD = "-"  # never a token, so the engine answers "I don't recognise this link"
MEDIA = (
    "sticker",
    "voice",
    "video_note",
    "animation",
    "photo",
    "video",
    "audio",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)


def to_event(update: Update, default_language: str, nonce: str) -> Event | None:
    """The event an update means, or None for updates that need no answer."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    language = language_for(user.language_code, default_language)
    sender = Sender(user.id, user.first_name or "", language, user.last_name or "", user.username or "")
    if chat.type != Chat.PRIVATE:
        return _group_event(update, sender, nonce)
    if update.callback_query:
        return Press(sender, update.callback_query.data or "", nonce)
    if update.edited_message:
        text = update.edited_message.text
        return Edited(sender, text, nonce) if text else None
    if update.message:
        return _message_event(update.message, sender, nonce)
    return None


def _message_event(message: Message, sender: Sender, nonce: str) -> Event | None:
    text = message.text
    if message.location:
        return Located(sender, _zone_at(message.location.latitude, message.location.longitude), nonce)
    if text is None:
        kind = next((k for k in MEDIA if getattr(message, k, None)), None)
        return Unsupported(sender, kind, nonce) if kind else None
    command = _command(message)
    if command is None:
        return Text(sender, text, nonce)
    name, argument = command
    if name == "start":
        payload = argument if not argument or PAYLOAD_SHAPE.match(argument) else UNKNOWN_PAYLOAD
        return Start(sender, payload or None, nonce)
    return Command(sender, name, nonce)


def _command(message: Message) -> tuple[str, str] | None:
    """("start", "abc") for "/start abc" or "/start@HerstelBot abc"; None for plain text."""
    entity = next(iter(message.entities or ()), None)
    if entity is None or entity.type != "bot_command" or entity.offset != 0:
        return None
    text = message.text or ""
    word = text[1 : entity.length]
    name = word.split("@", 1)[0].lower()
    return name, text[entity.length :].strip()


def _group_event(update: Update, sender: Sender, nonce: str) -> Event | None:
    """Groups and channels: answer once when the bot is added, and leave whenever it is there."""
    joined = update.my_chat_member
    if joined:
        if joined.new_chat_member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR):
            return GroupChat(sender, nonce)
        return None
    return GroupChat(sender, nonce, announce=False)


def reachability(update: Update) -> bool | None:
    """A private my_chat_member update says whether the person blocked (False) or unblocked (True) the bot."""
    change = update.my_chat_member
    if change is None or change.chat.type != Chat.PRIVATE:
        return None
    return change.new_chat_member.status != ChatMember.BANNED


@lru_cache(maxsize=1)
def _finder():
    from timezonefinder import TimezoneFinder  # loads its map once, offline

    return TimezoneFinder()


def _zone_at(latitude: float, longitude: float) -> str | None:
    """The time zone at a shared location; the location itself is not kept."""
    return _finder().timezone_at(lat=latitude, lng=longitude)
