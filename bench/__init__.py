"""Benchmarks: Herstel beside a bare python-telegram-bot echo bot, and at 100k couples (`python -m bench`)."""
