"""The interpreter of the exercise tables, for a linked couple. Pure, like the engine."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Concatenate, ParamSpec
from zoneinfo import ZoneInfo

from dialogues.exercises import EXERCISES, FIRST, LATER, PROGRAMME, ROUNDS_BEFORE_PAUSE_OFFER, Exercise
from dialogues.exercises import Step as Spec
from dialogues.model import (
    Button,
    Couple,
    Effect,
    Entry,
    Finished,
    PassOnHeld,
    Person,
    Phase,
    Promise,
    Recipient,
    Record,
    Run,
    Say,
    Schedule,
    Settle,
    Toast,
    World,
    known,
)

Outcome = tuple[World, list[Effect]]
P = ParamSpec("P")
TEXT_KINDS = {"speak", "say", "write", "mirror", "ask", "answer", "both", "reply"}
QUESTION_LIMITS = ("1", "2", "3", "4", "5")
# Words that often turn naming (or an apology) into explaining, or make it conditional: the coach
# mentions them once, gently. Per language: "want" is "because" in Dutch, a verb in English.
EXCUSE_WORDS = {
    "en": re.compile(
        r"\b(but|because|if you|you made|you never|you always|sorry if|sorry that you|if you felt|if i hurt)\b",
        re.IGNORECASE,
    ),
    "nl": re.compile(
        r"\b(maar|omdat|want|als jij|als je je|jij ook|jij nooit|jij altijd|sorry als|als ik je|door jou)\b",
        re.IGNORECASE,
    ),
}

# The buttons each kind of step offers to the person whose turn it is.
TURN_BUTTONS = {
    "speak": ("said", "pause"),
    "say": ("pause",),
    "write": ("pause",),
    "mirror": ("pause",),
    "ask": ("enough", "pause"),
    "answer": ("later", "pause"),
    "both": ("pause",),
    "confirm": ("yes", "not_quite"),
    "received": ("reached", "not_yet"),
    "ack": ("read",),
    "reply": ("stop_for_now",),
    "breathe": ("respond", "another", "enough"),
    "lead": ("me_first", "you_first"),
    "choose": ("first", "second"),
}
# Every choice a button can carry in an exercise, by the question it answers.
CHOICES = {
    "menu": tuple(e.name for e in PROGRAMME) + ("limit", "open"),
    "turn": (
        "said",
        "pause",
        "enough",
        "later",
        "read",
        "yes",
        "not_quite",
        "reached",
        "not_yet",
        "stop_for_now",
        "respond",
        "another",
        "not_yet_trust",
        "me_first",
        "you_first",
        "first",
        "second",
    ),
    "wait": ("pause",),
    "preview": ("send", "rewrite"),
    "rounds": ("pause", "go_on"),
    "running": ("pause", "resume", "stop"),
    "limit": QUESTION_LIMITS,
    "held": ("send_held", "keep_held", "drop_held"),
}
HELD_KEPT_FOR = timedelta(days=1)  # "keep for tomorrow": the writer is asked again then


# Entry points, called by the engine for a linked person ---------------------------------


def _titled(entry: Callable[Concatenate[World, P], Outcome]) -> Callable[Concatenate[World, P], Outcome]:
    """Exercise names per reader: "What it did to me" only for the partner it is about."""

    @functools.wraps(entry)
    def titled(world: World, /, *args: P.args, **kwargs: P.kwargs) -> Outcome:
        world, effects = entry(world, *args, **kwargs)
        return world, [_with_title(world, effect) for effect in effects]

    return titled


def _with_title(world: World, effect: Effect) -> Effect:
    if not isinstance(effect, Say) or effect.to not in ("self", "partner"):
        return effect
    if "exercise" not in effect.vars and "done" not in effect.vars and "locked" not in effect.vars:
        return effect
    reader = world.me if effect.to == "self" else world.partner
    hurt = next((p for p in (known(world.me), known(world.partner)) if _is_hurt(p)), None)
    hurt_name = "" if hurt is None or reader is hurt else hurt.first_name
    return replace(effect, vars={**effect.vars, "hurt_name": hurt_name})


@_titled
def menu(world: World, now: datetime) -> Outcome:
    run = known(world.couple).run
    if run:
        exercise = EXERCISES[run.name]
        choices = ("resume", "stop") if run.paused else ("pause", "stop")
        turn_id = _turn_of(world, run, exercise.steps[run.step])
        return _ask(
            world,
            "me",
            "running",
            choices,
            "exercise.running",
            exercise=run.name,
            turn=_name_of(world, turn_id),
            mine=turn_id == known(world.me).user_id,
            paused=run.paused,
        )
    hurt = _is_hurt(known(world.me))
    mine = tuple(e.name for e in PROGRAMME if _may_start(world, e))
    closed = _closed_for_damaged(known(world.couple))
    extra = ((("open",) if closed else ()) + ("limit",)) if hurt else ()
    suggested = _suggested(known(world.couple))
    return _ask(
        world,
        "me",
        "menu",
        mine + extra,
        "exercise.menu",
        partner=known(world.partner).first_name,
        suggested=suggested.name if suggested else "",
        mine=suggested is not None and _may_start(world, suggested),
        hurt=hurt,
        locked=[] if hurt else closed,
        first_done=_first_done(known(world.couple)),
    )


@_titled
def on_text(world: World, text: str, now: datetime, entry: str = "") -> Outcome:
    """A linked person's text; `entry` names its journal entry (the event's nonce)."""
    me, couple = known(world.me), known(world.couple)
    record = Record(me.user_id, text, couple.run.name if couple.run else None, entry)
    if couple.run is None:
        says = Say("partner", "partner.says", {"partner": me.first_name, "text": text}, entries=_entries(entry))
        return world, [record, says]
    run = couple.run
    spec = EXERCISES[run.name].steps[run.step]
    if run.paused or spec.kind not in TEXT_KINDS or me.user_id not in _writers(world, run, spec):
        return _hold(world, record)
    world, effects = _write(world, run, spec, record, now)
    if not any(isinstance(e, Record) for e in effects):
        effects = [record, *effects]
    return world, effects


@_titled
def on_edit(world: World, text: str, entry: str = "") -> Outcome:
    """An edit during an exercise is held like any text out of turn: the turns stay as they are."""
    return _hold(world, Record(known(world.me).user_id, text, known(known(world.couple).run).name, entry))


@_titled
def on_press(world: World, question: str, choice: str, now: datetime) -> Outcome:
    couple, run = known(world.couple), known(world.couple).run
    if (
        question in ("menu", "limit")
        and choice in ("limit", "open", *QUESTION_LIMITS)
        and not _is_hurt(known(world.me))
    ):
        return world, [_stale()]  # the daily number of questions, and the order, are hers to set
    if question == "menu" and choice == "open":
        return _open_later(world)
    if question == "menu":
        return _choose_limit(world) if choice == "limit" else _begin(world, EXERCISES[choice], now)
    if question == "held":
        return _held_choice(world, choice, now)
    if question == "limit":
        couple = replace(couple, questions_per_day=int(choice))
        world = replace(world, couple=couple)
        return world, [
            Say("self", "questions.limit_set", {"limit": int(choice), "partner": known(world.partner).first_name}),
            Say("partner", "questions.limit_changed", {"limit": int(choice), "partner": known(world.me).first_name}),
        ]
    if run is None:
        return world, [_stale()]
    if choice == "pause":
        return pause(world)
    if question == "running" and choice == "stop":
        return _stop(world)
    if question == "running":  # resume: offered only while paused
        return _resume(world, now) if run.paused else (world, [_stale()])
    if run.paused:
        return world, [_stale()]
    spec = EXERCISES[run.name].steps[run.step]
    if question == "rounds":
        return _enter(world, replace(run, text=None), spec.again, now)
    if question == "preview":
        return _send_draft(world, run, spec, now) if choice == "send" else _rewrite(world, run, spec)
    if question == "turn" and choice in _turn_buttons(spec) + (("said",) if spec.kind == "reply" else ()):
        return _turn_button(world, run, spec, choice, now)
    return world, [_stale()]


@_titled
def pause(world: World) -> Outcome:
    run = known(world.couple).run
    if run is None:
        return world, [Say("self", "exercise.nothing_to_pause")]
    if run.paused:
        return world, [Say("self", "exercise.already_paused")]
    world = _with_run(world, replace(run, paused=True))
    world, effects = _ask(world, "me", "running", ("resume", "stop"), "exercise.paused", exercise=run.name)
    return _clear_partner_menu(world), [
        *effects,
        Say("partner", "exercise.partner_paused", {"partner": known(world.me).first_name, "exercise": run.name}),
    ]


# Starting, moving, ending ----------------------------------------------------------------


def _may_start(world: World, exercise: Exercise) -> bool:
    """The hurt partner may begin whatever is hers at any time; for the other, the later ones wait for FIRST."""
    me, couple = known(world.me), known(world.couple)
    role = me.role.value if me.role is not None else None
    opened = exercise.name in couple.opened
    if exercise.starter not in ("either", role) and not (role == "damaged" and opened):
        return False
    return not (role == "damaged" and exercise.later) or opened or _first_done(known(world.couple))


def _first_done(couple: Couple) -> bool:
    return all(name in couple.done for name in FIRST)


def _closed_for_damaged(couple: Couple) -> list[str]:
    """The later exercises the partner who damaged the trust cannot begin yet."""
    return [
        name
        for name in LATER
        if name not in couple.opened
        and (not _first_done(couple) or EXERCISES[name].starter not in ("either", "damaged"))
    ]


def _is_hurt(person: Person) -> bool:
    return person.role is not None and person.role.value == "hurt"


def _open_later(world: World) -> Outcome:
    couple = replace(known(world.couple), opened=tuple(dict.fromkeys((*known(world.couple).opened, *LATER))))
    world = replace(world, couple=couple)
    return world, [
        Say("self", "exercise.opened", {"partner": known(world.partner).first_name}),
        Say("partner", "exercise.opened_for_you", {"partner": known(world.me).first_name}),
    ]


def _suggested(couple: Couple) -> Exercise | None:
    return next((e for e in PROGRAMME if e.name not in couple.done), None)


def _begin(world: World, exercise: Exercise, now: datetime) -> Outcome:
    couple = known(world.couple)
    if couple.run is not None:
        return world, [Say("self", "exercise.busy", {"exercise": couple.run.name})]
    if not _may_start(world, exercise):
        return world, [_stale()]
    today = _local_date(known(world.me), now)
    if exercise.heavy and couple.heavy_on == today:
        return world, [Say("self", "exercise.pacing")]
    if exercise.heavy:
        couple = replace(couple, heavy_on=today)
    if exercise.steps[exercise.first].kind == "look":  # a look back is a message, not a turn
        summary = {
            "done": list(dict.fromkeys(couple.done)),
            "plan": couple.plan or "",
            "partner": known(world.me).first_name,
        }
        return world, [Say("self", "ex.look_back.look", summary), Say("partner", "ex.look_back.look", summary)]
    run = Run(name=exercise.name, step=exercise.first, starter_id=known(world.me).user_id)
    world = replace(world, couple=couple)
    note = {"exercise": exercise.name, "partner": known(world.me).first_name}
    world, effects = _enter(world, run, exercise.first, now, fresh=True)
    return world, [Say("self", "exercise.begins", note), Say("partner", "exercise.partner_begins", note), *effects]


def _enter(world: World, run: Run, step_name: str | None, now: datetime, fresh: bool = False) -> Outcome:
    """Move the exercise to a step: hand out what waited for it, and say whose turn it is."""
    exercise = EXERCISES[run.name]
    if step_name is None:
        return _finish(world, run, now)
    spec = exercise.steps[step_name]
    # A choose step picks among the answers of the step before; every other step starts empty.
    run = replace(run, step=step_name, since=now, choices=(), answers=run.answers if spec.kind == "choose" else ())
    effects: list[Effect] = []
    if spec.kind in ("speak", "say", "write", "ask", "answer", "reply"):
        world, effects = _flush_held(world, _turn_of(world, run, spec))
    if spec.kind == "ask":
        world, run, opened = _reopen_questions(world, run, now)
        if opened:
            world, prompts = _prompted(_with_run(world, opened), opened)
            return world, effects + prompts
    world = _with_run(world, run)
    world, prompts = _prompted(world, run, fresh)
    return world, effects + prompts


def _finish(world: World, run: Run, now: datetime) -> Outcome:
    exercise = EXERCISES[run.name]
    couple = replace(known(world.couple), run=None, done=(*known(world.couple).done, run.name))
    couple = replace(couple, finished=(*couple.finished, Finished(run.name, _local_date(known(world.me), now))))
    follow_up: list[Effect] = []
    if exercise.follow_up_days:
        at = now + timedelta(days=exercise.follow_up_days)
        couple = replace(couple, trust_follow_up=at)
        follow_up = [Schedule("self", "trust", at), Schedule("partner", "trust", at)]
    world = _clear_partner_menu(replace(world, couple=couple, me=replace(known(world.me), asking=None)))
    note = {"exercise": run.name}
    world, asked = _ask_about_held(world)
    return world, [Say("self", "exercise.done", note), Say("partner", "exercise.done", note), *follow_up, *asked]


def _stop(world: World, told: tuple[str, str] = ("exercise.stopped", "exercise.partner_stopped")) -> Outcome:
    run = known(known(world.couple).run)
    world = _clear_partner_menu(_with_run(world, None))
    world, asked = _ask_about_held(world)
    return world, [
        Say("self", told[0], {"exercise": run.name, "partner": known(world.partner).first_name}),
        Say("partner", told[1], {"exercise": run.name, "partner": known(world.me).first_name}),
        *asked,
    ]


def _resume(world: World, now: datetime) -> Outcome:
    run = replace(known(known(world.couple).run), paused=False)
    world = _with_run(world, run)
    note = {"exercise": run.name, "partner": known(world.me).first_name}
    world, prompts = _prompted(world, run)
    return world, [Say("self", "exercise.resumed", note), Say("partner", "exercise.partner_resumed", note), *prompts]


# Writing in a turn ------------------------------------------------------------------------


def _write(world: World, run: Run, spec: Spec, record: Record, now: datetime) -> Outcome:
    me, text, entry = known(world.me), record.text, record.entry
    quote = Say("partner", "partner.says", {"partner": me.first_name, "text": text}, entries=_entries(entry))
    match spec.kind:
        case "speak" | "reply":
            buttons = ("said", "pause") if spec.kind == "speak" else ("said",)
            world, effects = _ask(
                world, "me", "turn", buttons, "exercise.passed_on", partner=known(world.partner).first_name
            )
            return world, [quote, *effects]
        case "say":
            world, effects = _enter(world, run, spec.next, now)
            return world, [quote, *effects]
        case "write":
            world = _with_run(world, replace(run, text=text, entry=entry))
            coach = bool(EXCUSE_WORDS.get(me.language, EXCUSE_WORDS["en"]).search(text))
            return _ask(
                world,
                "me",
                "preview",
                ("send", "rewrite"),
                f"ex.{run.name}.{run.step}.preview",
                text=text,
                coach=coach,
                partner=known(world.partner).first_name,
            )
        case "mirror":
            return _enter(world, replace(run, text=text, entry=entry), spec.next, now)
        case "answer":
            answer = Say(
                "partner",
                "questions.answered",
                {"partner": me.first_name, "question": run.text, "text": text},
                entries=_entries(run.entry, entry),
            )
            thanks = Say("self", "questions.thanks", {"partner": known(world.partner).first_name})
            world, effects = _enter(world, replace(run, text=None, entry=""), spec.next, now)
            return world, [answer, thanks, *effects]
        case "ask":
            return _ask_question(world, run, spec, text, entry, now)
        case "both":
            return _answer_privately(world, run, spec, record, now)
    raise AssertionError(spec.kind)


def _ask_question(world: World, run: Run, spec: Spec, text: str, entry: str, now: datetime) -> Outcome:
    couple = _count_from_today(world, now)
    if couple.asked_today >= couple.questions_per_day:
        saved = _saved_entries(couple)
        couple = replace(couple, saved_questions=(*couple.saved_questions, text), saved_entries=(*saved, entry))
        world = replace(world, couple=couple)
        return world, [Say("self", "questions.saved", {"limit": couple.questions_per_day})]
    world = replace(world, couple=replace(couple, asked_today=couple.asked_today + 1))
    return _enter(world, replace(run, text=text, entry=entry), spec.next, now)


def _saved_entries(couple: Couple) -> tuple[str, ...]:
    """The saved questions' entries, one for each (questions saved before entries had names have none)."""
    missing = len(couple.saved_questions) - len(couple.saved_entries)
    return ("",) * missing + couple.saved_entries


