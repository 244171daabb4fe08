"""`thoth-bot serve`: the web app and, in the embedded mode, the job process running its jobs."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web

from bot.config import Settings
from bot.jobs.job_process import JobProcess
from bot.runtime import Bot
from bot.web.app import create_app

log = logging.getLogger(__name__)

# The job store's thread needs the GIL back after each commit (fsync) while the event loop
# holds it, and CPython lets a waiting thread wait this long before asking the holder to let
# go: 5 ms by default, longer than the commit. A tenth of it keeps the answers' tail short
# (bench/ingest.py).
SWITCH_INTERVAL = 0.0005


def build_app(
    settings: Settings, *, verify: bool = True, job_process: JobProcess | None = None
) -> web.Application:
    """The app with the bot started on startup and stopped on cleanup; embedded, its jobs run
    in `job_process`, else in this process."""
    bot = Bot(settings, verify_signatures=verify, job_process=job_process)
    app = create_app(bot)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await bot.start()
        # Everything made so far lives as long as the process: keep the collector off it, so
        # that its pauses stay short while deliveries come in.
        gc.freeze()
        sys.setswitchinterval(SWITCH_INTERVAL)
        yield
        await bot.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


def serve(
    settings: Settings, *, host: str, port: int, verify: bool = True, config: str | None = None
) -> None:
    """Serve until SIGINT/SIGTERM, on uvloop: its event loop spends about a third less time per
    delivery than asyncio's, and cuts the tail of the time to the 202 (bench/ingest.py).
    Embedded, the jobs run in a job process (`bot.jobs.job_process`) with the same `config`."""
    job_process = (
        None if settings.redis_url else JobProcess(("--config", config) if config else ())
    )
    web.run_app(
        build_app(settings, verify=verify, job_process=job_process),
        host=host,
        port=port,
        access_log=None,
        loop=uvloop.new_event_loop(),
        print=lambda _: log.info("serving on http://%s:%d", host, port),  # a log line, not stdout
    )
