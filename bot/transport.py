"""python-telegram-bot's HTTP layer on aiohttp instead of httpx.

PTB lets an application bring its own `BaseRequest`; everything above it (the Bot, its errors,
retries here in the courier) is unchanged. Why: httpx spends about 1 ms of CPU on each call, and
more when calls go side by side; aiohttp about 0.2 ms (bench/README.md, "The HTTP client"). Herstel
makes two to three calls an update, so that was the largest cost of all. aiohttp is already here
for the webhook server.

Errors are raised as PTB raises them (TimedOut, NetworkError), naming only the kind of failure:
an aiohttp message can hold the request's URL, and the URL holds the token.
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        connections: int = 20,
        read_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        write_timeout: float = 5.0,
        media_write_timeout: float = 20.0,
        observe: Callable[[str, int | None], None] | None = None,
    ) -> None:
        """`observe(method, status)` hears of every answer (status None: none came), for the metrics."""
        self._observe = observe or (lambda method, status: None)
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout  # also the longest wait for a free connection
        self._write_timeout = write_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = bool(request_data and request_data.contains_files)
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._connect_timeout)
        # aiohttp has no write timeout of its own: sending counts toward the total.
        total = None if read is None or write is None else read + write + (connect or 0) + (pool or 0)
        timeout = aiohttp.ClientTimeout(total=total, connect=pool, sock_connect=connect, sock_read=read)
        try:
            body, headers = _body(request_data)
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                self._observe(url.rsplit("/", 1)[-1], response.status)  # the method: the token is before it
                return response.status, await response.read()
        except TimeoutError:
            self._observe(url.rsplit("/", 1)[-1], None)
            raise TimedOut() from None  # not chained: a cause's message may name the URL
        except aiohttp.ClientError as exc:
            self._observe(url.rsplit("/", 1)[-1], None)
            raise NetworkError(f"aiohttp.{type(exc).__name__}") from None


def _given(value, default: float | None) -> float | None:
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


_JSON = {"Content-Type": "application/json"}


def _body(request_data: RequestData | None) -> tuple[object, dict | None]:
    """JSON, which the Bot API takes and which costs less to build than a form; multipart when there are files."""
    if request_data is None:
        return None, None
    if not request_data.contains_files:
        return request_data.json_payload, _JSON
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form, None