def _count_from_today(world: World, now: datetime) -> Couple:
    couple, today = known(world.couple), _local_date(known(world.me), now)
    if couple.asked_on != today:
        couple = replace(couple, asked_on=today, asked_today=0)
    return couple


def _reopen_questions(world: World, run: Run, now: datetime) -> tuple[World, Run, Run | None]:
    """Before new questions: a promised answer that is due, then questions saved from another day."""
    couple = known(world.couple)
    answer_step = known(EXERCISES[run.name].steps[run.step].next)
    due = next((p for p in couple.promises if p.due <= now), None)
    if due:
        couple = replace(couple, promises=tuple(p for p in couple.promises if p is not due))
        return replace(world, couple=couple), run, replace(run, step=answer_step, text=due.question, entry=due.entry)
    asker = _person(world, _turn_of(world, run, EXERCISES[run.name].steps[run.step]))
    today = _local_date(asker, now)
    counted = couple if couple.asked_on == today else replace(couple, asked_on=today, asked_today=0)
    if couple.saved_questions and counted.asked_today < counted.questions_per_day:
        first, *rest = couple.saved_questions
        entry, *entries = _saved_entries(couple)
        couple = replace(
            counted, saved_questions=tuple(rest), saved_entries=tuple(entries), asked_today=counted.asked_today + 1
        )
        return replace(world, couple=couple), run, replace(run, step=answer_step, text=first, entry=entry)
    return world, run, None


