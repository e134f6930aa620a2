"""One unit of work per update: load, step, save state and outbox, commit. Delivery comes after."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Update

from dialogues.engine import step
from dialogues.model import Record, Start
from dialogues.texts import Texts
from storage import repo

from bot.convert import reachability, to_event
from bot.render import to_calls


def process(engine: Engine, update: Update, now: datetime, texts: Texts, default_language: str) -> bool:
    """Handle one stored update exactly once. False if it was already handled (or is being handled)."""
    with Session(engine) as session:
        if repo.claim_update(session, update.update_id) is None:
            return False
        event = to_event(update, default_language, nonce=secrets.token_urlsafe(16))
        reachable = reachability(update)
        if reachable is not None:
            repo.set_reachable(session, update.effective_chat.id, reachable)
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
            repo.queue(session, calls, now)
        repo.mark_processed(session, update.update_id, now)
        session.commit()
        return True
