"""What a couple wrote before their therapist joined, as one plain-text file for the therapist.

Sent once, and only after both partners agreed (dialogues.therapist, the ShareHistory effect).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from dialogues.exercises import EXERCISES
from dialogues.model import ShareHistory, World
from dialogues.texts import Texts
from storage import repo

FILENAME = {"en": "herstel-before-you-joined.txt", "nl": "herstel-voor-je-meelas.txt"}


def calls(session: Session, world: World, share: ShareHistory, texts: Texts) -> list[repo.Call]:
    therapist = world.therapist
    if therapist is None or world.couple is None:
        return []
    names = {p.user_id: p.first_name for p in (world.me, world.partner) if p is not None}
    zone = ZoneInfo(therapist.time_zone)
    entries = [
        {
            "at": _utc(row.created_at).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "author": names.get(row.author_id, ""),  # "" for someone not a partner: an earlier therapist
            "exercise": row.exercise if row.exercise in EXERCISES else "",
            "text": row.text,
        }
        for row in repo.history(session, world.couple.id, share.until, world.couple.member_ids)
    ]
    language = therapist.language
    content = texts.render(language, "therapist.history_file", couple=share.couple, entries=entries)
    caption = texts.render(language, "therapist.history", couple=share.couple, count=len(entries))
    document = {"filename": FILENAME[language], "base64": base64.b64encode(content.encode()).decode()}
    return [
        repo.Call(
            therapist.user_id,
            "sendDocument",
            {
                "chat_id": therapist.user_id,
                "caption": caption,
                "parse_mode": "HTML",
                "document": document,
            },
        )
    ]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
