"""What the simulated couples do, and a shadow of the pure engine that says what each update will get.

Every couple is linked already (the pairing is not the workload here). Half of them do the
naming exercise, half the impact exercise with its mirroring rounds (one heavy exercise a couple an
evening, so one couple cannot do both today); then both partners write free messages to each other.
Half the couples write in Dutch.

The shadow steps `dialogues.engine.step` on a copy of each couple's state, exactly as the bot will,
so the driver knows, before the bot answers, how many Bot API calls an update will cause (one per
message said, plus the answer to a button press) and which callback data a button carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import cycle

from dialogues.engine import step
from dialogues.model import Command, Couple, Event, Person, Phase, Press, Role, Say, Sender, Text, World

TEXTS = {
    "en": {
        "naming": "I had an affair with a colleague for six months. It was my choice.",
        "impact": "I stopped trusting my own judgement.",
        "out_of_turn": "But I never meant to hurt you",
        "mirror": "What I hear you saying is that you doubt yourself now.",
        "more": "And I feel so alone.",
        "mirror_again": "You doubt yourself, and you feel alone with it.",
        "back": "I see that I made you doubt yourself. I am sorry.",
        "free": (
            "Thank you for listening tonight.",
            "I keep thinking about what you wrote.",
            "Can we talk about the weekend?",
            "I am trying. It is hard, but I am trying.",
            "I slept a bit better last night.",
            "Shall we do the next exercise tomorrow?",
        ),
    },
    "nl": {
        "naming": "Ik had een half jaar een verhouding met een collega. Het was mijn keuze.",
        "impact": "Ik vertrouw mijn eigen oordeel niet meer.",
        "out_of_turn": "Maar ik wilde je nooit pijn doen",
        "mirror": "Wat ik je hoor zeggen is dat je nu aan jezelf twijfelt.",
        "more": "En ik voel me zo alleen.",
        "mirror_again": "Je twijfelt aan jezelf, en je voelt je er alleen mee.",
        "back": "Ik zie dat ik je aan jezelf heb laten twijfelen. Het spijt me.",
        "free": (
            "Dank je dat je vanavond luisterde.",
            "Ik denk steeds aan wat je schreef.",
            "Kunnen we het over het weekend hebben?",
            "Ik probeer het. Het is moeilijk, maar ik probeer het.",
            "Ik heb vannacht wat beter geslapen.",
            "Zullen we morgen de volgende oefening doen?",
        ),
    },
}

# (who, kind, value): who is "a" (damaged the trust) or "b" (trust was damaged); kind is "command",
# "text" or "press" (value: the choice a button carries, such as "send").
NAMING = (
    ("a", "command", "menu"),
    ("a", "press", "naming"),
    ("a", "text", "naming"),
    ("a", "press", "send"),
    ("b", "press", "read"),
    ("b", "press", "stop_for_now"),  # she may answer; not tonight
)
IMPACT = (
    ("b", "command", "menu"),
    ("b", "press", "impact"),
    ("b", "text", "impact"),
    ("a", "text", "out_of_turn"),  # out of turn: kept, delivered at a's turn
    ("b", "press", "said"),
    ("a", "text", "mirror"),
    ("b", "press", "not_quite"),
    ("b", "text", "more"),
    ("b", "press", "said"),
    ("a", "text", "mirror_again"),
    ("b", "press", "yes"),
    ("a", "text", "back"),  # a's response to b's pain: a preview, then sent
    ("a", "press", "send"),
    ("b", "press", "reached"),
)
SCRIPTS = {"naming": NAMING, "impact": IMPACT}


def linked_couple(
    couple_id: str, a_id: int, b_id: int, a_name: str, b_name: str, language: str, now: datetime
) -> World:
    """A couple as the bot stores it once both passed the screen and joined."""
    started = now - timedelta(days=30)
    couple = Couple(id=couple_id, member_ids=(b_id, a_id), started_at=started)
    common = dict(
        language=language,
        phase=Phase.LINKED,
        couple_id=couple_id,
        country="nl" if language == "nl" else "uk",
        screened=4,
    )
    a = Person(a_id, a_name, role=Role.DAMAGED, **common)
    b = Person(b_id, b_name, role=Role.HURT, **common)
    return World(me=a, partner=b, couple=couple)


@dataclass
class Shadow:
    """One couple's state, stepped by the pure engine alongside the bot."""

    people: dict[int, Person]
    couple: Couple
    buttons: dict[int, dict[str, str]] = field(default_factory=dict)  # person -> choice -> callback data

    @classmethod
    def of(cls, world: World) -> Shadow:
        return cls({world.me.user_id: world.me, world.partner.user_id: world.partner}, world.couple)

    def data_for(self, user_id: int, choice: str) -> str:
        return self.buttons[user_id][choice]

    def apply(self, event: Event, now: datetime) -> int:
        """Step the engine; returns how many Bot API calls the bot will make for this update."""
        me = self.people[event.sender.user_id]
        partner = next(p for uid, p in self.people.items() if uid != me.user_id)
        world, effects = step(World(me=me, partner=partner, couple=self.couple), event, now)
        self.people[world.me.user_id] = world.me
        self.people[world.partner.user_id] = world.partner
        self.couple = world.couple
        calls = 1 if isinstance(event, Press) else 0  # every press is answered
        for effect in effects:
            if isinstance(effect, Say):
                calls += 1
                if effect.buttons:
                    reader = world.me if effect.to == "self" else world.partner
                    self.buttons[reader.user_id] = {
                        b.data.split(":", 1)[1]: b.data for row in effect.buttons for b in row
                    }
        return calls


class Script:
    """A couple's steps: its exercise, then free messages back and forth, for as long as needed."""

    def __init__(self, kind: str, language: str) -> None:
        self.language = language
        self._steps = iter(SCRIPTS[kind])
        self._free = cycle(TEXTS[language]["free"])
        self._turn = cycle("ab")

    def next(self) -> tuple[str, str, str]:
        """(who, kind, text or choice)."""
        found = next(self._steps, None)
        if found is None:
            return next(self._turn), "text", next(self._free)
        who, kind, value = found
        if kind == "text":
            value = TEXTS[self.language][value]
        return who, kind, value


def event_for(sender: Sender, kind: str, value: str, shadow: Shadow) -> Event:
    if kind == "command":
        return Command(sender, value)
    if kind == "press":
        return Press(sender, shadow.data_for(sender.user_id, value))
    return Text(sender, value)


def utc_now() -> datetime:
    return datetime.now(UTC)
