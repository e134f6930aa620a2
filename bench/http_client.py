"""python -m bench.http_client: what one Bot API call costs the caller, PTB over httpx against PTB over
aiohttp (bot/transport.py), the reason Herstel brings its own BaseRequest.

The emulator runs in a process of its own; this process only makes calls (sendMessage to one chat),
one at a time and 16 side by side, and reports its own CPU time and the wall time per call.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import warnings

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.transport import AiohttpRequest

warnings.filterwarnings("ignore", r"Please use 'Bot\.\w+' instead of")  # do_api_request on purpose

TOKEN = "123456:bench-http-client"
CALLS = 2000
SERVE = f"""
import asyncio
from emulator import BotApiEmulator
from bench.emu import UNLIMITED
async def main():
    emu = BotApiEmulator(token={TOKEN!r})
    emu.limits = UNLIMITED
    await emu.start()
    anna = emu.person("Anna", "en")
    anna.started = True
    print(emu.base_url, anna.id, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def _measure(name: str, request, base_url: str, chat_id: int) -> list[str]:
    bot = Bot(TOKEN, base_url=base_url, request=request)
    await request.initialize()
    params = {"chat_id": chat_id, "text": "Ik hoor je. Dank je dat je het zegt. " * 4, "parse_mode": "HTML"}
    lines = []
    try:
        for side_by_side in (1, 16):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(CALLS // side_by_side):
                await asyncio.gather(
                    *(bot.do_api_request("sendMessage", api_kwargs=params) for _ in range(side_by_side))
                )
            cpu, wall = (time.process_time() - cpu) / CALLS * 1000, (time.perf_counter() - wall) / CALLS * 1000
            lines.append(f"  {name:<22} {side_by_side:>12}  {cpu:>11.2f}  {wall:>12.2f}")
    finally:
        await request.shutdown()
    return lines


async def main() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVE], stdout=subprocess.PIPE, text=True)
    try:
        base_url, chat_id = server.stdout.readline().split()
        rows = await _measure("PTB over httpx", HTTPXRequest(connection_pool_size=20), base_url, int(chat_id))
        rows += await _measure("PTB over aiohttp", AiohttpRequest(connections=20), base_url, int(chat_id))
    finally:
        server.terminate()
        server.wait()
    print(f"One Bot API call (sendMessage, {CALLS} calls each), the caller's cost:")
    print(f"  {'client':<22} {'side by side':>12}  {'CPU ms/call':>11}  {'wall ms/call':>12}")
    print(*rows, sep="\n")


if __name__ == "__main__":
    asyncio.run(main())