def _answer_privately(world: World, run: Run, spec: Spec, record: Record, now: datetime) -> Outcome:
    me, text = known(world.me), record.text
    if any(a.author_id == me.user_id for a in run.answers):
        return _hold(world, record)
    run = replace(run, answers=(*run.answers, Entry(me.user_id, text, record.entry)))
    if len(run.answers) < 2:
        world = _with_run(world, run)
        return world, [Say("self", "exercise.answer_kept", {"partner": known(world.partner).first_name})]
    mine = text
    theirs = next(a for a in run.answers if a.author_id != me.user_id)
    reveal = f"ex.{run.name}.{run.step}.reveal"
    both = _entries(*(a.entry for a in run.answers))
    effects = [
        Say(
            "self",
            reveal,
            {"partner": known(world.partner).first_name, "mine": mine, "theirs": theirs.text},
            entries=both,
        ),
        Say("partner", reveal, {"partner": me.first_name, "mine": theirs.text, "theirs": mine}, entries=both),
    ]
    proposals = tuple(sorted(run.answers, key=lambda a: a.author_id != run.starter_id))  # the starter's first
    world, more = _enter(world, replace(run, text=None, answers=proposals), spec.next, now)
    return world, effects + more


def _send_draft(world: World, run: Run, spec: Spec, now: datetime) -> Outcome:
    if run.text is None:
        return world, [_stale()]
    return _enter(world, run, spec.next, now)


