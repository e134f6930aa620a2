"""Engine effects out, Bot API calls in: render each text in its reader's language."""

from __future__ import annotations

from bot.split import split_html
from dialogues.model import Effect, LeaveChat, Say, Toast, World
from dialogues.texts import Texts
from storage.repo import Call


def to_calls(
    effects: list[Effect],
    world: World,
    chat_id: int,
    language: str,
    texts: Texts,
    callback_query_id: str | None = None,
) -> list[Call]:
    """`chat_id` and `language` are the event's own chat and its writer's language ("self")."""
    calls: list[Call] = []
    toast = next((e for e in effects if isinstance(e, Toast)), None)
    if callback_query_id:  # every press gets an answer, so the button stops spinning
        params = {"callback_query_id": callback_query_id}
        if toast:
            params["text"] = texts.render(language, toast.key)
        calls.append(Call(chat_id, "answerCallbackQuery", params))
    for effect in effects:
        if isinstance(effect, Say) and effect.to == "couple":  # both partners, from a therapist's event
            for member in world.members:
                calls.extend(_messages(effect, member.user_id, member.language, texts))
        elif isinstance(effect, Say):
            to_chat, to_language = _address(effect, world, chat_id, language)
            calls.extend(_messages(effect, to_chat, to_language, texts))
        elif isinstance(effect, LeaveChat):
            calls.append(Call(chat_id, "leaveChat", {"chat_id": chat_id}))
    return calls


def _address(effect: Say, world: World, chat_id: int, language: str) -> tuple[int, str]:
    if effect.to == "self":
        return chat_id, world.me.language if world.me else language
    if effect.to == "partner" and world.partner:
        return world.partner.user_id, world.partner.language
    if effect.to == "therapist" and world.therapist:
        return world.therapist.user_id, world.therapist.language
    raise ValueError(f"no recipient {effect.to!r} for {effect.key}")


def _messages(effect: Say, chat_id: int, language: str, texts: Texts) -> list[Call]:
    html = texts.render(language, effect.key, **effect.vars)
    parts = split_html(html)
    calls = [
        Call(
            chat_id,
            "sendMessage",
            {
                "chat_id": chat_id,
                "text": part,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": True},
            },
        )
        for part in parts
    ]
    if effect.buttons:
        keyboard = [
            [{"text": texts.render(language, b.label, **b.vars), "callback_data": b.data} for b in row]
            for row in effect.buttons
        ]
        calls[-1].params["reply_markup"] = {"inline_keyboard": keyboard}
    return calls
