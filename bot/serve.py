"""`thoth-bot serve`: the web app and, in the embedded mode, the job process running its jobs."""

from __future__ import annotations

import gc
import logging
import sys

import uvloop
from aiohttp import web

from bot.config import Settings
from bot.runtime import Role, open_bot
from bot.web.app import create_app

log = logging.getLogger(__name__)

# The job store's thread needs the GIL back after each commit (fsync) while the event loop
# holds it, and CPython lets a waiting thread wait this long before asking the holder to let
# go: 5 ms by default, longer than the commit. A tenth of it keeps the answers' tail short
# (bench/ingest.py).
SWITCH_INTERVAL = 0.0005


async def build_app(
    settings: Settings, *, verify: bool = True, role: Role = Role.WEB
) -> web.Application:
    """The app over a started bot, stopped on cleanup. `Role.WEB` (serve): its jobs run in
    the job process it starts, or in workers; `Role.ALL_IN_ONE`: in this process."""
    bot = await open_bot(settings, role, verify_signatures=verify)
    app = create_app(bot)

    async def stop(_: web.Application) -> None:
        await bot.stop()

    app.on_cleanup.append(stop)
    return app


def serve(settings: Settings, *, host: str, port: int, verify: bool = True) -> None:
    """Serve until SIGINT/SIGTERM, on uvloop: its event loop spends about a third less time per
    delivery than asyncio's, and cuts the tail of the time to the 202 (bench/ingest.py)."""

    async def app() -> web.Application:
        built = await build_app(settings, verify=verify)
        # Everything made so far lives as long as the process: keep the collector off it, so
        # that its pauses stay short while deliveries come in.
        gc.freeze()
        sys.setswitchinterval(SWITCH_INTERVAL)
        return built

    web.run_app(
        app(),
        host=host,
        port=port,
        access_log=None,
        loop=uvloop.new_event_loop(),
        print=lambda _: log.info("serving on http://%s:%d", host, port),  # a log line, not stdout
    )