def _rewrite(world: World, run: Run, spec: Spec) -> Outcome:
    world = _with_run(world, replace(run, text=None, entry=""))  # the withdrawn draft stays its writer's
    return _ask(world, "me", "turn", _turn_buttons(spec), f"ex.{run.name}.{run.step}.rewrite")


def _turn_button(world: World, run: Run, spec: Spec, choice: str, now: datetime) -> Outcome:
    partner = known(world.partner).first_name
    match choice:
        case "said":
            return _enter(world, replace(run, text=None), spec.next, now)
        case "read":
            world, effects = _enter(world, replace(run, text=None), spec.next, now)
            return world, [Say("partner", "exercise.read", {"partner": known(world.me).first_name}), *effects]
        case "yes" | "reached":
            told = "exercise.heard" if choice == "yes" else "exercise.reached"
            world, effects = _enter(world, replace(run, text=None, round=1), spec.next, now)
            return world, [Say("partner", told, {"partner": known(world.me).first_name}), *effects]
        case "not_quite" | "not_yet":
            run = replace(run, round=run.round + 1, text=None)
            hint = "exercise.not_quite" if choice == "not_quite" else "exercise.not_yet"
            notice = Say("partner", hint, {"partner": known(world.me).first_name})
            if run.round > ROUNDS_BEFORE_PAUSE_OFFER:
                world = _with_run(world, replace(run, round=1))
                offer: list[Effect] = [
                    Say("self", "exercise.rounds", {"partner": partner}, _buttons(("pause", "go_on"), "rounds")),
                    Say(
                        "partner",
                        "exercise.rounds",
                        {"partner": known(world.me).first_name},
                        _buttons(("pause", "go_on"), "rounds"),
                    ),
                ]
                return _with_menus(world, offer), [notice, *offer]
            world, effects = _enter(world, run, spec.again, now)
            return world, [notice, *effects]
        case "stop_for_now" | "another":
            return _enter(world, replace(run, text=None), spec.next, now)
        case "respond":
            return _enter(world, replace(run, text=None), spec.again, now)
        case "me_first" | "you_first":
            speaker = known(world.me) if choice == "me_first" else known(world.partner)
            return _enter(world, replace(run, starter_id=speaker.user_id), spec.next, now)
        case "not_yet_trust":
            return _stop(world, told=("ex.trust.not_yet", "ex.trust.not_yet.partner"))
        case "enough":
            return _finish(world, run, now)
        case "later":
            couple = replace(
                known(world.couple),
                promises=(*known(world.couple).promises, Promise(known(run.text), now + timedelta(days=1), run.entry)),
            )
            world = replace(world, couple=couple)
            after = EXERCISES[run.name].steps[known(spec.next)]
            then = after.next if after.kind == "breathe" else spec.next  # no answer to take in yet
            world, effects = _enter(world, replace(run, text=None), then, now)
            reminder = Schedule("self", "promise", now + timedelta(days=1))
            return world, [
                Say("partner", "questions.later", {"partner": known(world.me).first_name}),
                reminder,
                *effects,
            ]
        case "first" | "second":
            return _pick(world, run, spec, 0 if choice == "first" else 1, now)
    raise AssertionError(choice)


