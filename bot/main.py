"""The `herstel` command: the bot with a token, the local playground without one."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from pydantic import SecretStr, ValidationError
from telegram.error import InvalidToken

from bot import logs
from bot.settings import Settings, describe
from storage import secret

ENV_FILE = Path(".env")


def main(argv: list[str] | None = None) -> int:
    # Until the event loop takes over, a stop ends the start cleanly: nothing is in hand yet.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    parser = argparse.ArgumentParser(prog="herstel", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        choices=("run", "playground", "new-key", "rotate-keys", "status", "retry"),
        help="run: the bot on Telegram; playground: try it locally; new-key: print a fresh encryption key; "
        "rotate-keys: re-encrypt every stored text under the first key in HERSTEL_ENCRYPTION_KEYS; "
        "status: counts, queues and ages (never names, ids or texts); "
        "retry: put updates that were set aside back in line. "
        "Without a command: run when TELEGRAM_BOT_TOKEN is set, else the playground.",
    )
    parser.add_argument("--keep", action="store_true", help="playground: keep its database (the path is printed)")
    args = parser.parse_args(argv)
    if args.command == "new-key":
        print(secret.new_key())
        return 0
    try:
        settings = Settings()
    except ValidationError as error:
        return _fail(describe(error))
    logs.configure(
        settings.log_level, [settings.token, *settings.keys, settings.webhook_secret_token], settings.log_format
    )
    if args.command in ("status", "retry"):
        return _operator(args.command, settings)
    if args.command == "playground" or (args.command is None and not settings.token):
        from bot.playground import run_playground

        try:
            return asyncio.run(
                _until_signal(lambda stop: run_playground(_with_local_key(settings), stop, keep=args.keep))
            )
        except secret.KeysDoNotFit as error:
            return _fail(str(error))
    if not settings.token and args.command != "rotate-keys":
        return _fail("Setting TELEGRAM_BOT_TOKEN is missing: get a token from @BotFather and put it in .env.")
    if not settings.keys:
        return _fail("Setting HERSTEL_ENCRYPTION_KEYS is missing: run `herstel new-key` and put the key in .env.")
    try:
        secret.configure(settings.keys)
    except ValueError as error:
        return _fail(f"Setting HERSTEL_ENCRYPTION_KEYS is not valid: {error}.")
    if args.command == "rotate-keys":
        return _rotate_keys(settings)
    from bot.app import HerstelBot

    try:
        return asyncio.run(_until_signal(lambda stop: HerstelBot(settings).run_until_stopped(stop)))
    except InvalidToken:  # its message holds the token: one line instead of a traceback
        return _fail("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather and put it in .env.")
    except secret.KeysDoNotFit as error:
        return _fail(str(error))


def _rotate_keys(settings: Settings) -> int:
    from storage.db import make_engine, migrate
    from storage.privacy import rotate_keys

    engine = make_engine(settings.database_url)
    migrate(engine)
    print(f"Re-encrypted {rotate_keys(engine)} stored texts under the first key. The other keys can now be removed.")
    return 0


def _operator(command: str, settings: Settings) -> int:
    """`herstel status` and `herstel retry`, against the database a running bot uses (it need not run)."""
    from datetime import UTC, datetime

    from storage import status
    from storage.db import make_engine, migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        if command == "retry":
            count = status.retry(engine)
            print(f"Put {count} set-aside update{'' if count == 1 else 's'} back in line.")
        else:
            now = datetime.now(UTC)
            print(status.describe(status.read(engine, now), now))
    finally:
        engine.dispose()
    return 0


def _with_local_key(settings: Settings) -> Settings:
    """The playground makes its own encryption key in .env on first run, and says so."""
    if settings.keys:
        return settings
    key = secret.new_key()
    with os.fdopen(os.open(ENV_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as env:
        os.chmod(ENV_FILE, 0o600)  # a .env there already may have been readable by others; now it holds the key
        env.write(
            f"\n# Made by `herstel playground`: encrypts stored texts. Keep it secret.\nHERSTEL_ENCRYPTION_KEYS={key}\n"
        )
    print(f"Created an encryption key in {ENV_FILE.resolve()}.")
    return settings.model_copy(update={"encryption_keys": SecretStr(key)})


async def _until_signal(run) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)
    return 0


def _exit_cleanly(signum, frame) -> None:
    sys.exit(0)


def _fail(line: str) -> int:
    print(line, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
