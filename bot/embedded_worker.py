"""`thoth-bot worker --embedded`: the embedded mode's job process, started by `serve`
(`bot.jobs.job_process` is the parent's side). The embedded engine's runner over the state
directory's SQLite store, shared with the web process; woken through its stdin, stopped by its
end; its metrics on a port of 127.0.0.1 that its first line of stdout names.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.config import Settings
from bot.runtime import Bot, Role, open_bot

# The job process's scheduling priority below the web process's (and so its uv processes'): on
# a busy node the answers to deliveries get the CPU first, the jobs what is left.
NICENESS = 19


async def run_job_process(settings: Settings) -> None:
    """`thoth-bot worker --embedded`, started by `serve`: run the embedded engine's jobs until
    stdin ends (the parent is gone) or SIGTERM/SIGINT."""
    _die_with_parent()
    os.nice(NICENESS)
    bot = await open_bot(settings, Role.JOB_PROCESS)
    assert bot.runner is not None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    transport, _ = await loop.connect_read_pipe(
        lambda: _Wakeups(bot.runner.notify, stop), os.fdopen(sys.stdin.fileno(), "rb", 0)
    )
    app = web.Application()
    app.router.add_get("/metrics", _work_metrics(bot))
    site = web.AppRunner(app, access_log=None)
    await site.setup()
    listener = socket.create_server(("127.0.0.1", 0))
    await web.SockSite(site, listener).start()
    print(listener.getsockname()[1], flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the parent reads one line: the rest, logs
    try:
        await stop.wait()
    finally:
        transport.close()
        await site.cleanup()
        await bot.stop()


def _die_with_parent() -> None:
    """SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG; Linux only). Had it died already,
    stdin is at its end and the child stops at once."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _work_metrics(bot: Bot) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=bot.metrics.render_work())

    return metrics


class _Wakeups(asyncio.Protocol):
    def __init__(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        self._wake = wake
        self._stop = stop

    def data_received(self, data: bytes) -> None:
        self._wake()

    def eof_received(self) -> bool:
        self._stop.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop.set()
