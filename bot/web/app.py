"""The aiohttp application: routes, body limits, and the `Bot` behind them."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Bot
from bot.web.github_hook import github_webhook
from bot.web.gitlab_hook import gitlab_webhook
from bot.web.health import healthz, metrics, readyz
from bot.web.replies import reply
from bot.web.state import BOT_KEY

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


@web.middleware
async def body_limit(request: web.Request, handler):  # type: ignore[no-untyped-def]
    if request.content_length is not None and request.content_length > MAX_BODY:
        return reply(413, "body over 25 MiB")
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return reply(413, "body over 25 MiB")


def create_app(bot: Bot) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[body_limit])
    app[BOT_KEY] = bot
    app.router.add_post("/webhooks/github", github_webhook)
    app.router.add_post("/webhooks/gitlab", gitlab_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