def _pick(world: World, run: Run, spec: Spec, index: int, now: datetime) -> Outcome:
    me = known(world.me)
    choices = tuple(c for c in run.choices if c.author_id != me.user_id) + (Entry(me.user_id, str(index)),)
    run = replace(run, choices=choices)
    if len(choices) < 2:
        world = _with_run(world, run)
        return world, [Say("self", "ex.plan.agree.kept", {"partner": known(world.partner).first_name})]
    if choices[0].text != choices[1].text:
        world = _with_run(world, replace(run, choices=()))
        world, mine = _prompted(world, replace(run, choices=()))
        return world, [Say("self", "ex.plan.agree.differ", {}), Say("partner", "ex.plan.agree.differ", {}), *mine]
    plan = run.answers[index].text
    chosen = _entries(run.answers[index].entry)
    world = replace(world, couple=replace(known(world.couple), plan=plan))
    world, effects = _enter(world, run, spec.next, now)
    return world, [
        Say("self", "ex.plan.agree.done", {"plan": plan}, entries=chosen),
        Say("partner", "ex.plan.agree.done", {"plan": plan}, entries=chosen),
        *effects,
    ]


# Held messages ------------------------------------------------------------------------
# A text written out of turn is a journal row of its writer's (Record.held); the couple's state
# only names who has some. It is passed on at its writer's next turn in the exercise; when the
# exercise ends first, its writer chooses: send it now, keep it for tomorrow, or not send it.


