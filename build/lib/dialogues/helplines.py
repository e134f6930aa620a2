"""Help lines, one table a country. Each entry says where it was checked, and when.

Checked against the stored copies of the sources named (the official site where one was
at hand, else a national news report); check again before each release, and keep `checked`
true to the day it was done.
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTRIES = ("nl", "be", "uk", "ie", "us", "other")


@dataclass(frozen=True)
class HelpLine:
    kind: str  # emergency, suicide, violence, men, directory: how the templates introduce it
    name: str
    number: str
    source: str
    checked: str
    chat: str = ""  # where one can also chat, if anywhere


HELP_LINES: dict[str, tuple[HelpLine, ...]] = {
    "nl": (
        HelpLine("emergency", "112", "112", "https://www.rijksoverheid.nl/onderwerpen/alarmnummer-112", "2026-11-25"),
        HelpLine(
            "suicide",
            "113 Zelfmoordpreventie",
            "113 / 0800-0113",
            "https://www.upday.com/nl/binnenland/nummer-113-nu-gratis-betere-hulp-bij-zelfdodingsgedachten/pj8neqt",
            "2026-11-25",
            chat="113.nl",
        ),
        HelpLine(
            "violence",
            "Veilig Thuis",
            "0800-2000",
            "https://www.rijksoverheid.nl/onderwerpen/huiselijk-geweld",
            "2026-11-25",
        ),
    ),
    "be": (
        HelpLine("emergency", "112 / politie 101", "112", "https://www.1712.be/nl/over-1712", "2026-11-25"),
        HelpLine(
            "suicide",
            "Zelfmoordlijn",
            "1813",
            "https://www.nieuwsblad.be/cnt/dmf20190909_04598208",
            "2026-11-25",
            chat="zelfmoord1813.be",
        ),
        HelpLine("violence", "1712", "1712", "https://www.1712.be/nl/over-1712", "2026-11-25"),
    ),
    "uk": (
        HelpLine(
            "emergency",
            "999",
            "999",
            "https://www.gov.uk/guidance/999-and-112-the-uks-national-emergency-numbers",
            "2026-11-25",
        ),
        HelpLine(
            "suicide",
            "Samaritans",
            "116 123",
            "https://www.samaritans.org/how-we-can-help/contact-samaritan/",
            "2026-11-25",
        ),
        HelpLine(
            "violence",
            "National Domestic Abuse Helpline (Refuge)",
            "0808 2000 247",
            "https://www.centre56.org.uk",
            "2026-11-25",
        ),
        HelpLine("men", "Men's Advice Line", "0808 801 0327", "https://www.centre56.org.uk", "2026-11-25"),
    ),
    "ie": (
        HelpLine(
            "emergency", "112 / 999", "112", "https://www.gov.ie/en/publication/emergency-services/", "2026-11-25"
        ),
        HelpLine(
            "suicide",
            "Samaritans",
            "116 123",
            "https://www.samaritans.org/news/samaritans-in-northern-ireland-answer-one-million-calls-during-10-years-of-freephone",
            "2026-11-25",
        ),
        HelpLine("directory", "Find A Helpline", "findahelpline.com", "https://findahelpline.com", "2026-11-25"),
    ),
    "us": (
        HelpLine("emergency", "911", "911", "https://www.911.gov", "2026-11-25"),
        HelpLine(
            "suicide",
            "988 Suicide & Crisis Lifeline",
            "988",
            "https://988lifeline.org",
            "2026-11-25",
            chat="988lifeline.org",
        ),
        HelpLine(
            "violence",
            "National Domestic Violence Hotline",
            "1-800-799-7233",
            "https://ovc.ojp.gov/news/grantee-news/national-domestic-violence-hotline-answers-6-million-contacts",
            "2026-11-25",
            chat="thehotline.org",
        ),
    ),
    "other": (
        HelpLine(
            "emergency", "112", "112", "https://en.wikipedia.org/wiki/112_(emergency_telephone_number)", "2026-11-25"
        ),
        HelpLine("directory", "Find A Helpline", "findahelpline.com", "https://findahelpline.com", "2026-11-25"),
    ),
}


def country_or_default(country: str | None, language: str) -> str:
    """Until someone says where they live, their language guesses it."""
    if country in HELP_LINES:
        return country
    return "nl" if language == "nl" else "other"


def for_country(country: str) -> tuple[HelpLine, ...]:
    return HELP_LINES.get(country, HELP_LINES["other"])
