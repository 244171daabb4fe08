"""GET /healthz, /readyz and /metrics (SPEC §4)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.web.replies import reply
from bot.web.state import BOT_KEY


async def healthz(request: web.Request) -> web.Response:
    return reply(200, "alive")


async def readyz(request: web.Request) -> web.Response:
    bot = request.app[BOT_KEY]
    try:
        await bot.queue.ping()
    except Exception as error:  # any failure means: not ready
        return reply(503, f"job store unavailable: {error}")
    return reply(200, "ready")


async def metrics(request: web.Request) -> web.Response:
    bot = request.app[BOT_KEY]
    counts = await bot.queue.counts()
    engine = "redis" if bot.settings.redis_url else "embedded"
    body = bot.metrics.render(counts, engine, work=bot.executor is not None)
    if bot.job_process is not None:  # what its jobs counted
        body += await bot.job_process.metrics()
    return web.Response(
        body=body,
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )
