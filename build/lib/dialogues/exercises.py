"""The repair programme as data: each exercise is a table of steps that the engine interprets.

Adding an exercise means adding a table here and its texts in templates/, not a handler.

Step kinds (what the engine does with each):
- speak:   `who` writes as many messages as they need, each passed on at once; a button ends the turn
- say:     `who` writes one message, passed on at once
- write:   `who` writes one message, sees it back with a gentle check, then sends or rewrites it
- mirror:  `who` says in their own words what they heard; it goes to the speaker
- confirm: `who` answers "yes, that's it" (on to `next`) or "not quite" (back to `again`)
- ack:     `who` confirms they have read what was sent
- both:    both write privately; each sees the other's answer once both have answered
- choose:  both pick one of the answers of the step before; when they pick the same, it is agreed
- ask:     `who` asks a question, within the couple's daily limit; a button ends for today
- answer:  `who` answers the open question, or asks for time until tomorrow
- look:    a look back at what the couple has done, to both

`who` is a role ("hurt", "damaged"), "starter" (who began this exercise), "other" or "both".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    kind: str
    who: str
    next: str | None = None  # the step after this one; None ends the exercise
    again: str | None = None  # for confirm: where "not quite" goes


@dataclass(frozen=True)
class Exercise:
    name: str
    heavy: bool  # at most one heavy exercise a couple an evening
    starter: str  # the role that may begin it, or "either"
    first: str
    steps: dict[str, Step] = field(default_factory=dict)
    follow_up_days: int | None = None


PROGRAMME = (
    Exercise(
        "room",
        heavy=True,
        starter="hurt",
        first="vent",
        steps={
            "vent": Step("speak", "hurt", next="mirror"),
            "mirror": Step("mirror", "damaged", next="check"),
            "check": Step("confirm", "hurt", next=None, again="vent"),
        },
    ),
    Exercise(
        "naming",
        heavy=True,
        starter="damaged",
        first="name",
        steps={
            "name": Step("write", "damaged", next="read"),
            "read": Step("ack", "hurt", next=None),
        },
    ),
    Exercise(
        "impact",
        heavy=True,
        starter="hurt",
        first="tell",
        steps={
            "tell": Step("speak", "hurt", next="mirror"),
            "mirror": Step("mirror", "damaged", next="check"),
            "check": Step("confirm", "hurt", next="tell_back", again="tell"),
            "tell_back": Step("speak", "damaged", next="mirror_back"),
            "mirror_back": Step("mirror", "hurt", next="check_back"),
            "check_back": Step("confirm", "damaged", next=None, again="tell_back"),
        },
    ),
    Exercise(
        "questions",
        heavy=True,
        starter="hurt",
        first="ask",
        steps={
            "ask": Step("ask", "hurt", next="answer"),
            "answer": Step("answer", "damaged", next="ask"),
        },
    ),
    Exercise(
        "safety",
        heavy=False,
        starter="either",
        first="share",
        steps={
            "share": Step("both", "both", next="listen"),
            "listen": Step("speak", "starter", next="mirror"),
            "mirror": Step("mirror", "other", next="check"),
            "check": Step("confirm", "starter", next=None, again="listen"),
        },
    ),
    Exercise(
        "trust",
        heavy=False,
        starter="hurt",
        first="give",
        follow_up_days=7,
        steps={
            "give": Step("say", "hurt", next="honour"),
            "honour": Step("say", "damaged", next=None),
        },
    ),
    Exercise(
        "appreciation",
        heavy=False,
        starter="either",
        first="value",
        steps={"value": Step("both", "both", next=None)},
    ),
    Exercise(
        "plan",
        heavy=False,
        starter="either",
        first="propose",
        steps={
            "propose": Step("both", "both", next="agree"),
            "agree": Step("choose", "both", next=None),
        },
    ),
    Exercise(
        "look_back",
        heavy=False,
        starter="either",
        first="look",
        steps={"look": Step("look", "both", next=None)},
    ),
)

EXERCISES = {exercise.name: exercise for exercise in PROGRAMME}
ROUNDS_BEFORE_PAUSE_OFFER = 3