def _hold(world: World, record: Record) -> Outcome:
    couple, me = known(world.couple), known(world.me)
    if me.user_id not in couple.held:
        world = replace(world, couple=replace(couple, held=(*couple.held, me.user_id)))
    run = known(couple.run)
    turn = _name_of(world, _turn_of(world, run, EXERCISES[run.name].steps[run.step]))
    note = Say("self", "exercise.held", {"turn": turn, "paused": run.paused, "mine": turn == me.first_name})
    return world, [replace(record, held="turn"), note]


def _pass_on(world: World, author_id: int, held: str) -> Effect:
    me, partner = known(world.me), known(world.partner)
    reader = partner if author_id == me.user_id else me
    to = _side(world, reader.user_id)
    return PassOnHeld(author_id, held, to, (), "exercise.held_delivered", {"partner": _name_of(world, author_id)})


def _flush_held(world: World, author_id: int) -> Outcome:
    """Pass on what `author_id` wrote out of turn, now that their turn has come."""
    couple = known(world.couple)
    if author_id not in couple.held:
        return world, []
    world = replace(world, couple=replace(couple, held=tuple(a for a in couple.held if a != author_id)))
    return world, [_pass_on(world, author_id, "turn")]


def _ask_about_held(world: World) -> Outcome:
    """The exercise ended: each writer of held texts is asked, privately, what becomes of them."""
    couple = known(world.couple)
    writers = [a for a in couple.held if a in (known(world.me).user_id, known(world.partner).user_id)]
    choosing = (*(a for a in couple.choosing if a not in writers), *writers)
    world = replace(world, couple=replace(couple, held=(), choosing=choosing))
    effects: list[Effect] = []
    for author_id in writers:
        effects.append(Settle(author_id, "turn", "asked"))
        world, asked = _ask_held(world, author_id, "held.choose")
        effects += asked
    return world, effects


