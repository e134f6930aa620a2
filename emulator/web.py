"""JSON endpoints for the browser playground: what each person sees, and what they do.

The playground (bot/playground) mounts these on its page server, in the same event loop as the
emulator and the bot. The page polls `GET /api/state` and acts through small POSTs:

    GET  /api/state                                   people, their chats, command menus, the clock
    POST /api/send      {person, text}                a message typed in a pane
    POST /api/press     {person, message_id, data}    an inline button pressed
    POST /api/open      {person, url}                 a t.me link to the bot opened in a pane
    POST /api/media     {person, kind}                a sticker or a photo
    POST /api/language  {person, language}            Telegram's language_code, for the next updates
    POST /api/clock     {advance_hours} | {to_local_time: "tomorrow 20:00"}
    POST /api/reset                                   start over

A pane's messages are that person's own messages and what the bot sent them, in order, as
plain text with Telegram's entities (UTF-16 offsets, as in the Bot API); the page builds the
formatting from the entities and never parses markup.

Every request must come from 127.0.0.1 and name this server in its Host header (no DNS
rebinding), and a POST must be JSON from the page's own origin, so another web page open in the
same browser cannot drive the people.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import telegram
from aiohttp import web

from .people import Person, buttons_of
from .server import BotApiEmulator

__all__ = ["Host", "PlaygroundApi", "Seat", "SimulatedClock", "bot_api_only", "loopback_only"]

LOOPBACK = "127.0.0.1"
LANGUAGES = ("en", "nl")
MEDIA = ("sticker", "photo")
_LOCAL_TIME = re.compile(r"^\s*(?:(today|tomorrow)\s+)?([01]?\d|2[0-3])[:.]([0-5]\d)\s*$", re.IGNORECASE)
_TINY_PNG = bytes.fromhex(  # a real 1x1 PNG in warm beige
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c49444154789c637871f3"
    "08000532028635bf1a540000000049454e44ae426082"
)


class SimulatedClock(Protocol):
    """The bot's clock: real time plus an offset that only grows."""

    zone: ZoneInfo
    offset: timedelta

    def __call__(self) -> datetime: ...

    def advance(self, delta: timedelta) -> None: ...


@dataclass
class Seat:
    """One pane of the page: a person and how the page names them."""

    key: str  # "a", "b", "t": what the page sends as `person`
    title: str  # "Anna"
    role: str  # "Partner A"
    person: Person


class Host(Protocol):
    """What the endpoints act on. `emulator`, `seats` and `clock` may be replaced by a reset;
    `generation` then goes up, and the page clears."""

    generation: int
    emulator: BotApiEmulator
    seats: list[Seat]
    clock: SimulatedClock

    async def reset(self) -> None: ...


# ---- the guard ------------------------------------------------------------------------------


@web.middleware
async def loopback_only(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    if request.remote != LOOPBACK:
        raise web.HTTPForbidden(text="The playground only answers this computer (127.0.0.1).")
    port = _own_port(request)
    if request.host not in {f"{LOOPBACK}:{port}", f"localhost:{port}"}:
        raise web.HTTPForbidden(text="Open the playground at its own address, http://127.0.0.1:<port>/.")
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{request.host}":
            raise web.HTTPForbidden(text="Only the playground page itself may act.")
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="Send JSON.")
    return await handler(request)


