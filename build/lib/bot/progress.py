"""The progress picture: both partners' check-ins over the past weeks, and the exercises done.

A partner's score shows only for days both answered: the picture never reveals a private answer.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timedelta

from babel.dates import format_date

from dialogues import clock
from dialogues.model import World, known
from dialogues.texts import Texts
from storage.repo import Call

WEEKS = 4
COLOURS = ("#3f6f8f", "#c0673f")


def calls(world: World, now: datetime, texts: Texts) -> list[Call]:
    me = known(world.me)
    png = render(world, now, texts)
    return [
        Call(
            me.user_id,
            "sendPhoto",
            {
                "chat_id": me.user_id,
                "caption": texts.render(me.language, "progress.caption"),
                "photo": {"filename": "progress.png", "base64": base64.b64encode(png).decode()},
            },
        )
    ]


def render(world: World, now: datetime, texts: Texts) -> bytes:
    # Imported on the first picture: matplotlib and numpy hold about 40 MB a process would carry unused.
    import matplotlib

    matplotlib.use("Agg")  # no display, and no pyplot global state: Figure objects only
    from matplotlib.dates import date2num  # its stubs take numbers where it also takes dates
    from matplotlib.figure import Figure

    me, partner, couple = known(world.me), known(world.partner), known(world.couple)
    language = me.language
    say = lambda key: html.unescape(texts.render(language, key))  # noqa: E731 (labels are plain text)
    today = clock.local_date(now, me.time_zone)
    start = today - timedelta(weeks=WEEKS)
    answered = {(c.user_id, c.day): c.score for c in couple.checkins if c.score is not None and c.day >= start}
    both = {day for (uid, day) in answered if uid == partner.user_id and (me.user_id, day) in answered}

    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.subplots()
    for person, colour in zip((me, partner), COLOURS, strict=False):
        days = sorted(day for (uid, day) in answered if uid == person.user_id and (person is me or day in both))
        label = say("progress.you") if person is me else partner.first_name
        axes.plot(date2num(days), [answered[(person.user_id, d)] for d in days], marker="o", color=colour, label=label)
    finished = [f for f in couple.finished if f.on >= start]
    for index, done in enumerate(finished):
        axes.axvline(
            date2num(done.on), color="#999999", linestyle=":", label=say("progress.exercise") if index == 0 else None
        )
    if not answered:
        axes.text(0.5, 0.5, say("progress.empty"), ha="center", va="center", transform=axes.transAxes, wrap=True)
    axes.set_xlim(date2num(start), date2num(today + timedelta(days=1)))
    axes.set_ylim(0.5, 5.5)
    axes.set_yticks(range(1, 6))
    ticks = [start + timedelta(days=7 * week) for week in range(WEEKS + 1)]
    axes.set_xticks(date2num(ticks), [format_date(d, "d MMM", locale=language) for d in ticks])
    axes.set_title(say("progress.title"))
    axes.set_ylabel(say("progress.score"))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
