"""`thoth-bot worker`: the distributed mode's worker (arq on Redis), its metrics on
METRICS_PORT. (The embedded mode's job process is `bot.embedded_worker`.)"""

from __future__ import annotations

import asyncio

from aiohttp import web
from arq import Worker
from arq.connections import RedisSettings
from arq.cron import CronJob, cron
from arq.worker import func

from bot.config import Settings
from bot.jobs.distributed import FUNCTION, KEEP_DELIVERY, RUN_BUDGET, thoth_bot_job
from bot.maintenance.schedule import Maintainer
from bot.runtime import Role, open_bot
from bot.web.app import create_worker_app


async def run_worker(settings: Settings) -> None:
    """`thoth-bot worker`: run jobs until SIGINT/SIGTERM (running jobs go back to the queue)."""
    assert settings.redis_url
    bot = await open_bot(settings, Role.WORKER)
    assert bot.executor is not None and bot.maintainer is not None
    worker = Worker(
        functions=[func(thoth_bot_job, name=FUNCTION)],
        cron_jobs=[_maintenance_cron(settings.maintenance.tick)],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        ctx={"executor": bot.executor, "maintainer": bot.maintainer},
        max_jobs=settings.workers,
        job_timeout=settings.advise_timeout + RUN_BUDGET,
        keep_result=KEEP_DELIVERY,
        max_tries=1_000_000,  # the bot counts attempts itself (busy repositories retry freely)
        poll_delay=0.2,
        handle_signals=True,
    )
    site = None
    if settings.metrics_port:
        site = web.AppRunner(create_worker_app(bot), access_log=None)
        await site.setup()
        await web.TCPSite(site, settings.metrics_host, settings.metrics_port).start()
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass  # SIGINT/SIGTERM: arq has put the running jobs back
    finally:
        await worker.close()
        if site is not None:
            await site.cleanup()
        await bot.stop()


async def maintenance_tick(ctx: dict) -> int:
    """arq's cron job: lock maintenance's tick (`bot.maintenance.schedule`); arq runs it on one
    worker per tick (its job id names the tick)."""
    maintainer: Maintainer = ctx["maintainer"]
    return len(await maintainer.run_once(maintainer.clock.now()))


def _maintenance_cron(tick: float) -> CronJob:
    """Every `tick` seconds, on the clock's marks (arq's cron: seconds, or minutes)."""
    step = max(1, int(tick))
    if step < 60:
        return cron(maintenance_tick, second=set(range(0, 60, step)), run_at_startup=False)
    return cron(maintenance_tick, minute=set(range(0, 60, max(1, step // 60))), second=0)
