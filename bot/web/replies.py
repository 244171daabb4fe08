"""Small JSON answers shared by the endpoints."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def reply(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"message": message, **extra}, status=status)
