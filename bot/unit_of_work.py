"""One unit of work per update: load, step, save state and outbox, commit. Delivery comes after."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Update

from dialogues.engine import step
from dialogues.model import Erase, Export, Record, Sender, Start, Unreachable
from dialogues.texts import Texts
from storage import privacy, repo

from bot.convert import reachability, to_event
from bot.render import to_calls


def process(engine: Engine, update: Update, now: datetime, texts: Texts, default_language: str) -> bool:
    """Handle one stored update exactly once. False if it was already handled (or is being handled)."""
    with Session(engine) as session:
        if repo.claim_update(session, update.update_id) is None:
            return False
        event = to_event(update, default_language, nonce=secrets.token_urlsafe(16))
        reachable = reachability(update)
        if reachable is False:
            _unreachable(session, update.effective_chat.id, now, texts)
        elif reachable:
            repo.set_reachable(session, update.effective_chat.id, True)
        if event is not None:
            opened = event.payload if isinstance(event, Start) else None
            world = repo.load_world(session, event.sender.user_id, opened)
            world, effects = step(world, event, now)
            repo.save_world(session, world, now)
            for entry in (e for e in effects if isinstance(e, Record)):
                repo.record(session, world.couple.id, entry, now)
            if update.effective_chat.type == "private":
                repo.set_reachable(session, event.sender.user_id, True)  # writing again unblocks delivery
            query_id = update.callback_query.id if update.callback_query else None
            calls = to_calls(effects, world, update.effective_chat.id, event.sender.language, texts, query_id)
            if any(isinstance(e, Export) for e in effects):
                calls = _export_calls(session, world.me.user_id, world.me.language, texts) + calls
            repo.mark_processed(session, update.update_id, now)
            if any(isinstance(e, Erase) for e in effects):
                privacy.erase(session, event.sender.user_id)  # after the state is saved, before the goodbyes
            repo.queue(session, calls, now)
        repo.mark_processed(session, update.update_id, now)
        session.commit()
        return True


def _export_calls(session: Session, user_id: int, language: str, texts: Texts) -> list[repo.Call]:
    """Two files: the data as JSON, and the same to read."""
    data = privacy.export(session, user_id)
    files = [
        ("herstel-export.json", json.dumps(data, ensure_ascii=False, indent=2)),
        ("herstel-export.txt", texts.render(language, "export.readable", data=data)),
    ]
    caption = texts.render(language, "export.caption")
    return [
        repo.Call(user_id, "sendDocument", {
            "chat_id": user_id,
            "caption": caption,
            "document": {"filename": name, "base64": base64.b64encode(content.encode()).decode()},
        })
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
    repo.save_world(session, world, now)
    repo.queue(session, to_calls(effects, world, user_id, me.language, texts), now)
    return True