@web.middleware
async def bot_api_only(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """The playground's local Bot API: the same loopback and Host rules, and no browser at all. Only
    the bot in this process calls it; a request a web page makes carries an Origin or Sec-Fetch-Site
    header (even a GET from an <img>, which Bot API methods would take as a call), so it is refused."""
    if request.remote != LOOPBACK:
        raise web.HTTPForbidden(text="This Bot API only answers this computer (127.0.0.1).")
    port = _own_port(request)
    if request.host not in {f"{LOOPBACK}:{port}", f"localhost:{port}"}:
        raise web.HTTPForbidden(text="Call this Bot API at its own address.")
    site = request.headers.get("Sec-Fetch-Site")
    if request.headers.get("Origin") is not None or site not in (None, "none"):
        raise web.HTTPForbidden(text="Only the playground's own bot may call this Bot API.")
    return await handler(request)


def _own_port(request: web.Request) -> int | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname[1] if sockname else None


# ---- the endpoints --------------------------------------------------------------------------


class PlaygroundApi:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._lock = asyncio.Lock()  # one action at a time, and none during a reset
        self._queries: dict[str, str] = {}  # callback query id -> seat key, for the bot's toasts
        self._generation = host.generation

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/state", self._state),
            web.post("/api/send", self._send),
            web.post("/api/press", self._press),
            web.post("/api/open", self._open),
            web.post("/api/media", self._media),
            web.post("/api/language", self._language),
            web.post("/api/clock", self._clock),
            web.post("/api/reset", self._reset),
        ]

    # -- reading

    def state(self) -> dict:
        host = self.host
        self._forget_old_queries()
        return {
            "generation": host.generation,
            "bot": {"username": host.emulator.bot_user.username, "name": host.emulator.bot_user.first_name},
            "clock": clock_state(host.clock),
            "people": [self._seat_state(seat) for seat in host.seats],
        }

    def _seat_state(self, seat: Seat) -> dict:
        emulator, person = self.host.emulator, seat.person
        language = person.user.language_code or "en"
        commands = emulator.commands.get(language) or emulator.commands.get("", [])
        answers = emulator.callback_answers
        return {
            "key": seat.key,
            "title": seat.title,
            "role": seat.role,
            "name": person.name,
            "language": language,
            "commands": [{"command": c, "description": d} for c, d in commands],
            "messages": [message_state(m, emulator.bot_user.id) for m in emulator._messages_in(person.chat_id)],
            "keyboard": [list(row) for row in person.keyboard] if person.keyboard else None,
            "toasts": [
                {"id": i, "text": a["text"]}
                for i, a in enumerate(answers)
                if a.get("text") and self._queries.get(a["callback_query_id"]) == seat.key
            ],
        }

    async def _state(self, request: web.Request) -> web.Response:
        async with self._lock:  # not halfway through a reset
            state = self.state()
        return web.json_response(state, headers={"Cache-Control": "no-store"})

    # -- acting

    async def _send(self, request: web.Request) -> web.Response:
        async with self._lock:
            body = await _body(request)
            seat = self._seat(body)
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _bad("Type a message first.")
            if len(text) > 4096:
                raise _bad("A message has at most 4096 characters.")
            await seat.person.send(text)
        return _ok()

    async def _press(self, request: web.Request) -> web.Response:
        async with self._lock:
            body = await _body(request)
            seat = self._seat(body)
            message_id, data = body.get("message_id"), body.get("data")
            if not isinstance(message_id, int) or not isinstance(data, str) or not data:
                raise _bad("Say which button: message_id and data.")
            query = await seat.person.press_data(message_id, data)
            self._queries[query["id"]] = seat.key
        return _ok()

    async def _open(self, request: web.Request) -> web.Response:
        async with self._lock:
            body = await _body(request)
            seat = self._seat(body)
            url = body.get("url")
            if not isinstance(url, str):
                raise _bad("Which link?")
            try:
                await seat.person.open_link(url)
            except ValueError as error:
                raise _bad(str(error)) from None
        return _ok()

    async def _media(self, request: web.Request) -> web.Response:
        async with self._lock:
            body = await _body(request)
            seat = self._seat(body)
            kind = body.get("kind")
            if kind == "sticker":
                await seat.person.send_sticker("🙂")
            elif kind == "photo":
                await seat.person.send_photo(_TINY_PNG)
            else:
                raise _bad(f"kind is one of {', '.join(MEDIA)}")
        return _ok()

    async def _language(self, request: web.Request) -> web.Response:
        async with self._lock:
            body = await _body(request)
            seat = self._seat(body)
            language = body.get("language")
            if language not in LANGUAGES:
                raise _bad(f"language is one of {', '.join(LANGUAGES)}")
            set_language(seat.person, language)
        return _ok()

    async def _clock(self, request: web.Request) -> web.Response:
        async with self._lock:
            body = await _body(request)
            clock = self.host.clock
            if "advance_hours" in body:
                hours = body["advance_hours"]
                if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= 24 * 366:
                    raise _bad("advance_hours is a number of hours, more than 0 and at most a year.")
                clock.advance(timedelta(hours=hours))
            elif "to_local_time" in body:
                try:
                    target = next_local_time(clock(), str(body["to_local_time"]), clock.zone)
                except ValueError as error:
                    raise _bad(str(error)) from None
                clock.advance(target - clock())
            else:
                raise _bad("Send advance_hours or to_local_time.")
            moved = getattr(self.host, "clock_moved", None)
            if moved:
                await moved()  # what fell due now happens at once, not at the next tick
        return web.json_response({"ok": True, "clock": clock_state(clock)})

    async def _reset(self, request: web.Request) -> web.Response:
        async with self._lock:
            await self.host.reset()
            self._queries.clear()
            self._generation = self.host.generation
        return web.json_response({"ok": True, "generation": self.host.generation})

    # -- helpers

    def _seat(self, body: dict) -> Seat:
        key = body.get("person")
        for seat in self.host.seats:
            if seat.key == key:
                return seat
        raise _bad(f"person is one of {', '.join(s.key for s in self.host.seats)}")

    def _forget_old_queries(self) -> None:
        if self._generation != self.host.generation:  # reset by someone else than this API
            self._queries.clear()
            self._generation = self.host.generation


