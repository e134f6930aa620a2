"""The user side of the emulator: people, groups and channels that talk to the bot.

Tests act as several people in the same event loop as the bot:

    anna = emu.person("Anna", language_code="nl")
    await anna.send("/start")
    await anna.press("Yes")
    assert "Welkom" in anna.last.text

Every action queues a real Telegram update (built with python-telegram-bot's own types) that the
bot fetches with getUpdates; everything the bot sends lands in the chat's `inbox` as `Received`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import telegram

from .html import utf16_len

if TYPE_CHECKING:
    from .server import BotApiEmulator

__all__ = ["Button", "Channel", "Group", "Person", "Received"]

_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]+)?")
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Received:
    """One message the bot sent, as the recipient sees it now (edits replace it in place)."""

    message_id: int
    chat_id: int
    text: str  # plain text after parsing; for photos and documents the caption ("" if none)
    html: str | None = None  # the markup as the bot sent it, when parse_mode was HTML
    buttons: tuple[tuple[Button, ...], ...] = ()
    document: bytes | None = None  # uploaded bytes of a photo or document
    filename: str | None = None
    caption: str | None = None

    @property
    def button_texts(self) -> list[str]:
        return [b.text for row in self.buttons for b in row]

    @classmethod
    def from_message(cls, msg: telegram.Message, *, html=None, document=None, filename=None) -> Received:
        return cls(
            message_id=msg.message_id,
            chat_id=msg.chat.id,
            text=msg.text or msg.caption or "",
            html=html,
            buttons=buttons_of(msg),
            document=document,
            filename=filename,
            caption=msg.caption,
        )


def buttons_of(msg: telegram.Message) -> tuple[tuple[Button, ...], ...]:
    if msg.reply_markup is None:
        return ()
    return tuple(tuple(Button(b.text, b.callback_data, b.url) for b in row) for row in msg.reply_markup.inline_keyboard)


class _Inbox:
    """What the bot sent into one chat, plus the reply keyboard it currently shows there."""

    chat: telegram.Chat

    def __init__(self, emu: BotApiEmulator) -> None:
        self._emu = emu
        self.inbox: list[Received] = []
        self.keyboard: tuple[tuple[str, ...], ...] | None = None  # current reply keyboard, if any
        self._one_time = False
        self._taken = 0

    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def last(self) -> Received:
        return self.inbox[-1]

    def texts(self) -> list[str]:
        return [r.text for r in self.inbox]

    def take(self) -> list[Received]:
        """The messages received since the previous take()."""
        new = self.inbox[self._taken :]
        self._taken = len(self.inbox)
        return new

    def _replace(self, message_id: int, **changes) -> None:
        for i, r in enumerate(self.inbox):
            if r.message_id == message_id:
                self.inbox[i] = dataclasses.replace(r, **changes)

    def _remove(self, message_id: int) -> None:
        for i, r in enumerate(self.inbox):
            if r.message_id == message_id:
                del self.inbox[i]
                if i < self._taken:
                    self._taken -= 1
                return

    def _set_keyboard(self, effect: tuple | None) -> None:
        if effect is None:
            return
        if effect[0] == "remove":
            self.keyboard = None
        else:
            _, self.keyboard, self._one_time = effect

    async def _press(self, person: Person, label: str) -> dict:
        """Press the button `label` on the newest message that has it (inline first, then the
        reply keyboard, which just sends its text)."""
        emu = self._emu
        for msg in reversed(list(emu._messages_in(self.chat.id))):
            for row in buttons_of(msg):
                for button in row:
                    if button.text != label:
                        continue
                    if button.callback_data is None:
                        raise ValueError(f"button {label!r} is not a callback button (url={button.url!r})")
                    return emu._callback(person.user, msg, button.callback_data).to_dict()
        if self.keyboard and any(label in row for row in self.keyboard):
            if self._one_time:
                self.keyboard = None
            return await self._send_text(person, label)
        raise LookupError(f"no button {label!r} in {self._describe()}; visible buttons: {self._visible()}")

    def _visible(self) -> str:
        parts = []
        for msg in reversed(list(self._emu._messages_in(self.chat.id))):
            buttons = buttons_of(msg)
            if buttons and len(parts) < 5:
                parts.append(f"message {msg.message_id}: " + " ".join(f"[{b.text}]" for r in buttons for b in r))
        if self.keyboard:
            parts.append("keyboard: " + " ".join(f"[{t}]" for r in self.keyboard for t in r))
        return "; ".join(parts) or "none"

    def _describe(self) -> str:
        return f"chat {self.chat.id}"

    async def _send_text(self, person: Person, text: str) -> dict:
        raise NotImplementedError


class Person(_Inbox):
    """A Telegram user with a private chat with the bot (chat id == user id)."""

    def __init__(self, emu: BotApiEmulator, user: telegram.User) -> None:
        super().__init__(emu)
        self.user = user
        self.chat = telegram.Chat(
            user.id, "private", first_name=user.first_name, last_name=user.last_name, username=user.username
        )
        self.blocked = False
        self.started = False  # has written to the bot; until then the bot may not message them

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.first_name

    def __repr__(self) -> str:
        return f"<Person {self.name} {self.id}>"

    def _describe(self) -> str:
        return f"{self.name}'s chat"

    async def _post(self, **fields) -> dict:
        if self.blocked:
            raise RuntimeError(f"{self.name} has blocked the bot; call unblock() first")
        msg = self._emu._new_message(self.chat, self.user, **fields)
        if fields.get("text"):
            self._emu.written.append(fields["text"])  # so tests can check no log ever holds it
        self.started = True
        self._emu._enqueue("message", msg)
        return msg.to_dict()

    async def _send_text(self, person: Person, text: str) -> dict:
        return await self._post(text=text, entities=command_entities(text))

    async def send(self, text: str) -> dict:
        return await self._send_text(self, text)

    async def open_link(self, url: str) -> dict:
        """Follow a deep link to the bot (t.me/<bot>?start=X or tg://resolve?domain=<bot>&start=X)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.scheme == "tg":
            bot = query.get("domain", [""])[0]
        else:
            bot = parts.path.strip("/").split("/")[0]
        if bot.lower() != self._emu.bot_user.username.lower():
            raise ValueError(f"{url!r} is not a link to @{self._emu.bot_user.username}")
        payload = query.get("start", [""])[0]
        if payload and not _PAYLOAD.fullmatch(payload):
            raise ValueError("start payload must be 1-64 characters of A-Z a-z 0-9 _ -")
        return await self.send(f"/start {payload}" if payload else "/start")

    async def send_sticker(self, emoji: str = "👍") -> dict:
        fid, uid = self._emu._new_file(None, None)
        return await self._post(sticker=telegram.Sticker(fid, uid, 512, 512, False, False, "regular", emoji=emoji))

    async def send_photo(self, data: bytes = b"\x89PNG fake", caption: str | None = None) -> dict:
        fid, uid = self._emu._new_file(data, "photo.jpg")
        photo = [telegram.PhotoSize(fid, uid, 1280, 960, file_size=len(data))]
        return await self._post(photo=photo, caption=caption)

    async def send_voice(self, duration: int = 3) -> dict:
        fid, uid = self._emu._new_file(None, None)
        return await self._post(voice=telegram.Voice(fid, uid, duration, mime_type="audio/ogg"))

    async def send_video(self, duration: int = 5) -> dict:
        fid, uid = self._emu._new_file(None, None)
        return await self._post(video=telegram.Video(fid, uid, 640, 360, duration, mime_type="video/mp4"))

    async def send_document(
        self,
        data: bytes = b"hello",
        filename: str = "notes.txt",
        caption: str | None = None,
        mime_type: str = "text/plain",
    ) -> dict:
        fid, uid = self._emu._new_file(data, filename)
        doc = telegram.Document(fid, uid, file_name=filename, mime_type=mime_type, file_size=len(data))
        return await self._post(document=doc, caption=caption)

    async def send_location(self, latitude: float, longitude: float) -> dict:
        return await self._post(location=telegram.Location(longitude=longitude, latitude=latitude))

    async def send_contact(self, phone_number: str = "+31612345678") -> dict:
        """Share one's own contact (what a request_contact keyboard button sends)."""
        contact = telegram.Contact(phone_number, self.user.first_name, self.user.last_name, user_id=self.id)
        return await self._post(contact=contact)

    async def edit(self, message: dict | int, text: str) -> dict:
        """Edit a message this person sent earlier: an edited_message update."""
        mid = message["message_id"] if isinstance(message, dict) else message
        msg = self._emu._message(self.chat.id, mid)
        if msg is None or msg.from_user is None or msg.from_user.id != self.id:
            raise LookupError(f"{self.name} has no message {mid} to edit")
        new = self._emu._edit_message(msg, text=text, entities=command_entities(text) or None)
        self._emu.written.append(text)
        self._emu._enqueue("edited_message", new)
        return new.to_dict()

    async def press(self, label: str) -> dict:
        """Press a button by its exact text; returns the callback_query (or message) sent."""
        self.started = True
        return await self._press(self, label)

    async def press_data(self, message_id: int, data: str) -> dict:
        """A callback_query with arbitrary data on any message id (stale or forged data). A message
        that does not exist in this chat is sent as Telegram's InaccessibleMessage (date 0)."""
        msg = self._emu._message(self.chat.id, message_id) or telegram.InaccessibleMessage(self.chat, message_id)
        self.started = True
        return self._emu._callback(self.user, msg, data).to_dict()

    def block(self) -> None:
        if not self.blocked:
            self.blocked = True
            self._emu._member_update(self.chat, self.user, "member", "kicked")

    def unblock(self) -> None:
        if self.blocked:
            self.blocked = False
            self._emu._member_update(self.chat, self.user, "kicked", "member")


class _Chat(_Inbox):
    """A group or channel; `bot_status` is None until the bot is first added."""

    def __init__(self, emu: BotApiEmulator, chat: telegram.Chat, members=()) -> None:
        super().__init__(emu)
        self.chat = chat
        self.members: list[Person] = list(members)
        self.bot_status: str | None = None

    @property
    def id(self) -> int:
        return self.chat.id

    @property
    def bot_present(self) -> bool:
        return self.bot_status in ("member", "administrator")

    def _describe(self) -> str:
        return repr(self.chat.title)

    async def add_bot(self, by: Person, *, admin: bool = False) -> None:
        old, self.bot_status = self.bot_status or "left", "administrator" if admin else "member"
        self._emu._member_update(self.chat, by.user, old, self.bot_status)

    async def remove_bot(self, by: Person) -> None:
        old, self.bot_status = self.bot_status or "left", "left" if self.chat.type == "group" else "kicked"
        self._emu._member_update(self.chat, by.user, old, self.bot_status)


class Group(_Chat):
    async def add_bot(self, by: Person, *, admin: bool = False) -> None:
        await super().add_bot(by, admin=admin)
        # Telegram also posts a service message about the new member
        msg = self._emu._new_message(self.chat, by.user, new_chat_members=[self._emu.bot_user])
        self._emu._enqueue("message", msg)

    async def send(self, person: Person, text: str, *, reply_to: int | None = None) -> dict:
        """A message in the group. With privacy mode on (the default for bots) the bot only gets
        commands and replies to its own messages, like on Telegram."""
        return await self._send_text(person, text, reply_to=reply_to)

    async def press(self, person: Person, label: str) -> dict:
        return await self._press(person, label)

    async def _send_text(self, person: Person, text: str, reply_to: int | None = None) -> dict:
        if person not in self.members:
            raise ValueError(f"{person.name} is not a member of {self.chat.title!r}")
        replied = self._emu._message(self.chat.id, reply_to) if reply_to else None
        msg = self._emu._new_message(
            self.chat, person.user, text=text, entities=command_entities(text), reply_to_message=replied
        )
        if self.bot_present and self._emu._bot_sees(self, msg):
            self._emu._enqueue("message", msg)
        return msg.to_dict()


class Channel(_Chat):
    async def add_bot(self, by: Person, *, admin: bool = True) -> None:
        await super().add_bot(by, admin=admin)

    async def post(self, text: str) -> dict:
        """A channel post (no sender user; sender_chat is the channel)."""
        msg = self._emu._new_message(self.chat, None, text=text, sender_chat=self.chat)
        if self.bot_status == "administrator":
            self._emu._enqueue("channel_post", msg)
        return msg.to_dict()


def command_entities(text: str) -> list[telegram.MessageEntity] | None:
    found = [
        telegram.MessageEntity("bot_command", utf16_len(text[: m.start()]), utf16_len(m.group()))
        for m in _COMMAND.finditer(text)
    ]
    return found or None
