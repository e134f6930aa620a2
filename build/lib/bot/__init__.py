import os

# python-telegram-bot 22 returns time periods as timedelta when asked; the bot handles both.
os.environ.setdefault("PTB_TIMEDELTA", "true")
