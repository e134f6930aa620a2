"""A local Telegram Bot API server for tests and the playground.

A real aiohttp server in the caller's event loop; the unmodified python-telegram-bot talks to it
through `base_url`. Every object returned or queued is built with PTB's own types, so PTB parses it.

Updates reach the bot by getUpdates, or, once the bot called setWebhook, by POSTs to its URL with the
secret in `X-Telegram-Bot-Api-Secret-Token`: one chat's updates one at a time and in order, chats in
parallel, each retried after anything but a 2xx answer (with growing pauses, a bounded number of times),
as Telegram does. `emu.faults` makes calls fail on purpose (see emulator/faults.py).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import itertools
import json
import math
import mimetypes
import random
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import telegram
from aiohttp import web

from .faults import Faults
from .html import HtmlParseError, parse_html, strip_text, utf16_len
from .people import Channel, Group, Person, Received, _Chat, buttons_of

__all__ = ["ApiError", "BotApiEmulator", "Limits", "WebhookRetry"]

_DEFAULT_ALLOWED = frozenset(telegram.Update.ALL_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "callback_game",
    "pay",
    "web_app",
    "copy_text",
)
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


@dataclass
class Limits:
    """Telegram's flood limits, on real monotonic time (the defaults are Telegram's).

    At most `global_per_second` message-posting calls in any one second over all chats (a sliding
    window: Telegram's "no more than 30 messages per second"). Each chat is a token bucket that
    holds up to `chat_burst` tokens and refills at `chat_per_second`: a burst of `chat_burst`
    messages at once, then about one a second; groups refill at no more than `group_per_minute` / 60
    a second (Telegram's "20 messages a minute to one group"). A call refused with 429 takes nothing.
    """

    global_per_second: float = 30.0
    chat_per_second: float = 1.0
    chat_burst: int = 20
    group_per_minute: float = 20.0
    enabled: bool = True


@dataclass
class WebhookRetry:
    """How a webhook delivery is repeated after a failure: pauses grow from `first` to `longest`
    seconds; after `attempts` failed attempts the update is given up (kept in `webhook_dropped`)."""

    first: float = 0.05
    longest: float = 1.0
    attempts: int = 120


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def wait(self) -> float:
        """Seconds until a token is available (0 if one is)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class _Window:
    """At most `most` events in any one second."""

    def __init__(self, most: float) -> None:
        self.most = max(1, int(most))
        self.moments: collections.deque[float] = collections.deque()

    def wait(self) -> float:
        now = time.monotonic()
        while self.moments and self.moments[0] <= now - 1.0:
            self.moments.popleft()
        return 0.0 if len(self.moments) < self.most else self.moments[-self.most] + 1.0 - now


@dataclass(frozen=True)
class RawUpdate:
    """An update exactly as given, however malformed (what a broken client or Telegram itself may send)."""

    update_id: int
    fields: dict
    effective_chat = None

    def to_dict(self) -> dict:
        return {"update_id": self.update_id, **self.fields}


@dataclass(frozen=True)
class Upload:
    """A file sent as multipart/form-data."""

    filename: str | None
    data: bytes
    content_type: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class BotApiEmulator:
    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "HerstelTestBot",
        bot_first_name: str = "Herstel",
        limits: Limits | None = None,
        *,
        privacy_mode: bool = True,
    ) -> None:
        self.token = token
        self.privacy_mode = privacy_mode
        self.bot_user = telegram.User(int(token.split(":")[0]), bot_first_name, True, username=bot_username)
        self._global_window: _Window | None = None
        self._chat_buckets: dict[int, _Bucket] = {}
        self.limits = limits or Limits()
        self.url = self.base_url = ""
        # what tests inspect
        self.written: list[str] = []  # every text people typed, in order
        self.too_many = 0  # how often a call was refused with 429
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[tuple[float, str, Any]] = []  # (monotonic moment, method, chat_id) of every call accepted
        self.callback_answers: list[dict] = []
        self.commands: dict[str, list[tuple[str, str]]] = {}
        self.left_chats: set[int] = set()
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.faults = Faults()
        self.errors: list[tuple[str, int]] = []  # (method, status) of every error answer, faults included
        self.update_log: list[telegram.Update] = []  # every update ever queued, in order
        self.webhook_retry = WebhookRetry()
        self.webhook_balance: list[str] = []  # when set: deliveries rotate over these URLs (a load balancer)
        self.webhook_deliveries: list[tuple[int, str, int | None]] = []  # (update_id, url, status or None)
        self.webhook_dropped: list[telegram.Update] = []
        # state
        self._updates: list[telegram.Update] = []
        self._next_update_id = random.randrange(100_000, 900_000)
        self._allowed = _DEFAULT_ALLOWED
        self._poller: asyncio.Future | None = None  # the getUpdates call waiting for an update
        self._again: list[telegram.Update] = []  # delivered once more, whatever the offset
        self._lanes: dict[int, asyncio.Task] = {}  # webhook delivery: one task per chat with updates
        self._webhook_slots = asyncio.Semaphore(40)
        self._webhook_turn = itertools.count()
        self._client: aiohttp.ClientSession | None = None
        self._drained = asyncio.Event()
        self._drained.set()
        self._chats: dict[int, Person | _Chat] = {}
        self._messages: dict[int, dict[int, telegram.Message]] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, tuple[bytes | None, str | None, str]] = {}  # file_id -> data, name, unique id
        self._callbacks: dict[str, bool] = {}  # callback query id -> answered
        self._serial = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._methods = {
            name[5:].lower(): (name[5:], getattr(self, name)) for name in dir(self) if name.startswith("_api_")
        }

    @property
    def limits(self) -> Limits:
        return self._limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._limits = limits  # new limits start with full buckets
        self._global_window = None
        self._chat_buckets.clear()

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, middlewares: tuple = ()) -> None:
        if host not in _LOOPBACK:
            raise ValueError("the emulator only listens on the loopback interface")
        # bots may upload up to 50 MB; `middlewares` guard it where a browser is near (the playground)
        app = web.Application(client_max_size=50 * 1024 * 1024, middlewares=list(middlewares))
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self.base_url = f"{self.url}/bot"

    async def stop(self) -> None:
        self._wake("stop")  # a pending long poll would otherwise hold up the shutdown
        lanes = list(self._lanes.values())
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- the user side ---------------------------------------------------------------------

    def person(
        self,
        first_name: str,
        language_code: str | None = "en",
        *,
        last_name: str | None = None,
        username: str | None = None,
    ) -> Person:
        user_id = 7_000_000_000 + next(self._serial)
        user = telegram.User(
            user_id, first_name, False, last_name=last_name, username=username, language_code=language_code
        )
        person = Person(self, user)
        self._chats[user_id] = person
        return person

    def group(self, title: str, members: list[Person] = ()) -> Group:
        chat = telegram.Chat(-(4_000_000_000 + next(self._serial)), "group", title=title)
        self._chats[chat.id] = group = Group(self, chat, members)
        return group

    def channel(self, title: str, username: str | None = None) -> Channel:
        chat = telegram.Chat(-(1_002_000_000_000 + next(self._serial)), "channel", title=title, username=username)
        self._chats[chat.id] = channel = Channel(self, chat)
        return channel

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_until_confirmed(self, timeout: float = 5) -> None:
        """Wait until getUpdates has confirmed (by offset) every queued update, or, with a webhook,
        until the bot has answered 2xx for each."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.pending_updates} updates still unconfirmed after {timeout}s") from None

    # ---- helpers the people module uses ----------------------------------------------------

    def deliver_again(self, update_id: int | None = None) -> telegram.Update:
        """Deliver an update once more (the newest by default), as Telegram sometimes does: by webhook,
        or in the next getUpdates answer whatever its offset."""
        update = next(u for u in reversed(self.update_log) if update_id is None or u.update_id == update_id)
        if self.webhook_url:
            self._updates.append(update)
            self._drained.clear()
            self._kick_webhook()
        else:
            self._again.append(update)
            self._wake("update")
        return update

    def queue_raw(self, fields: dict) -> int:
        """Queue an update made of `fields` as they are (say `{"message": {}}`), for polling or the
        webhook like any other; returns its update_id."""
        update = RawUpdate(self._next_update_id, fields)
        self._next_update_id += 1
        self._updates.append(update)
        self.update_log.append(update)
        self._drained.clear()
        self._wake("update")
        self._kick_webhook()
        return update.update_id

    def _enqueue(self, kind: str, obj: Any) -> None:
        if kind not in self._allowed:
            return  # Telegram does not even store update types the bot did not ask for
        update = telegram.Update(self._next_update_id, **{kind: obj})
        self._updates.append(update)
        self.update_log.append(update)
        self._next_update_id += 1
        self._drained.clear()
        self._wake("update")
        self._kick_webhook()

    def _wake(self, reason: str) -> None:
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(reason)

    def _new_message(self, chat: telegram.Chat, from_user: telegram.User | None, **fields) -> telegram.Message:
        mid = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = mid + 1
        msg = telegram.Message(mid, _now(), chat, from_user=from_user, **fields)
        self._messages.setdefault(chat.id, {})[mid] = msg
        return msg

    def _message(self, chat_id: int, message_id: int) -> telegram.Message | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def _messages_in(self, chat_id: int):
        return self._messages.get(chat_id, {}).values()

    def _edit_message(self, msg: telegram.Message, **changes) -> telegram.Message:
        """A copy of `msg` with fields changed (None removes one) and edit_date set, stored in its place."""
        data = msg.to_dict()
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = _plain(value)
        data["edit_date"] = int(time.time())
        new = telegram.Message.de_json(data, None)
        self._messages[msg.chat.id][msg.message_id] = new
        return new

    def _new_file(self, data: bytes | None, filename: str | None) -> tuple[str, str]:
        n = next(self._serial)
        file_id, unique_id = f"emu-file-{n}", f"emu-u{n}"
        self._files[file_id] = (data, filename, unique_id)
        return file_id, unique_id

    def _callback(
        self, user: telegram.User, msg: telegram.MaybeInaccessibleMessage, data: str
    ) -> telegram.CallbackQuery:
        query_id = str(next(self._serial) * 1_000_003 + 4_000_000_000_000)
        self._callbacks[query_id] = False
        query = telegram.CallbackQuery(query_id, user, str(-msg.chat.id * 7 - self.bot_user.id), message=msg, data=data)
        self._enqueue("callback_query", query)
        return query

    def _member(self, status: str) -> telegram.ChatMember:
        bot = self.bot_user
        if status == "member":
            return telegram.ChatMemberMember(bot)
        if status == "left":
            return telegram.ChatMemberLeft(bot)
        if status == "kicked":
            return telegram.ChatMemberBanned(bot, until_date=dt.datetime.fromtimestamp(0, dt.UTC))
        return telegram.ChatMemberAdministrator(
            bot,
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=False,
            can_restrict_members=False,
            can_promote_members=False,
            can_change_info=False,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
            can_post_messages=True,
            can_edit_messages=True,
        )

    def _member_update(self, chat: telegram.Chat, by: telegram.User, old: str, new: str) -> None:
        update = telegram.ChatMemberUpdated(chat, by, _now(), self._member(old), self._member(new))
        self._enqueue("my_chat_member", update)

    def _bot_sees(self, group: _Chat, msg: telegram.Message) -> bool:
        """Privacy mode: in groups the bot only gets commands and replies to its own messages."""
        if not self.privacy_mode or group.bot_status == "administrator":
            return True
        reply = msg.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == self.bot_user.id:
            return True
        text = msg.text or ""
        if not text.startswith("/"):
            return False
        _, _, addressee = text.split()[0].partition("@")
        return not addressee or addressee.lower() == self.bot_user.username.lower()

    # ---- HTTP ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _reply(ApiError(401, "Unauthorized").body(), 401)
        found = self._methods.get(request.match_info["method"].lower())
        if found is None:
            return _reply(ApiError(404, "Not Found").body(), 404)
        name, method = found
        try:
            try:
                params = await _read_params(request)
            except ConnectionResetError:
                return web.Response()  # the bot went away mid-request (killed): nobody to answer
            self.calls.append((name, params))
            strike = self.faults.strike(name, params)
            if strike is not None and strike.kind == "reset":
                request.transport.abort()
                return web.Response()  # goes nowhere: the client sees the connection drop
            if strike is not None and strike.kind == "hang":
                await asyncio.sleep(strike.seconds)
                if not strike.carried_out:
                    raise ApiError(strike.status, strike.description)
            elif strike is not None:
                raise ApiError(strike.status, strike.description, strike.parameters)
            result = await method(params)
            if name != "getUpdates":
                self.sent.append((time.monotonic(), name, params.get("chat_id")))
        except ApiError as error:
            self.errors.append((name, error.code))
            return _reply(error.body(), error.code)
        return _reply({"ok": True, "result": result}, 200)

    # ---- webhook delivery ------------------------------------------------------------------

    def _kick_webhook(self) -> None:
        """Start a delivery lane for every chat that has updates waiting and none running."""
        if not self.webhook_url:
            return
        for update in self._updates:
            lane = _lane(update)
            if lane not in self._lanes:
                self._lanes[lane] = asyncio.get_running_loop().create_task(self._deliver_lane(lane))

    async def _deliver_lane(self, lane: int) -> None:
        """Deliver one chat's updates in order; retry each until the bot answers 2xx or attempts run out."""
        try:
            failures = 0
            while self.webhook_url:
                update = next((u for u in self._updates if _lane(u) == lane), None)
                if update is None:
                    return
                async with self._webhook_slots:
                    delivered = await self._post_update(update)
                if delivered or failures + 1 >= self.webhook_retry.attempts:
                    if not delivered:
                        self.webhook_dropped.append(update)
                    self._updates.remove(update)
                    failures = 0
                    continue
                failures += 1
                retry = self.webhook_retry
                await asyncio.sleep(min(retry.longest, retry.first * 2 ** (failures - 1)))
        finally:
            self._lanes.pop(lane, None)
            if not self._updates:
                self._drained.set()
            elif self.webhook_url and any(_lane(u) == lane for u in self._updates):
                self._kick_webhook()

    async def _post_update(self, update: telegram.Update) -> bool:
        urls = self.webhook_balance or [self.webhook_url]
        url = urls[next(self._webhook_turn) % len(urls)]
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            async with self._client.post(url, json=_clean(update.to_dict()), headers=headers) as answer:
                status = answer.status
        except (TimeoutError, aiohttp.ClientError, OSError):
            status = None
        self.webhook_deliveries.append((update.update_id, url, status))
        return status is not None and 200 <= status < 300

    # ---- checks shared by the methods ------------------------------------------------------

    def _chat(self, p: dict) -> Person | _Chat:
        raw = p.get("chat_id")
        if raw in (None, ""):
            raise _bad("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            found = [c for c in self._chats.values() if (c.chat.username or "").lower() == raw[1:].lower()]
            if found:
                return found[0]
            raise _bad("chat not found")
        try:
            chat = self._chats.get(int(raw))
        except (TypeError, ValueError):
            chat = None
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _writable(self, p: dict) -> Person | _Chat:
        """The chat the bot posts into, if it may."""
        chat = self._chat(p)
        if isinstance(chat, Person):
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not chat.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif chat.bot_status is None:
            raise _bad("chat not found")  # a group the bot never joined is invisible to it
        elif not chat.bot_present:
            kind = "channel" if chat.chat.type == "channel" else "group"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        elif chat.chat.type == "channel" and chat.bot_status != "administrator":
            raise _bad("need administrator rights in the channel chat")
        return chat

    def _spend(self, chat: Person | _Chat) -> None:
        """Take a token from the global and the chat bucket, or raise 429 taking none."""
        limits = self.limits
        if not limits.enabled:
            return
        if self._global_window is None:
            self._global_window = _Window(limits.global_per_second)
        bucket = self._chat_buckets.get(chat.chat.id)
        if bucket is None:
            rate = limits.chat_per_second
            if chat.chat.type in ("group", "supergroup"):
                rate = min(rate, limits.group_per_minute / 60)
            bucket = self._chat_buckets[chat.chat.id] = _Bucket(rate, limits.chat_burst)
        wait = max(self._global_window.wait(), bucket.wait())
        if wait > 0:
            retry = max(1, math.ceil(wait))
            self.too_many += 1
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        self._global_window.moments.append(time.monotonic())
        bucket.tokens -= 1

    def _formatted(self, p: dict, key: str) -> tuple[str, list[dict], str | None]:
        """(plain text, entities, html as sent or None) of the text or caption parameter."""
        raw = p.get(key)
        raw = raw if isinstance(raw, str) else ""
        mode = str(p.get("parse_mode") or "")
        if mode.lower() == "html":
            try:
                text, entities = parse_html(raw)
            except HtmlParseError as error:
                raise _bad(f"can't parse entities: {error}") from None
            html = raw
        elif mode:
            raise _bad("unsupported parse_mode (the emulator implements only HTML)")
        else:
            text, html = raw, None
            entities = _json(p, "entities" if key == "text" else "caption_entities") or []
            if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
                raise _bad("can't parse entities JSON object")
        text, entities = strip_text(text, entities)
        return text, entities, html

    def _reply_markup(self, p: dict) -> tuple[telegram.InlineKeyboardMarkup | None, tuple | None]:
        """(inline keyboard for the message, reply-keyboard effect for the chat)."""
        markup = _json(p, "reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('can\'t parse inline keyboard: field "inline_keyboard" must be an Array of Arrays')
            for button in (b for row in rows for b in row):
                _check_inline_button(button)
            if not any(rows):
                return None, None
            return telegram.InlineKeyboardMarkup.de_json(markup, None), None
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('can\'t parse keyboard: field "keyboard" must be an Array of Arrays')
            texts = tuple(
                tuple(b if isinstance(b, str) else b.get("text") if isinstance(b, dict) else None for b in row)
                for row in rows
            )
            if any(not isinstance(t, str) or not t for row in texts for t in row):
                raise _bad('can\'t parse keyboard button: field "text" must be of type String')
            return None, ("set", texts, bool(markup.get("one_time_keyboard")))
        if markup.get("remove_keyboard"):
            return None, ("remove",)
        if "force_reply" in markup:
            return None, None
        raise _bad("can't parse reply keyboard markup JSON object")

    def _bot_message(self, p: dict, kind: str) -> tuple[Person | _Chat, telegram.Message]:
        """The bot's own message named by chat_id + message_id, for editing."""
        chat = self._writable(p)
        self._spend(chat)
        msg = self._message(chat.chat.id, _int(p, "message_id", 0))
        if msg is None:
            raise _bad(f"message to {kind} not found")
        if msg.from_user is None or msg.from_user.id != self.bot_user.id:
            raise _bad("message can't be edited")
        return chat, msg

    # ---- Bot API methods (name after "_api_" is the method; lookup is case-insensitive) -------

    async def _api_getMe(self, p: dict) -> dict:
        bot = self.bot_user
        return telegram.User(
            bot.id,
            bot.first_name,
            True,
            username=bot.username,
            can_join_groups=True,
            can_read_all_group_messages=not self.privacy_mode,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        ).to_dict()

    async def _api_getUpdates(self, p: dict) -> list[dict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._wake("conflict")  # a newer request terminates the waiting one
        offset, limit = _int(p, "offset", 0), min(max(_int(p, "limit", 100), 1), 100)
        timeout = max(_float(p, "timeout", 0.0), 0.0)
        allowed = _json(p, "allowed_updates")
        if allowed is not None:
            self._allowed = frozenset(allowed) or _DEFAULT_ALLOWED
        if offset > 0:
            self._updates = [u for u in self._updates if u.update_id >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]  # -N: keep the last N, forget the rest
        if self._again:
            again, self._again = self._again, []
            return [u.to_dict() for u in (again + self._updates)[:limit]]
        if not self._updates:
            self._drained.set()
            if timeout > 0:
                self._poller = future = asyncio.get_running_loop().create_future()
                try:
                    reason = await asyncio.wait_for(future, timeout)
                except TimeoutError:
                    reason = "timeout"
                finally:
                    if self._poller is future:
                        self._poller = None
                if reason == "conflict":
                    raise ApiError(409, _CONFLICT)
        return [u.to_dict() for u in self._updates[:limit]]

    async def _api_setWebhook(self, p: dict) -> bool:
        url = str(p.get("url") or "")
        if url and not re.match(r"https?://", url):
            raise _bad("bad webhook: an HTTPS URL must be provided for webhook")
        secret = p.get("secret_token") or None
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("bad webhook: secret token contains unallowed characters")
        connections = _int(p, "max_connections", 40)
        if not 1 <= connections <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        self.webhook_url, self.webhook_secret = url, secret
        self._webhook_slots = asyncio.Semaphore(connections)
        allowed = _json(p, "allowed_updates")
        if allowed is not None:
            self._allowed = frozenset(allowed) or _DEFAULT_ALLOWED
        if _bool(p, "drop_pending_updates"):
            self._drop_pending()
        self._wake("conflict")  # a waiting getUpdates ends, as on Telegram
        self._kick_webhook()  # what waited for getUpdates now goes to the webhook
        return True

    async def _api_deleteWebhook(self, p: dict) -> bool:
        self.webhook_url, self.webhook_secret = "", None
        if _bool(p, "drop_pending_updates"):
            self._drop_pending()
        return True

    def _drop_pending(self) -> None:
        self._updates.clear()
        self._drained.set()

    async def _api_getWebhookInfo(self, p: dict) -> dict:
        return telegram.WebhookInfo(self.webhook_url, False, len(self._updates)).to_dict()

    async def _api_close(self, p: dict) -> bool:
        return True

    async def _api_logOut(self, p: dict) -> bool:
        return True

    async def _api_setMyCommands(self, p: dict) -> bool:
        commands = _json(p, "commands")
        if not isinstance(commands, list):
            raise _bad('field "commands" must be an Array')
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        parsed = []
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_NAME.fullmatch(str(c.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            description = str(c.get("description") or "").strip()
            if not description:
                raise _bad("command description is empty")
            if len(description) > 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            parsed.append((c["command"], description))
        language = _language(p)
        if parsed:
            self.commands[language] = parsed
        else:
            self.commands.pop(language, None)
        return True

    async def _api_getMyCommands(self, p: dict) -> list[dict]:
        return [telegram.BotCommand(c, d).to_dict() for c, d in self.commands.get(_language(p), [])]

    async def _api_deleteMyCommands(self, p: dict) -> bool:
        self.commands.pop(_language(p), None)
        return True

    async def _api_sendMessage(self, p: dict) -> dict:
        chat = self._writable(p)
        self._spend(chat)
        text, entities, html = self._formatted(p, "text")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:  # Telegram counts in UTF-16 code units, like entity offsets
            raise _bad("message is too long")
        inline, keyboard = self._reply_markup(p)
        msg = self._new_message(chat.chat, self.bot_user, text=text, entities=_entities(entities), reply_markup=inline)
        return self._deliver(chat, msg, keyboard, html=html)

    async def _api_sendPhoto(self, p: dict) -> dict:
        return self._send_file(p, "photo")

    async def _api_sendDocument(self, p: dict) -> dict:
        return self._send_file(p, "document")

    def _send_file(self, p: dict, kind: str) -> dict:
        chat = self._writable(p)
        self._spend(chat)
        source = p.get(kind)
        if isinstance(source, Upload):
            data, filename = source.data, source.filename
            file_id, unique_id = self._new_file(data, filename)
        elif isinstance(source, str) and source in self._files:
            file_id = source
            data, filename, unique_id = self._files[source]
        elif isinstance(source, str) and re.match(r"https?://", source):
            data, filename = None, source.rsplit("/", 1)[-1] or None
            file_id, unique_id = self._new_file(data, filename)
        elif not source:
            raise _bad(f"there is no {kind} in the request")
        else:
            raise _bad("wrong file identifier/HTTP URL specified")
        caption, entities, html = self._formatted(p, "caption")
        if utf16_len(caption) > 1024:
            raise _bad("message caption is too long")
        inline, keyboard = self._reply_markup(p)
        size = len(data) if data is not None else None
        if kind == "photo":
            media = {"photo": [telegram.PhotoSize(file_id, unique_id, 1280, 960, file_size=size)]}
        else:
            mime = mimetypes.guess_type(filename or "")[0] or "application/octet-stream"
            media = {"document": telegram.Document(file_id, unique_id, filename, mime, size)}
        msg = self._new_message(
            chat.chat,
            self.bot_user,
            caption=caption or None,
            caption_entities=_entities(entities),
            reply_markup=inline,
            **media,
        )
        return self._deliver(chat, msg, keyboard, html=html, document=data, filename=filename)

    def _deliver(self, chat: Person | _Chat, msg: telegram.Message, keyboard, **received) -> dict:
        chat.inbox.append(Received.from_message(msg, **received))
        chat._set_keyboard(keyboard)
        return msg.to_dict()

    async def _api_editMessageText(self, p: dict) -> dict:
        chat, msg = self._bot_message(p, "edit")
        if msg.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities, html = self._formatted(p, "text")
        if not text:
            raise _bad("message text is empty")
        if utf16_len(text) > 4096:
            raise _bad("message is too long")
        inline, _ = self._reply_markup(p)  # no reply_markup removes the inline keyboard, as on Telegram
        if (
            text == msg.text
            and entities == [e.to_dict() for e in msg.entities]
            and _markup_dict(inline) == _markup_dict(msg.reply_markup)
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        new = self._edit_message(msg, text=text, entities=entities or None, reply_markup=inline)
        chat._replace(new.message_id, text=text, html=html, buttons=buttons_of(new))
        return new.to_dict()

    async def _api_editMessageReplyMarkup(self, p: dict) -> dict:
        chat, msg = self._bot_message(p, "edit")
        inline, _ = self._reply_markup(p)
        if _markup_dict(inline) == _markup_dict(msg.reply_markup):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        new = self._edit_message(msg, reply_markup=inline)
        chat._replace(new.message_id, buttons=buttons_of(new))
        return new.to_dict()

    async def _api_deleteMessage(self, p: dict) -> bool:
        chat = self._chat(p)
        mid = _int(p, "message_id", 0)
        if self._messages.get(chat.chat.id, {}).pop(mid, None) is None:
            raise _bad("message to delete not found")
        chat._remove(mid)
        return True

    async def _api_answerCallbackQuery(self, p: dict) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if self._callbacks.get(query_id, True):  # unknown or already answered
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": text,
                "show_alert": _bool(p, "show_alert"),
                "url": p.get("url"),
                "cache_time": _int(p, "cache_time", 0),
            }
        )
        return True

    async def _api_leaveChat(self, p: dict) -> bool:
        chat = self._chat(p)
        if isinstance(chat, Person):
            raise _bad("chat member status can't be changed in private chats")
        if not chat.bot_present:
            kind = "channel" if chat.chat.type == "channel" else "group"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
        old, chat.bot_status = chat.bot_status, "left"
        self.left_chats.add(chat.chat.id)
        self._member_update(chat.chat, self.bot_user, old, "left")
        return True

    async def _api_sendChatAction(self, p: dict) -> bool:
        self._writable(p)
        if not p.get("action"):
            raise _bad("action is empty")
        return True


# ---- parameters: form fields arrive as strings, JSON bodies as typed values -------------------


async def _read_params(request: web.Request) -> dict:
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _bad("can't parse JSON") from None
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        params.update(body)
    else:
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                value = Upload(value.filename, value.file.read(), value.content_type)
            params[key] = value
    return params


def _int(p: dict, name: str, default: int) -> int:
    value = p.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f'field "{name}" must be of type Integer') from None


def _float(p: dict, name: str, default: float) -> float:
    value = p.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(f'field "{name}" must be of type Number') from None


def _bool(p: dict, name: str) -> bool:
    return p.get(name) in (True, "true", "True", "1", 1)


def _json(p: dict, name: str) -> Any:
    value = p.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {name} JSON object") from None
    return value


def _language(p: dict) -> str:
    language = str(p.get("language_code") or "")
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise _bad("invalid language code specified")
    return language


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
        raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    actions = [a for a in _BUTTON_ACTIONS if a in button]
    if not actions:
        raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise _bad("can't parse inline keyboard button: only one of the optional fields must be used")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
            raise _bad("BUTTON_DATA_INVALID")  # the limit is in bytes, not characters


def _entities(entities: list[dict]) -> list[telegram.MessageEntity] | None:
    return [telegram.MessageEntity.de_json(e, None) for e in entities] or None


def _plain(value: Any) -> Any:
    if isinstance(value, telegram.TelegramObject):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _markup_dict(markup: telegram.InlineKeyboardMarkup | None) -> dict | None:
    return markup.to_dict() if markup is not None else None


_FALSE_DEFAULTS = ("delete_chat_photo", "group_chat_created", "supergroup_chat_created", "channel_chat_created")


def _clean(value: Any) -> Any:
    """Drop the always-False flags PTB's Message.to_dict() adds; Telegram only sends them when true."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not (k in _FALSE_DEFAULTS and v is False)}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _lane(update: telegram.Update) -> int:
    """Updates of one chat are delivered one at a time, in order."""
    chat = update.effective_chat
    return chat.id if chat is not None else 0


def _reply(body: dict, status: int) -> web.Response:
    text = json.dumps(_clean(body), ensure_ascii=False)
    return web.Response(text=text, status=status, content_type="application/json")
