"""Small JSON answers shared by the endpoints, and the body limit they all keep."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


def reply(status: int, message: str, **extra: Any) -> web.Response:
    return web.Response(
        body=orjson.dumps({"message": message, **extra}),
        status=status,
        content_type="application/json",
    )


class BodyTooLarge(web.HTTPClientError):
    status_code = 413

    def __init__(self) -> None:
        super().__init__(
            text=orjson.dumps({"message": "body over 25 MiB"}).decode(),
            content_type="application/json",
        )


async def read_body(request: web.Request) -> bytes:
    """The request's body; a JSON 413 (raised) when it is over MAX_BODY."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BodyTooLarge()
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge() from None
