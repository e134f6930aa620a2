"""One unit of work per update: load, step, save state and outbox, commit. Delivery comes after."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Update

from bot import history, progress
from bot.convert import reachability, to_event
from bot.render import to_calls
from dialogues.engine import step
from dialogues.model import (
    Due,
    Erase,
    Export,
    Progress,
    Record,
    Schedule,
    Sender,
    ShareHistory,
    Start,
    Unreachable,
    known,
)
from dialogues.texts import Texts
from storage import privacy, repo


def process(engine: Engine, update: Update, now: datetime, texts: Texts, default_language: str) -> bool:
    """Handle one stored update exactly once. False if it was already handled (or is being handled)."""
    with Session(engine) as session:
        if not repo.claim_update(
            session, update.update_id, now
        ):  # before an erasure, which removes this person's updates
            return False
        event = to_event(update, default_language, nonce=secrets.token_urlsafe(16))
        reachable = reachability(update)
        if reachable is False:
            _unreachable(session, known(update.effective_chat).id, now, texts)
        elif reachable:
            repo.set_reachable(session, known(update.effective_chat).id, True)
        if event is not None:
            opened = event.payload if isinstance(event, Start) else None
            world = repo.load_world(session, event.sender.user_id, opened)
            world, effects = step(world, event, now)
            query_id = update.callback_query.id if update.callback_query else None
            writer = event.sender.user_id if known(update.effective_chat).type == "private" else None
            apply(
                session,
                world,
                effects,
                now,
                texts,
                known(update.effective_chat).id,
                event.sender.language,
                query_id,
                writer,
            )
        session.commit()
        return True


def due(engine: Engine, schedule_id: int, now: datetime, texts: Texts) -> bool:
    """A scheduled moment, in one unit of work like an update. False if another process took it."""
    with Session(engine) as session:
        row = repo.claim_schedule(session, schedule_id, now)
        if row is None:
            return False
        world = repo.load_world(session, row.user_id, None)
        if world.me is not None:
            me = world.me
            event = Due(Sender(me.user_id, me.first_name, me.language), row.kind, row.key, row.due_at)
            world, effects = step(world, event, now)
            apply(session, world, effects, now, texts, me.user_id, me.language)
        session.commit()
        return True


def apply(
    session: Session,
    world,
    effects: list,
    now: datetime,
    texts: Texts,
    chat_id: int,
    language: str,
    query_id: str | None = None,
    writer: int | None = None,
) -> None:
    """Save what a step decided, in the caller's transaction: state, journal, schedules, outbox."""
    repo.save_world(session, world, now)
    if writer is not None:
        repo.set_reachable(session, writer, True)  # writing again unblocks delivery
    for effect in effects:
        if isinstance(effect, Record):
            repo.record(session, world.couple.id, effect, now)
        elif isinstance(effect, Schedule):
            person = world.me if effect.to == "self" else world.partner
            repo.schedule(session, person.user_id, effect.kind, effect.key, effect.at)
    calls = to_calls(effects, world, chat_id, language, texts, query_id)
    if any(isinstance(e, Export) for e in effects):
        calls = _export_calls(session, world.me.user_id, world.me.language, texts) + calls
    if any(isinstance(e, Progress) for e in effects):
        calls = progress.calls(world, now, texts) + calls
    if any(isinstance(e, Erase) for e in effects):
        privacy.erase(session, world.me.user_id)  # after the state is saved, before the goodbyes
        repo.forget_cares(session, world.me.user_id)
    for share in (e for e in effects if isinstance(e, ShareHistory)):
        calls += history.calls(session, world, share, texts)  # to the therapist, after the partners are told
    repo.queue(session, calls, now)


def _export_calls(session: Session, user_id: int, language: str, texts: Texts) -> list[repo.Call]:
    """Two files: the data as JSON, and the same to read."""
    data = privacy.export(session, user_id)
    files = [
        ("herstel-export.json", json.dumps(data, ensure_ascii=False, indent=2)),
        ("herstel-export.txt", texts.render(language, "export.readable", data=data)),
    ]
    caption = texts.render(language, "export.caption")
    return [
        repo.Call(
            user_id,
            "sendDocument",
            {
                "chat_id": user_id,
                "caption": caption,
                "document": {"filename": name, "base64": base64.b64encode(content.encode()).decode()},
            },
        )
        for name, content in files
    ]


def unreachable(engine: Engine, user_id: int, now: datetime, texts: Texts) -> bool:
    """Telegram refused a message to `user_id` (403): hold their messages, and tell a linked partner,
    once per blocking, in one transaction like an update. True if this noticed the blocking."""
    with Session(engine) as session:
        told = _unreachable(session, user_id, now, texts)
        session.commit()
        return told


def _unreachable(session: Session, user_id: int, now: datetime, texts: Texts) -> bool:
    world = repo.load_world(session, user_id, None)  # locks the couple and both people first
    if world.me is None or not repo.set_reachable(session, user_id, False):
        return False  # unknown, or already known to be unreachable: the partner was told then
    me = world.me
    world, effects = step(world, Unreachable(Sender(me.user_id, me.first_name, me.language)), now)
    apply(session, world, effects, now, texts, user_id, me.language)
    return True
