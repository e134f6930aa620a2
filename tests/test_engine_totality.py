"""The engine is total: every kind of event, to people in every phase and role, never raises, every
answer can be rendered and sent, and nothing a person wrote is dropped.

The stage keeps each person's world as storage.repo loads and saves it (invites, couples, a
therapist's care), records every button ever shown to each person, and erases a person the way
storage.privacy.erase does (their id becomes 0 in the couple's state). Random actions then press
old, current and forged buttons, send every command, texts, edits, media, locations and due
schedules of every kind, after /leave, /delete, a therapist's removal and an erasure.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.app import COMMANDS
from bot.render import to_calls
from dialogues import engine
from dialogues.flood import FLOOD_LIMIT
from dialogues.model import (
    CareStatus,
    Command,
    Due,
    Edited,
    Erase,
    Event,
    GroupChat,
    Invite,
    Located,
    Phase,
    Press,
    Record,
    Role,
    Say,
    Schedule,
    Sender,
    Start,
    Text,
    Toast,
    Unreachable,
    Unsupported,
    World,
)
from dialogues.therapist import LINK_PREFIX
from storage.privacy import ERASED
from tests.stage import START, TEXTS
from tests.therapist_stage import CareStage

NAMES = ("Anna", "Ben", "Cleo", "Marieke")  # Anna and Ben become a couple, Marieke their therapist
DUE_KINDS = ("checkin", "day_end", "nudge", "promise", "trust", "unknown")


@dataclass
class Shell(CareStage):
    invites: dict[str, Invite] = field(default_factory=dict)
    shown: dict[str, list[str]] = field(default_factory=dict)  # callback data of every button ever shown
    schedules: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (kind, key) per person
    links: list[str] = field(default_factory=list)  # every payload a link carried

    @classmethod
    def of_strangers(cls) -> Shell:
        shell = cls()
        for name, language in zip(NAMES, ("en", "nl", "en", "nl"), strict=True):
            shell.join(name, language)
            shell.shown[name], shell.schedules[name] = [], []
        return shell

    # The store, as storage.repo loads it -----------------------------------------------------

    def load(self, user_id: int, opened: str | None) -> World:
        me = self.people.get(user_id)
        if (opened or "").startswith(LINK_PREFIX) or (me and me.phase is Phase.THERAPIST):
            return self._therapist_world(user_id, me, opened)
        couple = self.couples.get(me.couple_id) if me and me.couple_id else None
        invite = None
        if couple is None:
            token = opened or (me.invite_token if me else None)
            invite = self.invites.get(token) if token else None
        other = None
        if couple:
            other = couple.member_ids[1] if couple.member_ids[0] == user_id else couple.member_ids[0]
        elif invite and invite.inviter_id != user_id:
            other = invite.inviter_id
        elif invite:  # the inviter: whoever opened their link and waits for their answer
            other = invite.joiner_id
        live = [c for c in self.cares.values() if couple and c.couple_id == couple.id and c.status in (LIVE)]
        care = max(live, key=lambda c: c.created_at) if live else None
        therapist_id = care.therapist_id if care else None
        therapist = self.people.get(therapist_id) if therapist_id not in (None, user_id, other) else None
        return World(
            me=me, partner=self.people.get(other), couple=couple, invite=invite, care=care, therapist=therapist
        )

    def save(self, world: World) -> None:
        super().save(world)
        for invite in (world.voided, world.invite):
            if invite:
                self.invites[invite.token] = invite

    def erase(self, user_id: int) -> None:
        """As storage.privacy.erase and repo.forget_cares do it."""
        for couple in list(self.couples.values()):
            if user_id in couple.member_ids:
                members = tuple(ERASED if m == user_id else m for m in couple.member_ids)
                self.couples[couple.id] = replace(
                    couple,
                    member_ids=members,
                    run=None,
                    held=(),
                    unsent=(),
                    saved_questions=(),
                    promises=(),
                    plan=None,
                    ended_at=couple.ended_at or couple.started_at,
                )
        self.invites = {t: i for t, i in self.invites.items() if i.inviter_id != user_id}
        self.people.pop(user_id, None)
        name = next(n for n, (uid, _) in self.names.items() if uid == user_id)
        self.schedules[name] = []
        for care in list(self.cares.values()):
            if care.therapist_id == user_id:
                status = CareStatus.LEFT if care.status in LIVE else care.status
                care = replace(care, name=None, practice=None, register=None, therapist_id=0, status=status)
            if care.requested_by == user_id:
                care = replace(care, requested_by=0)
            care = replace(
                care,
                allowed_by=tuple(m for m in care.allowed_by if m != user_id),
                history_by=tuple(m for m in care.history_by if m != user_id),
            )
            self.cares[care.id] = care

    # Acting, and what every step must keep ----------------------------------------------------

    def act(self, event: Event) -> None:
        self.nonces += 1
        event = replace(event, nonce=f"n{self.nonces:04d}xxxxxxxxxxxxxxx")
        opened = event.payload if isinstance(event, Start) else None
        world = self.load(event.sender.user_id, opened)
        if isinstance(event, Due) and world.me is None:
            return  # the shell steps a due schedule only for someone it knows
        before = self._snapshot()
        after, effects = engine.step(world, event, self.now)  # must not raise
        self.effects = effects
        # The shell renders every answer for its reader, in the unit of work: that must not fail either.
        query = "q" if isinstance(event, Press) else None
        to_calls(effects, after, event.sender.user_id, event.sender.language, TEXTS, query)
        assert all(len(b.data.encode()) <= 64 for e in effects if isinstance(e, Say) for row in e.buttons for b in row)
        self.save(after)
        if not isinstance(event, GroupChat):  # the answer goes to the group, not to this person's chat
            self._remember(after, effects)
        if isinstance(event, Text | Edited):
            assert_kept(world, after, effects, event.text)
        if isinstance(event, Press) and not any(event.data in shown for shown in self.shown.values()):
            assert_forgery_harmless(before, self._snapshot(), effects)
        assert all(c.score in (None, 1, 2, 3, 4, 5) for c in self.checkins()), "a check-in score is 1 to 5"
        if any(isinstance(e, Erase) for e in effects):
            self.erase(event.sender.user_id)

    def _remember(self, world: World, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, Say):
                for reader in self._readers(world, effect):
                    self._deliver(reader, effect)
                    reader_name = next(n for n, (uid, _) in self.names.items() if uid == reader.user_id)
                    self.shown[reader_name] += [b.data for row in effect.buttons for b in row]
                    self.links += [str(v) for k, v in effect.vars.items() if k == "token" and v]
            elif isinstance(effect, Schedule):
                person = world.me if effect.to == "self" else world.partner
                assert person is not None, f"a schedule for nobody: {effect}"
                who = next(n for n, (uid, _) in self.names.items() if uid == person.user_id)
                self.schedules[who].append((effect.kind, effect.key))

    def _snapshot(self) -> tuple:
        return (dict(self.couples), dict(self.cares), dict(self.invites))

    def checkins(self):
        return [c for couple in self.couples.values() for c in couple.checkins]

    def sender_of(self, name: str) -> Sender:
        return self.sender(name)


LIVE = (CareStatus.REQUESTED, CareStatus.ACTIVE)


def assert_kept(before: World, after: World, effects: list, text: str) -> None:
    """A written text is delivered, kept in the couple's state, or in the journal; or, where
    nothing is carried (not linked, or the text answers a question), the writer is told (during a
    flood: once, and then once a minute)."""
    if any(isinstance(e, Record) and e.text == text for e in effects):
        return
    if any(isinstance(e, Say) and e.to != "self" and text in map(str, e.vars.values()) for e in effects):
        return
    couple = after.couple
    if couple is not None:
        run = couple.run
        kept = [h.text for h in couple.unsent] + list(couple.saved_questions)  # held texts: Record above
        kept += [p.question for p in couple.promises] + [c.word for c in couple.checkins]
        kept += [run.text] + [a.text for a in run.answers] if run else []
        if text in kept:
            return
    me = before.me
    carried = me is not None and me.phase is Phase.LINKED and me.awaiting is None
    assert not carried, f"a linked person's text was dropped: {[type(e).__name__ for e in effects]}"
    flooding = after.me is not None and after.me.flood_count > FLOOD_LIMIT  # told once, then once a minute
    told = any(isinstance(e, Say) and e.to == "self" for e in effects)
    assert told or flooding, "the writer is told what became of it"


def assert_forgery_harmless(before: tuple, after: tuple, effects: list) -> None:
    """Button data nobody was ever shown changes no couple, care or invite, and reaches nobody else."""
    assert before == after, "forged button data changed a couple's state"
    assert not any(isinstance(e, Say) and e.to != "self" for e in effects), "forged button data reached another"


# Where people can be: scenes built through the engine itself -----------------------------------


def pair(shell: Shell) -> None:
    """Anna invites Ben the whole way, both answer the safety questions, and both choose a zone."""
    for name in ("Anna", "Ben"):
        if name == "Ben":
            shell.open("Ben", "t.me/HerstelBot?start=" + shell.links[-1])
        else:
            shell.act(Start(shell.sender("Anna")))
        shell.press(name, "in_nl" if name == "Ben" else "in_uk")
        for _ in range(engine.SCREEN_QUESTIONS):
            shell.press(name, "safe")
        shell.press(name, "hurt" if name == "Anna" else "join")
    shell.press("Anna", "is_partner")  # Anna confirms it is Ben who opened her link
    shell.press("Anna", "Europe/London")
    shell.press("Ben", "Europe/Amsterdam")


def therapist_joins(shell: Shell) -> None:
    shell.command("Anna", "therapist")
    link = next(t for t in reversed(shell.links) if t.startswith(LINK_PREFIX))
    shell.open("Marieke", "t.me/HerstelBot?start=" + link)
    for detail in ("Marieke de Vries", "Praktijk De Linde"):
        shell.write("Marieke", detail)
    shell.press("Marieke", "skip")
    for name in ("Anna", "Ben"):
        shell.press(name, "allow")


def checkins_asked(shell: Shell) -> None:
    for name in ("Anna", "Ben"):
        shell.act(Due(shell.sender(name), "checkin", "", shell.now))
        assert any(d.startswith("ci:") for d in shell.shown[name]), name


def exercise_begun(shell: Shell) -> None:
    shell.command("Anna", "menu")
    shell.press("Anna", "room")
    shell.write("Ben", "out of turn")


SCENES = {
    "strangers": (),
    "linked": (pair, checkins_asked),
    "with a therapist": (pair, therapist_joins, checkins_asked, exercise_begun),
    "an exercise's menu open": (
        pair,
        therapist_joins,
        checkins_asked,
        exercise_begun,
        lambda s: s.command("Anna", "menu"),
    ),
    "after /leave": (pair, therapist_joins, checkins_asked, exercise_begun, lambda s: leave(s, "Anna")),
    "after /delete": (pair, therapist_joins, checkins_asked, exercise_begun, lambda s: delete(s, "Ben")),
    "after the therapist left": (pair, therapist_joins, checkins_asked, lambda s: remove_therapist(s)),
    "after the therapist erased": (pair, therapist_joins, checkins_asked, lambda s: delete(s, "Marieke")),
}


def leave(shell: Shell, name: str) -> None:
    shell.command(name, "leave")
    shell.press(name, "leave")


def delete(shell: Shell, name: str) -> None:
    shell.command(name, "delete")
    shell.press(name, "erase")
    assert shell.names[name][0] not in shell.people


def remove_therapist(shell: Shell) -> None:
    shell.command("Ben", "therapist")
    shell.press("Ben", "remove_therapist")


@cache
def built(scene: str) -> Shell:
    shell = Shell.of_strangers()
    for part in SCENES[scene]:
        part(shell)
    return shell


def fresh(scene: str) -> Shell:
    """A copy of a built scene: the records are frozen, the dictionaries and lists are copied."""
    shell = built(scene)
    copy = replace(
        shell,
        people=dict(shell.people),
        couples=dict(shell.couples),
        cares=dict(shell.cares),
        invites=dict(shell.invites),
        shown={k: list(v) for k, v in shell.shown.items()},
        schedules={k: list(v) for k, v in shell.schedules.items()},
        links=list(shell.links),
        inbox={k: list(v) for k, v in shell.inbox.items()},
        lines=[],
        journal=deepcopy(shell.journal),  # its entries' readers and marks change
    )
    return copy


# Random actions ---------------------------------------------------------------------------

WHO = st.sampled_from(NAMES)
CHOICES = sorted({c for choices in engine.QUESTIONS.values() for c in choices})
FORGED = st.one_of(
    st.text(max_size=70),
    st.builds(lambda n, c: f"{n}:{c}", st.integers(-1, 40), st.sampled_from(CHOICES) | st.text(max_size=8)),
    st.builds(
        lambda day, score: f"ci:{day}:{score}",
        st.sampled_from(["2026-03-02", "2026-03-03", "20260302", "2026-W10-1", "2026-02-30", "", "x"]),
        st.sampled_from(["1", "5", "0", "6", "2345", "12", "", " 3", "3 ", "٣", "-1", "3:4"]),
    ),
    st.builds(lambda c: f"care:{c}", st.text(max_size=20)),
)
ACTION = st.one_of(
    st.tuples(st.just("press"), WHO, st.integers(0, 200)),  # any button ever shown to this person
    st.tuples(st.just("press"), WHO, st.integers(0, 200)),
    st.tuples(st.just("newest"), WHO, st.integers(0, 20)),  # a button of the newest menu
    st.tuples(st.just("newest"), WHO, st.integers(0, 20)),
    st.tuples(st.just("old_checkin"), WHO, st.integers(0, 10)),  # a check-in button ever shown
    st.tuples(st.just("forged"), WHO, FORGED),
    st.tuples(st.just("guessed"), WHO, st.integers(0, 60)),  # the newest menu's number, any choice of its question
    st.tuples(st.just("guessed"), WHO, st.integers(0, 60)),
    st.tuples(st.just("command"), WHO, st.sampled_from([*COMMANDS, "country", "nonsense"])),
    st.tuples(st.just("start"), WHO, st.integers(-2, 20)),  # a link seen by anyone, or none, or unknown
    st.tuples(
        st.just("text"), WHO, st.sampled_from(["Hello", "I want to die", "Amsterdam", "  "]) | st.text(min_size=1)
    ),
    st.tuples(st.just("edit"), WHO, st.text(min_size=1, max_size=20)),
    st.tuples(st.just("media"), WHO, st.sampled_from(["photo", "sticker", "voice", "document"])),
    st.tuples(st.just("located"), WHO, st.sampled_from([None, "Europe/Amsterdam", "Asia/Tokyo"])),
    st.tuples(st.just("due"), WHO, st.integers(0, 50)),  # a schedule made for this person, or any kind
    st.tuples(st.just("unreachable"), WHO, st.none()),
    st.tuples(st.just("group"), WHO, st.booleans()),
    st.tuples(st.just("later"), WHO, st.sampled_from([1, 5, 23, 24 * 8])),
)


def perform(shell: Shell, kind: str, name: str, value) -> None:
    sender = shell.sender(name)
    match kind:
        case "press" if shell.shown[name]:
            shell.act(Press(sender, shell.shown[name][value % len(shell.shown[name])]))
        case "newest":
            menus = [m.buttons for m in shell.inbox[name] if m.buttons]
            if menus:
                shell.act(Press(sender, menus[-1][value % len(menus[-1])][1]))
        case "old_checkin":
            old = [d for d in shell.shown[name] if d.startswith("ci:")]
            if old:
                shell.act(Press(sender, old[value % len(old)]))
        case "guessed":
            person = shell.people.get(sender.user_id)
            choices = engine.QUESTIONS.get(person.asking or "", CHOICES) if person else CHOICES
            choice = (choices or CHOICES)[value % len(choices or CHOICES)]
            shell.act(Press(sender, f"{person.menu if person else 0}:{choice}"))
        case "forged":
            shell.act(Press(sender, value))
        case "command":
            shell.act(Command(sender, value))
        case "start":
            links = shell.links
            payload = None if value == -2 or not links else "-" if value == -1 else links[value % len(links)]
            shell.act(Start(sender, payload))
        case "text":
            shell.act(Text(sender, value))
        case "edit":
            shell.act(Edited(sender, value))
        case "media":
            shell.act(Unsupported(sender, value))
        case "located":
            shell.act(Located(sender, value))
        case "due":
            made = shell.schedules[name]
            kind_, key = made[value % len(made)] if made and value % 3 else (DUE_KINDS[value % 6], str(value))
            shell.act(Due(sender, kind_, key, shell.now - timedelta(minutes=value % 20)))
        case "unreachable":
            shell.act(Unreachable(sender))
        case "group":
            shell.act(GroupChat(sender, announce=value))
        case "later":
            shell.now += timedelta(hours=value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SCENES)), st.lists(ACTION, max_size=40))
@example("after /leave", [("old_checkin", "Anna", 0)])  # the check-in button from before the link ended
@example("linked", [("forged", "Anna", "ci:2026-03-02:2345")])  # a forged score
@example("with a therapist", [("command", "Anna", "menu"), ("guessed", "Anna", 1)])  # "resume" while not paused
def test_every_event_in_every_phase_is_answered_and_keeps_what_was_written(scene, actions):
    shell = fresh(scene)
    for kind, name, value in actions:
        perform(shell, kind, name, value)


def test_the_scenes_reach_every_phase_and_role():
    phases = {p.phase for scene in SCENES for p in built(scene).people.values()}
    assert phases >= {Phase.LINKED, Phase.THERAPIST, Phase.CHOOSING_ROLE}
    assert {p.role for p in built("linked").people.values()} == {Role.HURT, Role.DAMAGED}
    assert any(ERASED in c.member_ids for c in built("after /delete").couples.values())
    assert built("after the therapist left").cares and all(
        c.status is CareStatus.REMOVED for c in built("after the therapist left").cares.values()
    )


def test_an_old_check_in_button_after_the_link_ended_is_stale():
    shell = fresh("after /leave")
    old = next(d for d in shell.shown["Anna"] if d.startswith("ci:"))
    shell.act(Press(shell.sender("Anna"), old))
    assert [type(e) for e in shell.effects] == [Toast]


def test_a_check_in_score_is_one_of_one_to_five_and_nothing_else():
    shell = fresh("linked")
    day = next(d for d in shell.shown["Anna"] if d.startswith("ci:")).split(":")[1]
    for forged in ("2345", "12", "0", "6", " 3", "٣", "3:4", ""):
        shell.act(Press(shell.sender("Anna"), f"ci:{day}:{forged}"))
        assert [type(e) for e in shell.effects] == [Toast], forged
    for forged_day in ("20260302", "2026-W10-1", "2026-02-30"):
        shell.act(Press(shell.sender("Anna"), f"ci:{forged_day}:3"))
        assert [type(e) for e in shell.effects] == [Toast], forged_day
    shell.act(Press(shell.sender("Anna"), f"ci:{day}:3"))
    assert [c.score for c in shell.checkins() if c.user_id == shell.names["Anna"][0]] == [3]


def test_a_person_unknown_to_the_engine_gets_an_answer_to_everything():
    for event in (Unreachable(Sender(99, "Zoe", "en")), GroupChat(Sender(99, "Zoe", "en"))):
        engine.step(World(), event, START)
    for command in COMMANDS:
        _, effects = engine.step(World(), Command(Sender(99, "Zoe", "en"), command), START)
        assert any(isinstance(e, Say | Toast) for e in effects), command
