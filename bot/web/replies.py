"""Small JSON answers shared by the endpoints, the body limit they all keep, and the job key of
a body."""

from __future__ import annotations

import hashlib
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


def body_key(forge: str, event_name: str, body: bytes) -> str:
    """The job key of a delivery identified by what was signed (its event and body), not by a
    delivery id, which is not signed: a signed body accepted once is not run again, whatever id
    it comes with, for as long as its job is kept (a week once done, a month once failed).
    `thoth-bot replay --again` marks a copy of a body as a deliberate replay, which changes it."""
    return f"{forge}:sha256:" + hashlib.sha256(event_name.encode() + b"\0" + body).hexdigest()
