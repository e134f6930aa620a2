"""Logging that never holds a token or a person's text.

Third-party loggers are capped at WARNING: httpx logs request URLs (which contain the
token) at INFO, and python-telegram-bot logs every call's parameters (message texts) at
DEBUG. On top of that, every record has known secrets masked before any handler sees it.
"""

from __future__ import annotations

import logging

CHATTY = ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access", "aiohttp.client", "hpack")
MASK = "[secret]"


def configure(level: str, secrets: list[str]) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    mask_in_records(secrets)


def mask_in_records(secrets: list[str]) -> None:
    secrets = [s for s in secrets if s]
    if not secrets:
        return
    make_record = logging.getLogRecordFactory()

    def masked_record(*args, **kwargs):
        record = make_record(*args, **kwargs)
        message = record.getMessage()
        if any(secret in message for secret in secrets):
            for secret in secrets:
                message = message.replace(secret, MASK)
            record.msg, record.args = message, ()
        return record

    logging.setLogRecordFactory(masked_record)
