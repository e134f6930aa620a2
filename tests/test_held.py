"""Texts written out of turn are journal rows of their writer's; the couple's state only names who has some."""

from __future__ import annotations

from storage import codec
from tests.stage import Stage


def room_with_ben_out_of_turn(stage: Stage, texts: list[str]) -> None:
    stage.command("Anna", "menu")
    stage.press("Anna", "room")
    for text in texts:
        stage.write("Ben", text)


def test_three_thousand_held_texts_do_not_grow_the_state():
    one, many = Stage.linked(), Stage.linked()
    room_with_ben_out_of_turn(one, ["Can I explain?"])
    room_with_ben_out_of_turn(many, [f"Can I explain? ({n})" for n in range(3000)])
    assert len(codec.dumps(many.couple)) == len(codec.dumps(one.couple))
    assert many.couple.held == (2,)
    assert [w.held for w in many.journal.entries if w.record.author_id == 2] == ["turn"] * 3000


def test_held_texts_reach_the_partner_at_the_writers_turn_in_the_writers_order():
    stage = Stage.linked()
    stage.command("Anna", "menu")
    stage.press("Anna", "impact")
    stage.write("Anna", "I can't sleep.")
    stage.write("Ben", "first")  # out of turn: held
    stage.write("Ben", "second")
    stage.press("Anna", "said")
    stage.write("Ben", "What I hear is that you can't sleep.")
    stage.press("Anna", "yes")  # the turn goes to Ben: what he held reaches Anna, in order
    passed_on = [t for t in (m.text for m in stage.inbox["Anna"]) if "first" in t or "second" in t]
    assert len(passed_on) == 2 and "first" in passed_on[0] and "second" in passed_on[1]
    assert all(
        w.held is None and w.readers == {1, 2} for w in stage.journal.entries if w.record.text in ("first", "second")
    )


def test_a_held_text_not_sent_stays_its_writers_own():
    stage = Stage.linked()
    room_with_ben_out_of_turn(stage, ["Can I explain?"])
    stage.command("Ben", "menu")
    stage.press("Ben", "stop")
    stage.press("Ben", "drop_held")
    assert not any("Can I explain?" in m.text for m in stage.inbox["Anna"])
    held = next(w for w in stage.journal.entries if w.record.text == "Can I explain?")
    assert held.readers == {2} and held.held is None  # kept, private, in his export; never passed on
    stage.press("Ben", "send_held")  # the question is answered: its buttons are gone
    assert not any("Can I explain?" in m.text for m in stage.inbox["Anna"])
