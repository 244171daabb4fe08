"""Where the web handlers find the running bot."""

from __future__ import annotations

from aiohttp import web

from bot.runtime import Bot

BOT_KEY = web.AppKey("bot", Bot)
