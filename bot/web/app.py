"""The aiohttp application: routes and the `Bot` behind them."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Bot
from bot.web.github_hook import github_webhook
from bot.web.gitlab_hook import gitlab_webhook
from bot.web.health import healthz, metrics, readyz
from bot.web.replies import MAX_BODY
from bot.web.state import BOT_KEY


def create_app(bot: Bot) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[BOT_KEY] = bot
    app.router.add_post("/webhooks/github", github_webhook)
    app.router.add_post("/webhooks/gitlab", gitlab_webhook)
    _add_health(app)
    return app


def create_worker_app(bot: Bot) -> web.Application:
    """What `thoth-bot worker` serves on METRICS_PORT: its health and its metrics (its jobs'
    advises and forge calls are counted where they run)."""
    app = web.Application()
    app[BOT_KEY] = bot
    _add_health(app)
    return app


def _add_health(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
