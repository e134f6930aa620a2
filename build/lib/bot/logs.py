"""Logging that never holds a token or a person's text.

Third-party loggers are capped at WARNING: httpx logs request URLs (which contain the
token) at INFO, and python-telegram-bot logs every call's parameters (message texts) at
DEBUG; Alembic lists its plugins at every migration. On top of that, every record has known
secrets masked before any handler sees it. With HERSTEL_LOG_FORMAT=json each record is one
JSON object a line, made from the same masked record.
"""

from __future__ import annotations

import json
import logging

CHATTY = ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access", "aiohttp.client", "hpack", "alembic")
MASK = "[secret]"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, secrets: list[str], format: str = "text") -> None:
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    if format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
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