def _ask_held(world: World, author_id: int, key: str) -> Outcome:
    slot = "me" if author_id == known(world.me).user_id else "partner"
    return _ask(world, slot, "held", CHOICES["held"], key, partner=_other_name(world, author_id))


def _held_choice(world: World, choice: str, now: datetime) -> Outcome:
    me, couple = known(world.me), known(world.couple)
    if me.user_id not in couple.choosing:
        return world, [_stale()]
    partner = known(world.partner).first_name
    if choice == "keep_held":
        return world, [Say("self", "held.kept", {"partner": partner}), Schedule("self", "held", now + HELD_KEPT_FOR)]
    world = replace(world, couple=replace(couple, choosing=tuple(a for a in couple.choosing if a != me.user_id)))
    if choice == "send_held":
        return world, [_pass_on(world, me.user_id, "asked"), Say("self", "held.sent", {"partner": partner})]
    return world, [Settle(me.user_id, "asked", None), Say("self", "held.not_sent", {"partner": partner})]


def held_reminder(world: World) -> Outcome:
    """The day after "keep for tomorrow": the writer is asked again (nothing, if that no longer applies)."""
    me, couple = known(world.me), world.couple
    if me.phase is not Phase.LINKED or couple is None or me.user_id not in couple.choosing:
        return world, []
    return _ask_held(world, me.user_id, "held.reminder")


# Prompts -----------------------------------------------------------------------------


def _prompted(world: World, run: Run, fresh: bool = False) -> Outcome:
    effects = _prompt(world, run, fresh)
    return _with_menus(world, effects), effects


def _turn_buttons(spec: Spec) -> tuple[str, ...]:
    return spec.buttons or TURN_BUTTONS[spec.kind]


def _prompt(world: World, run: Run, fresh: bool = False) -> list[Effect]:
    """Tell the person whose turn it is what to do, and the other that it is not their turn.

    `fresh`: the exercise has just begun (the questions exercise says once how questions help).
    """
    spec = EXERCISES[run.name].steps[run.step]
    key = f"ex.{run.name}.{run.step}" if spec.kind not in ("mirror", "confirm") else f"ex.{spec.kind}"
    turn_id = _turn_of(world, run, spec)
    vars = {
        "exercise": run.name,
        "text": run.text or "",
        "limit": known(world.couple).questions_per_day,
        "round": run.round,
        "fresh": fresh,
        "role": str(_person(world, turn_id).role or ""),
    }
    if spec.kind in ("both", "choose"):
        vars |= {"proposals": [a.text for a in run.answers]}
        return [
            Say(
                _side(world, person.user_id),
                key,
                vars | {"partner": _other_name(world, person.user_id)},
                _buttons(_turn_buttons(spec), "turn"),
                # A choose step shows the proposals, revealed already; a both step's answers stay private.
                entries=_entries(*(a.entry for a in run.answers)) if spec.kind == "choose" else (),
            )
            for person in (known(world.me), known(world.partner))
        ]
    other_id = known(world.partner).user_id if turn_id == known(world.me).user_id else known(world.me).user_id
    return [
        Say(
            _side(world, turn_id),
            key,
            vars | {"partner": _name_of(world, other_id)},
            _buttons(_turn_buttons(spec), "turn", {"partner": _name_of(world, other_id)}),
            entries=_entries(run.entry) if run.text else (),
        ),
        Say(
            _side(world, other_id),
            key + ".wait",
            vars | {"partner": _name_of(world, turn_id)},
            _buttons(("pause",), "wait"),
        ),
    ]


