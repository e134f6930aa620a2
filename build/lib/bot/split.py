"""Split Telegram HTML into messages that each fit the 4096-character limit.

Telegram counts the text after entity parsing, so tags and entities are free and `&lt;`
counts as one. We count UTF-16 code units, the stricter measure. A split never falls
inside a tag or an entity; tags open at the split are closed and opened again.
"""

from __future__ import annotations

import re

from dialogues.model import known

LIMIT = 4096
_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|[\s\S]", re.UNICODE)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z-]+)")


def _width(token: str) -> int:
    if token.startswith("<"):
        return 0
    if token.startswith("&"):
        return 1
    return len(token.encode("utf-16-le")) // 2


def split_html(html: str, limit: int = LIMIT) -> list[str]:
    if len(html.encode("utf-16-le")) // 2 <= limit:  # tags and entities only add: it fits as it is
        return [html]
    tokens = _TOKEN.findall(html)
    if sum(_width(t) for t in tokens) <= limit:
        return [html]
    parts: list[str] = []
    open_tags: list[str] = []  # the full opening tags, outermost first
    current: list[str] = []
    width = 0
    last_break: tuple[int, list[str]] | None = None  # (index in current, open_tags at that point)
    for token in tokens:
        if width + _width(token) > limit:
            # Prefer the last space or newline, unless it leaves too little in this part.
            if last_break is not None and last_break[0] > len(current) // 2:
                cut, tags_at_cut = last_break
            else:
                cut, tags_at_cut = len(current), list(open_tags)
            head, tail = current[:cut], current[cut:]
            parts.append("".join(head) + "".join(_closing(t) for t in reversed(tags_at_cut)))
            current = list(tags_at_cut) + tail
            width = sum(_width(t) for t in current)
            last_break = None
        current.append(token)
        width += _width(token)
        if token.startswith("</"):
            open_tags.pop()
        elif token.startswith("<") and not token.endswith("/>"):
            open_tags.append(token)
        elif token in ("\n", " "):
            last_break = (len(current), list(open_tags))
    parts.append("".join(current))
    return [
        part for part in parts if _TOKEN.sub(lambda m: "" if m.group().startswith("<") else m.group(), part).strip()
    ]


def _closing(opening_tag: str) -> str:
    return f"</{known(_TAG_NAME.match(opening_tag)).group(1)}>"
