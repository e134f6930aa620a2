"""Telegram's HTML parse mode, checked strictly.

`parse_html(source)` returns `(plain_text, entities)` or raises `HtmlParseError`. Entity offsets and
lengths are in UTF-16 code units, as in the Bot API. This follows the documented rules (only the
listed tags; `<`, `>` and `&` outside tags must be escaped; named entities only `&lt; &gt; &amp;
&quot;`). Real Telegram is more forgiving with a bare `&` or `>`; being stricter here means markup
that passes the emulator also passes Telegram. Error messages name the tag or entity and a byte
offset, never the surrounding text (it may be private).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["HtmlParseError", "parse_html", "strip_text", "utf16_len"]


class HtmlParseError(ValueError):
    """The markup is invalid; str(error) is the reason Telegram would give."""


# tag -> entity type; None means "handled specially below"
_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_PLAIN = re.compile(r"[^<>&]+")
_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]*));")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR = re.compile(r"""\s+([A-Za-z0-9_-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>=`]+)))?""")
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9-]*)\s*>")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts offsets (an emoji outside the BMP is 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass
class _Open:
    tag: str
    type: str | None  # None: the tag makes no entity (e.g. <a> without href)
    start: int  # UTF-16 offset in the output
    extra: dict = field(default_factory=dict)


def parse_html(source: str) -> tuple[str, list[dict]]:
    out: list[str] = []
    pos = 0  # UTF-16 length of the output so far
    stack: list[_Open] = []
    entities: list[dict] = []

    def byte(i: int) -> int:
        return len(source[:i].encode("utf-8"))

    i, n = 0, len(source)
    while i < n:
        plain = _PLAIN.match(source, i)
        if plain:
            out.append(plain.group())
            pos += utf16_len(plain.group())
            i = plain.end()
            continue
        ch = source[i]
        if ch == "&":
            m = _ENTITY.match(source, i)
            if not m:
                raise HtmlParseError(f'Unescaped "&" at byte offset {byte(i)}')
            char = _decode_entity(m)
            if char is None:
                name = m.group(3)
                if name is not None:
                    raise HtmlParseError(f'Unsupported HTML entity "&{name};" at byte offset {byte(i)}')
                raise HtmlParseError(f"Invalid character reference at byte offset {byte(i)}")
            out.append(char)
            pos += utf16_len(char)
            i = m.end()
        elif ch == ">":
            raise HtmlParseError(f'Unescaped ">" at byte offset {byte(i)}')
        elif source.startswith("</", i):
            m = _END_TAG.match(source, i)
            if not m:
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte(i)}")
            tag = m.group(1).lower()
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte(i)}")
            top = stack.pop()
            if top.tag != tag:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {byte(i)}, expected "</{top.tag}>", found "</{tag}>"'
                )
            if top.type and pos > top.start:
                entities.append({"type": top.type, "offset": top.start, "length": pos - top.start, **top.extra})
            i = m.end()
        else:
            opened, i = _start_tag(source, i, pos, stack, byte)
            stack.append(opened)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _start_tag(source: str, i: int, pos: int, stack: list[_Open], byte) -> tuple[_Open, int]:
    m = _TAG_NAME.match(source, i + 1)
    if not m:
        raise HtmlParseError(f'Unescaped "<" at byte offset {byte(i)}')
    tag = m.group().lower()
    if tag not in _TAGS:
        raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {byte(i)}')
    attrs: dict[str, str] = {}
    j = m.end()
    while True:
        rest = source[j:]
        stripped = rest.lstrip()
        if stripped.startswith(">"):
            j += len(rest) - len(stripped) + 1
            break
        a = _ATTR.match(source, j)
        if not a:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {byte(i)}')
        value = next((v for v in a.group(2, 3, 4) if v is not None), "")
        attrs[a.group(1).lower()] = _decode_attr(value)
        j = a.end()

    kind, extra = _TAGS[tag], {}
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte(i)}')
    if tag == "a":
        if attrs.get("href"):
            extra = {"url": attrs["href"]}
        else:
            kind = None  # Telegram keeps the text and drops the link
    if tag == "tg-emoji":
        if not attrs.get("emoji-id"):
            raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte(i)}')
        extra = {"custom_emoji_id": attrs["emoji-id"]}
    if tag == "blockquote" and "expandable" in attrs:
        kind = "expandable_blockquote"
    if tag == "code" and stack and stack[-1].tag == "pre":
        # <pre><code class="language-x"> is one pre entity with a language
        language = attrs.get("class", "")
        if language.startswith("language-") and len(language) > len("language-"):
            stack[-1].extra["language"] = language[len("language-") :]
            kind = None
    return _Open(tag, kind, pos, extra), j


def _decode_entity(m: re.Match) -> str | None:
    dec, hexa, name = m.groups()
    if name is not None:
        return _NAMED.get(name)
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _decode_attr(value: str) -> str:
    # inside attribute values unknown entities and bare "&" stay literal (URLs with query strings)
    return _ENTITY.sub(lambda m: _decode_entity(m) or m.group(), value)


def strip_text(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Trim surrounding whitespace like Telegram does, moving and clipping the entities to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    result = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        stop = min(e["offset"] + e["length"] - lead, end)
        if stop > start:
            result.append({**e, "offset": start, "length": stop - start})
    return stripped, result
