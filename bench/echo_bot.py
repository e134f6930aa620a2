"""The yardstick: a bare python-telegram-bot v22 echo bot, PTB's own run_polling, nothing else.

ECHO_TOKEN=123:abc ECHO_API_URL=http://127.0.0.1:8081 python -m bench.echo_bot
"""

import os

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.callback_query.answer()


def main() -> None:
    url = os.environ["ECHO_API_URL"]
    application = Application.builder().token(os.environ["ECHO_TOKEN"]).base_url(f"{url}/bot").build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(answer))
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=True)


if __name__ == "__main__":
    main()