# ---- what the page shows ---------------------------------------------------------------------


def message_state(msg: telegram.Message, bot_id: int) -> dict:
    """One message in a private chat, as the page draws it."""
    from_bot = msg.from_user is not None and msg.from_user.id == bot_id
    if msg.text is not None:
        text, entities = msg.text, msg.entities
    else:
        text, entities = msg.caption or "", msg.caption_entities
    state: dict[str, Any] = {
        "id": msg.message_id,
        "from": "bot" if from_bot else "me",
        "kind": _kind(msg),
        "text": text,
        "entities": [_entity(e) for e in entities],
        "buttons": [[{"text": b.text, "data": b.callback_data, "url": b.url} for b in row] for row in buttons_of(msg)],
        "edited": msg.edit_date is not None,
    }
    if msg.sticker is not None:
        state["emoji"] = msg.sticker.emoji or ""
    if msg.document is not None:
        state["filename"] = msg.document.file_name or "file"
    return state


def _kind(msg: telegram.Message) -> str:
    for kind in ("sticker", "photo", "document", "voice", "video", "location", "contact"):
        if getattr(msg, kind):
            return kind
    return "text"


def _entity(entity: telegram.MessageEntity) -> dict:
    found = {"type": entity.type, "offset": entity.offset, "length": entity.length}
    if entity.url:
        found["url"] = entity.url
    return found


def set_language(person: Person, language: str) -> None:
    """Telegram sends the user's language_code with every update; change it for the next ones."""
    user = person.user
    person.user = telegram.User(
        user.id, user.first_name, user.is_bot, last_name=user.last_name, username=user.username, language_code=language
    )


def clock_state(clock: SimulatedClock) -> dict:
    now = clock()
    local = now.astimezone(clock.zone)
    return {
        "utc": now.isoformat(timespec="seconds"),
        "epoch": now.timestamp(),
        "zone": clock.zone.key,
        "place": clock.zone.key.rsplit("/", 1)[-1].replace("_", " "),
        "local": f"{local:%a} {local.day} {local:%b}, {local:%H:%M}",
        "date": f"{local:%a} {local.day} {local:%b}",
        "time": f"{local:%H:%M}",
        "ahead_minutes": round(clock.offset.total_seconds() / 60),
        "ahead": describe_offset(clock.offset),
    }


def describe_offset(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    if minutes <= 0:
        return "real time"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(p for p in parts if p) + " ahead"


def next_local_time(now: datetime, spec: str, zone: ZoneInfo) -> datetime:
    """ "tomorrow 20:00" is that time on the next local day; "20:00" the next time it is 20:00."""
    m = _LOCAL_TIME.match(spec)
    if not m:
        raise ValueError('to_local_time looks like "20:00" or "tomorrow 20:00"')
    day, hour, minute = (m.group(1) or "").lower(), int(m.group(2)), int(m.group(3))
    local = now.astimezone(zone)
    date = local.date() + timedelta(days=1 if day == "tomorrow" else 0)
    target = datetime.combine(date, time(hour, minute), tzinfo=zone)
    if target <= now and not day:
        target = datetime.combine(date + timedelta(days=1), time(hour, minute), tzinfo=zone)
    if target <= now:
        raise ValueError("The clock only moves forward.")
    return target


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The body is a JSON object.")
    return body


def _bad(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"ok": False, "error": reason}), content_type="application/json")


def _ok() -> web.Response:
    return web.json_response({"ok": True})
