"""Faults on demand: make chosen Bot API calls fail the way Telegram and the network sometimes do.

    emu.faults.fail("sendMessage", status=502, times=2)        # the next two sendMessage calls
    emu.faults.fail("sendMessage", status=429, retry_after=2)  # "Too Many Requests: retry after 2"
    emu.faults.fail("sendMessage", status=403, chat=ben)       # "Forbidden: bot was blocked by the user"
    emu.faults.fail("sendMessage", status=400, description="Bad Request: message is too long")
    emu.faults.share(0.2, status=500, seed=1)                  # a fifth of all calls, reproducibly
    emu.faults.hang("sendMessage", seconds=2)                  # longer than the client waits
    emu.faults.reset_connection("sendMessage")                 # the connection drops, no answer
    emu.faults.clear()

A refused call is refused before it is carried out, so it has no effect on any chat. A hung call is
not carried out either, unless `carried_out=True`: then it is, after the hang, which is the case
where Telegram did the work but the answer never arrived. Every fault that struck is listed in
`emu.faults.struck` as (method, what).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Faults", "Strike"]

Kind = Literal["status", "hang", "reset"]

_DESCRIPTIONS = {
    400: "Bad Request: something is wrong with the request",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Strike:
    """What the emulator does instead of (or before) carrying out one call."""

    kind: Kind
    status: int = 0
    description: str = ""
    parameters: dict | None = None
    seconds: float = 0.0  # for a hang
    carried_out: bool = False  # for a hang: the call is carried out after it


@dataclass
class _Rule:
    methods: frozenset[str] | None  # lower-case names; None: every method
    chat_id: int | None
    strike: Strike
    times: int | None  # how many more calls it strikes; None: no limit
    share: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, method: str, params: dict) -> bool:
        if self.times == 0:
            return False
        if self.methods is not None and method.lower() not in self.methods:
            return False
        if self.chat_id is not None and str(params.get("chat_id")) != str(self.chat_id):
            return False
        return self.share >= 1.0 or self.rng.random() < self.share


class Faults:
    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self.struck: list[tuple[str, str]] = []

    def fail(
        self,
        method: str | None,
        status: int = 500,
        *,
        times: int | None = 1,
        retry_after: int = 1,
        description: str | None = None,
        chat: Any = None,
    ) -> None:
        """The next `times` calls of `method` (None: any method; `chat`: only into that chat) answer
        `status` with Telegram's error body. times=None keeps failing until clear()."""
        self._add(method, _status(status, retry_after, description), times, chat=chat)

    def share(
        self,
        fraction: float,
        status: int = 500,
        *,
        seed: int = 1,
        methods: tuple[str, ...] | None = None,
        retry_after: int = 1,
        times: int | None = None,
    ) -> None:
        """A random `fraction` of calls (of `methods`, default all) answer `status`, from a seeded generator."""
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be between 0 and 1")
        rule = _Rule(_names(methods), None, _status(status, retry_after, None), times, fraction, random.Random(seed))
        self._rules.append(rule)

    def hang(
        self, method: str | None, seconds: float, *, times: int | None = 1, carried_out: bool = False, chat: Any = None
    ) -> None:
        """The next `times` calls of `method` get no answer for `seconds`, then a 504 if anyone still listens."""
        self._add(
            method, Strike("hang", 504, _DESCRIPTIONS[504], seconds=seconds, carried_out=carried_out), times, chat=chat
        )

    def reset_connection(self, method: str | None, *, times: int | None = 1, chat: Any = None) -> None:
        """The next `times` calls of `method` lose their connection before any answer."""
        self._add(method, Strike("reset"), times, chat=chat)

    def clear(self) -> None:
        self._rules.clear()

    def _add(self, method: str | None, strike: Strike, times: int | None, *, chat: Any) -> None:
        chat_id = getattr(chat, "chat_id", chat)
        self._rules.append(_Rule(_names((method,) if method else None), chat_id, strike, times))

    def strike(self, method: str, params: dict) -> Strike | None:
        """The fault for this call, if any (used by the server; counts the strike)."""
        for rule in self._rules:
            if rule.matches(method, params):
                if rule.times is not None:
                    rule.times -= 1
                self.struck.append((method, _label(rule.strike)))
                return rule.strike
        return None


def _names(methods: tuple[str, ...] | None) -> frozenset[str] | None:
    return frozenset(m.lower() for m in methods) if methods else None


def _status(status: int, retry_after: int, description: str | None) -> Strike:
    if status < 400:
        raise ValueError("a fault needs an error status (400 or higher)")
    text = description or _DESCRIPTIONS.get(status, f"Error {status}").format(retry_after=retry_after)
    parameters = {"retry_after": retry_after} if status == 429 else None
    return Strike("status", status, text, parameters)


def _label(strike: Strike) -> str:
    return str(strike.status) if strike.kind == "status" else strike.kind
