"""Random conversations through the exercises: nothing raises, no text is lost, turns stay valid."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialogues import programme
from dialogues.exercises import EXERCISES
from dialogues.model import Press, Say, World
from tests.stage import Stage

NAMES = ("Anna", "Ben")
WRITE = st.tuples(st.just("write"), st.sampled_from(NAMES), st.text(min_size=1, max_size=30))
PRESS = st.tuples(st.just("press"), st.sampled_from(NAMES), st.integers(0, 12))
TURN = st.tuples(st.just("turn"), st.text(min_size=1, max_size=20), st.integers(0, 12))
ACTIONS = st.lists(
    st.one_of(  # weighted towards taking the turn, so runs go deep into the exercises
        TURN,
        TURN,
        TURN,
        TURN,
        WRITE,
        PRESS,
        st.tuples(st.just("stale"), st.sampled_from(NAMES), st.integers(0, 20)),
        st.tuples(st.just("command"), st.sampled_from(NAMES), st.sampled_from(["menu", "pause", "help"])),
        st.tuples(st.just("later"), st.just("Anna"), st.integers(1, 30)),
    ),
    max_size=80,
)


def pending_texts(stage: Stage) -> list[str]:
    """Texts kept for later: held for a turn, waiting for the writer's choice after crisis words, asked, promised."""
    couple = stage.couple
    run = couple.run
    texts = (
        [h.text for h in couple.unsent]
        + [w.record.text for w in stage.journal.entries if w.held]  # held out of turn: journal rows
        + list(couple.saved_questions)
        + [p.question for p in couple.promises]
    )
    if run:
        texts += [run.text or ""] + [a.text for a in run.answers]
    return texts


def delivered_texts(stage: Stage) -> list[str]:
    return [str(v) for e in stage.effects if isinstance(e, Say) and e.to == "partner" for v in e.vars.values()]


def _asked_last(stage: Stage) -> str:
    """Whose turn it is, by the exercise table; outside an exercise, whoever opened a menu last."""
    run = stage.couple.run
    if run and not run.paused:
        spec = EXERCISES[run.name].steps[run.step]
        if spec.who == "both":
            answered = {a.author_id for a in run.answers} | {c.author_id for c in run.choices}
            waiting = [n for n in NAMES if stage.id_of(n) not in answered]
            return waiting[0] if waiting else NAMES[0]
        else:
            anna, ben = (stage.people[stage.id_of(n)] for n in NAMES)
            turn_id = programme._turn_of(World(me=anna, partner=ben, couple=stage.couple), run, spec)
            return stage.people[turn_id].first_name
    with_menu = [n for n in NAMES if any(m.buttons for m in stage.inbox[n][-1:])]
    return with_menu[-1] if with_menu else NAMES[len(stage.lines) % 2]


def check_turns(stage: Stage) -> None:
    couple = stage.couple
    if couple.run is None:
        assert couple.held == (), "held texts go to their writer's choice when an exercise ends"
        return
    exercise = EXERCISES[couple.run.name]
    assert couple.run.step in exercise.steps
    assert all(author_id in couple.member_ids for author_id in couple.held)
    assert len({a.author_id for a in couple.run.answers}) == len(couple.run.answers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([name for name in EXERCISES if name != "look_back"]), ACTIONS)
@example("room", [("turn", "suicide", 1), ("turn", "", 0)])  # crisis words: kept until the writer chooses
def test_random_conversations_lose_no_text_and_keep_turns(first, actions):
    stage = Stage.linked("en")
    starter = "Ben" if EXERCISES[first].starter == "damaged" else "Anna"
    stage.command(starter, "menu")
    stage.press(starter, first)
    for kind, name, value in actions:
        if kind == "turn":  # whoever was asked most recently writes, or presses a real choice
            kind, text = ("write", name) if value % 2 else ("press", None)
            name = _asked_last(stage)
            value = text if text else value // 2
        menus = [m.buttons for m in stage.inbox[name] if m.buttons]
        buttons = menus[-1] if menus else []  # the person's current menu
        if kind == "write":
            stage.write(name, value)
            assert value in delivered_texts(stage) or value in pending_texts(stage), value
        elif kind == "press" and buttons:
            calm = [b for b in buttons if not b[1].endswith(":pause")] or buttons
            label, data = (buttons if value == 0 else calm)[value % len(buttons if value == 0 else calm)]
            stage.act(Press(stage.sender(name), data))
        elif kind == "stale":
            person = stage.people[stage.id_of(name)]
            before = (stage.couple, dict(stage.people))
            stage.act(Press(stage.sender(name), f"{person.menu + 1 + value}:yes"))
            assert (stage.couple, stage.people) == before, "a stale button changes nothing"
        elif kind == "command":
            stage.command(name, value)
        elif kind == "later":
            stage.later(hours=value)
        check_turns(stage)
