"""The repair programme as data: each exercise is a table of steps that the engine interprets.

Adding an exercise means adding a table here and its texts in templates/, not a handler.

Step kinds (what the engine does with each):
- speak:    `who` writes as many messages as they need, each passed on at once; a button ends the turn
- say:      `who` writes one message, passed on at once
- write:    `who` writes one message, sees it back with a gentle check for excuses, then sends or rewrites it
- mirror:   `who` says in their own words what they heard; it goes to the speaker
- confirm:  `who` answers "yes, that's it" (on to `next`) or "not quite" (back to `again`, with a hint
            for the listener); after three rounds both are offered a break, or their therapist
- received: like confirm, for a response to their pain: "yes, it reached me" or "not yet"
- ack:      `who` confirms they have read what was sent
- reply:    `who` may answer in as many messages as they like, or stop for now; either ends the turn
- both:     both write privately; each sees the other's answer once both have answered
- choose:   both pick one of the answers of the step before; when they pick the same, it is agreed
- ask:      `who` asks a question, within the daily limit the hurt partner sets; a button ends for today
- answer:   `who` answers the open question, or asks for time until tomorrow
- lead:     `who` chooses who speaks first: themselves or the other; that one is "starter" from then on
- breathe:  after an answer, `who` says how to go on: respond (`again`), another question (`next`), or
            enough for today
- look:     a look back at what the couple has done, to both

`who` is a role ("hurt", "damaged"), "starter" (who began this exercise), "other" or "both".

The order: the partner who damaged the trust can begin a `later` exercise only once room, naming
and impact (FIRST) were each done, or when the hurt partner opens it for him or their therapist
suggests it. Grief, responsibility and what it did come first; the hurt partner may begin anything
that is hers at any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    kind: str
    who: str
    next: str | None = None  # the step after this one; None ends the exercise
    again: str | None = None  # confirm/received: where "not quite"/"not yet" goes; breathe: where "respond" goes
    buttons: tuple[str, ...] | None = None  # instead of the kind's usual buttons


@dataclass(frozen=True)
class Exercise:
    name: str
    heavy: bool  # at most one heavy exercise a couple an evening
    starter: str  # the role that may begin it, or "either"
    first: str
    steps: dict[str, Step] = field(default_factory=dict)
    follow_up_days: int | None = None
    later: bool = False  # for the partner who damaged the trust: open after FIRST, or when opened for him


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
            "read": Step("ack", "hurt", next="reply"),
            "reply": Step("reply", "hurt", next=None),
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
            "check": Step("confirm", "hurt", next="respond", again="tell"),
            "respond": Step("write", "damaged", next="reached"),
            "reached": Step("received", "hurt", next=None, again="respond"),
        },
    ),
    Exercise(
        "questions",
        heavy=True,
        starter="hurt",
        first="ask",
        steps={
            "ask": Step("ask", "hurt", next="answer"),
            "answer": Step("answer", "damaged", next="after"),
            "after": Step("breathe", "hurt", next="ask", again="respond"),
            "respond": Step("speak", "hurt", next="ask"),
        },
    ),
    Exercise(
        "meaning",
        heavy=True,
        starter="hurt",
        first="write",
        later=True,
        steps={
            "write": Step("both", "both", next="lead"),
            "lead": Step("lead", "hurt", next="listen"),
            "listen": Step("speak", "starter", next="mirror"),
            "mirror": Step("mirror", "other", next="check"),
            "check": Step("confirm", "starter", next=None, again="listen"),
        },
    ),
    Exercise(
        "safety",
        heavy=False,
        starter="either",
        first="share",
        later=True,
        steps={
            "share": Step("both", "both", next="lead"),
            "lead": Step("lead", "hurt", next="listen"),
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
            "give": Step("say", "hurt", next="honour", buttons=("not_yet_trust", "pause")),
            "honour": Step("say", "damaged", next="reply"),
            "reply": Step("reply", "hurt", next=None),
        },
    ),
    Exercise(
        "appreciation",
        heavy=False,
        starter="either",
        first="value",
        later=True,
        steps={"value": Step("both", "both", next=None)},
    ),
    Exercise(
        "plan",
        heavy=False,
        starter="either",
        first="propose",
        later=True,
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
        later=True,
        steps={"look": Step("look", "both", next=None)},
    ),
)

EXERCISES = {exercise.name: exercise for exercise in PROGRAMME}
FIRST = ("room", "naming", "impact")  # done once each before the later exercises open for him
LATER = tuple(e.name for e in PROGRAMME if e.later)
ROUNDS_BEFORE_PAUSE_OFFER = 3
