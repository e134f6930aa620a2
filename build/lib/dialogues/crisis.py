"""Crisis signals in what someone writes: suicide, self-harm, violence and threats.

Deliberately plain word lists, in Dutch and English, checked against both whatever the
chosen language. A match never blocks anyone: the writer sees help lines first and then
decides whether the message goes on. tests/test_crisis.py guards against false alarms
on ordinary exercise texts.
"""

from __future__ import annotations

import re

_SIGNALS = [
    # English: suicide and self-harm
    r"\bkill(ing)? myself\b",
    r"\bend(ing)? (it all|my life)\b",
    r"\bsuicid\w*",
    r"\btake my (own )?life\b",
    r"\bwant(ed)? to die\b",
    r"\bdon'?t want to (live|be alive)\b",
    r"\bbetter off dead\b",
    r"\bno reason to live\b",
    r"\b(hurt|hurting|harm|harming|cut|cutting) myself\b",
    r"\bself[- ]?harm\w*",
    # English: violence and threats
    r"\b(i'?ll|i will|going to|gonna) (kill|hurt|hit) you\b",
    r"\b(hits?|hitting|beats?|beating|hurts) me\b",
    r"\b(hit|beat|choked|strangled|pushed) me\b",
    r"\bstrangl\w*",
    r"\bthreaten(s|ed)? (me|to (kill|hurt|hit))\b",
    # Dutch: zelfdoding en zelfbeschadiging
    r"\bzelfmoord\w*",
    r"\bzelfdoding\w*",
    r"\bsuïcid\w*",
    r"\bik wil dood\b",
    r"\bwil niet meer leven\b",
    r"\been eind(e)? aan (mijn|m'n) leven\b",
    r"\ber een eind(e)? aan (maken|te maken)\b",
    r"\bmezelf (van kant maken|iets aandoen|pijn doen|snijden|verwonden)\b",
    r"\bzelfbeschadiging\b",
    # Dutch: geweld en dreiging
    r"\bik (maak|vermoord) je\b",
    r"\bik sla je\b",
    r"\b(slaat|sloeg|schopt|schopte|wurgt|wurgde) (me|mij)\b",
    r"\b(heeft|hebt) (me|mij) geslagen\b",
    r"\bmishandel\w*",
    r"\bwurg\w*",
    r"\bbedreigt (me|mij)\b",
    r"\bdreigt (me |mij )?(te )?(vermoorden|slaan|pijn)",
]
_PATTERN = re.compile("|".join(_SIGNALS), re.IGNORECASE)


def has_signals(text: str) -> bool:
    return _PATTERN.search(text) is not None
