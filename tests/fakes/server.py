"""An aiohttp application served on 127.0.0.1 from a thread of its own (its own event loop), so
a fake keeps answering while a test blocks, and a bot in another process can reach it too."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from typing import Self

from aiohttp import web


class ThreadedServer:
    """Subclasses build `self.app`; `start()` serves it until `stop()`."""

    name = "fake"

    def __init__(self, app: web.Application, *, ssl_context: ssl.SSLContext | None = None):
        self.app = app
        self.ssl_context = ssl_context
        self.url = ""  # set by start(): "http://127.0.0.1:PORT"
        self.host = ""  # "127.0.0.1:PORT"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound_host, bound_port = sock.getsockname()[:2]
        self.host = f"{bound_host}:{bound_port}"
        self.url = f"{'https' if self.ssl_context else 'http'}://{self.host}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(sock), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.before_stop()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = self._runner = None

    def before_stop(self) -> None:
        """Release whatever a request may be waiting on."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, sock: socket.socket) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, ssl_context=self.ssl_context).start()
