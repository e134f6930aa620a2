"""Every user-facing text: one Jinja2 template a key, one folder a language.

Templates are HTML for Telegram's parse mode: autoescape makes whatever a person wrote
safe, and StrictUndefined turns a missing variable into an error instead of a gap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, meta

from dialogues import helplines

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("en", "nl")
SUFFIX = ".j2"


def language_for(language_code: str | None, default: str = "en") -> str:
    """Telegram's language_code `nl*` gives Dutch, anything else English."""
    if not language_code:
        return default
    return "nl" if language_code.lower().startswith("nl") else "en"


class Texts:
    def __init__(self, **globals: object) -> None:
        self._envs = {}
        for language in LANGUAGES:
            env = Environment(
                loader=FileSystemLoader(TEMPLATES / language),
                undefined=StrictUndefined,
                autoescape=True,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            env.globals.update(help_lines=helplines.for_country, **globals)
            env.filters["day"] = _day_in(language)
            self._envs[language] = env

    def render(self, language: str, key: str, /, **vars: object) -> str:
        template = self._envs[language].get_template(key + SUFFIX)
        return template.render(**vars).strip()


def _day_in(language: str) -> Callable[[date | str], str]:
    """Dates as each language writes them: "Monday 3 March", "maandag 3 maart"."""

    def day(value: date | str) -> str:
        return format_date(value, "EEEE d MMMM", locale=language) if isinstance(value, date) else str(value)

    return day


def keys(language: str) -> set[str]:
    return {p.name.removesuffix(SUFFIX) for p in (TEMPLATES / language).glob("*" + SUFFIX)}


def variables(language: str, key: str) -> set[str]:
    """The variables a template reads, including through the templates it includes."""
    env = Environment(loader=FileSystemLoader(TEMPLATES / language))
    env.filters["day"] = str
    source = (TEMPLATES / language / (key + SUFFIX)).read_text()
    return meta.find_undeclared_variables(env.parse(source))