def _buttons(
    choices: tuple[str, ...], question: str, vars: dict[str, object] | None = None
) -> tuple[tuple[Button, ...], ...]:
    # The menu number is filled in by _with_menus, once it is known whose menu it is.
    return tuple((Button(f"button.{choice}", f"?{question}:{choice}", vars or {}),) for choice in choices)


def _with_menus(world: World, effects: list[Effect]) -> World:
    """Give every message with buttons a fresh menu number for its reader; older buttons go stale."""
    for index, effect in enumerate(effects):
        if isinstance(effect, Say) and effect.buttons:
            slot = "me" if effect.to == "self" else "partner"
            person = getattr(world, slot)
            question = effect.buttons[0][0].data[1:].split(":")[0]
            menu = person.menu + 1
            world = replace(world, **{slot: replace(person, menu=menu, asking=question)})
            rows = tuple(
                tuple(replace(b, data=f"{menu}:{b.data.split(':', 1)[1]}") for b in row) for row in effect.buttons
            )
            effects[index] = replace(effect, buttons=rows)
    return world


def _ask(world: World, slot: str, question: str, choices: tuple[str, ...], key: str, **vars: object) -> Outcome:
    effects: list[Effect] = [Say("self" if slot == "me" else "partner", key, vars, _buttons(choices, question))]
    return _with_menus(world, effects), effects


def _choose_limit(world: World) -> Outcome:
    return _ask(world, "me", "limit", QUESTION_LIMITS, "questions.limit", limit=known(world.couple).questions_per_day)


def _clear_partner_menu(world: World) -> World:
    return replace(world, partner=replace(known(world.partner), asking=None))


# Who is who ---------------------------------------------------------------------------


def _writers(world: World, run: Run, spec: Spec) -> set[int]:
    if spec.who == "both":
        return {known(world.me).user_id, known(world.partner).user_id}
    return {_turn_of(world, run, spec)}


def owes_turn(world: World, user_id: int) -> bool:
    """Whether the exercise is waiting for this person now."""
    run = known(world.couple).run
    if run is None or run.paused:
        return False
    spec = EXERCISES[run.name].steps[run.step]
    if spec.who == "both":
        done = {a.author_id for a in run.answers} | {c.author_id for c in run.choices}
        return user_id not in done
    return _turn_of(world, run, spec) == user_id


def _turn_of(world: World, run: Run, spec: Spec) -> int:
    me, partner = known(world.me), known(world.partner)
    match spec.who:
        case "starter":
            return run.starter_id
        case "other":
            return partner.user_id if run.starter_id == me.user_id else me.user_id
        case "both":
            return run.starter_id
    return me.user_id if me.role is not None and me.role.value == spec.who else partner.user_id


def _person(world: World, user_id: int) -> Person:
    return known(world.me) if known(world.me).user_id == user_id else known(world.partner)


def _name_of(world: World, user_id: int) -> str:
    return _person(world, user_id).first_name


def _other_name(world: World, user_id: int) -> str:
    return known(world.partner).first_name if user_id == known(world.me).user_id else known(world.me).first_name


def _side(world: World, user_id: int) -> Recipient:
    return "self" if user_id == known(world.me).user_id else "partner"


def _with_run(world: World, run: Run | None) -> World:
    return replace(world, couple=replace(known(world.couple), run=run))


def _local_date(person: Person, now: datetime) -> date:
    return now.astimezone(ZoneInfo(person.time_zone)).date()


def _stale() -> Effect:
    return Toast("press.stale")


def _entries(*entries: str) -> tuple[str, ...]:
    """The named journal entries a Say passes on (texts from events without a nonce have no name)."""
    return tuple(e for e in entries if e)
