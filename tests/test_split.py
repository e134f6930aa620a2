"""Long texts are split cleanly at Telegram's limit and nothing is dropped."""

from __future__ import annotations

import html
import re

from bot.split import LIMIT, split_html


def visible(part: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", part))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_short_text_is_one_message():
    assert split_html("<b>Anna</b> writes: hello") == ["<b>Anna</b> writes: hello"]


def test_5000_characters_of_escaped_html_split_into_parts_within_the_limit():
    words = html.escape("<b>I & you</b> " * 400)
    parts = split_html(f"<b>Anna</b>:\n<blockquote>{words}</blockquote>")
    assert len(parts) == 2
    assert all(utf16(visible(p)) <= LIMIT for p in parts)
    assert all(p.count("<blockquote>") == p.count("</blockquote>") == 1 for p in parts)
    assert "".join(visible(p) for p in parts).replace(" ", "") == visible(f"Anna:\n{words}").replace(" ", "")


def test_a_split_never_cuts_an_entity():
    parts = split_html("&amp;" * 5000)
    assert all(re.fullmatch(r"(&amp;)+", p) for p in parts)
    assert sum(p.count("&amp;") for p in parts) == 5000


def test_emoji_count_as_two_units():
    parts = split_html("😀" * 3000)
    assert [utf16(p) for p in parts] == [4096, 1904]


def test_one_long_word_is_cut_hard():
    parts = split_html("x" * 9000)
    assert [len(p) for p in parts] == [4096, 4096, 808]
