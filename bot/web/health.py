"""GET /healthz, /readyz and /metrics (SPEC §4)."""

from __future__ import annotations

from aiohttp import web

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
    lines = [
        "# HELP thoth_bot_jobs Jobs in the queue by state.",
        "# TYPE thoth_bot_jobs gauge",
    ]
    lines += [f'thoth_bot_jobs{{state="{state}"}} {counts[state]}' for state in sorted(counts)]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")
