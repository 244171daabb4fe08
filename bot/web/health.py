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
    states = ("queued", "running", "done", "failed")
    lines = [
        "# HELP thoth_bot_jobs Jobs by state (done and failed: those still remembered).",
        "# TYPE thoth_bot_jobs gauge",
        *(f'thoth_bot_jobs{{state="{state}"}} {counts.get(state, 0)}' for state in states),
        "# HELP thoth_bot_queue_depth Jobs waiting to run (ready now or later).",
        "# TYPE thoth_bot_queue_depth gauge",
        f"thoth_bot_queue_depth {counts.get('queued', 0)}",
        "# HELP thoth_bot_queue_engine The job engine in use.",
        "# TYPE thoth_bot_queue_engine gauge",
        f'thoth_bot_queue_engine{{engine="{"redis" if bot.settings.redis_url else "embedded"}"}} 1',
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")
