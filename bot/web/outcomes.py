"""What becomes of each delivery, counted (`thoth_bot_deliveries_total`) and logged: refusals at
INFO with their reason, the rest at DEBUG (one line per delivery would cost the 202 path)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.runtime import Bot
from bot.web.replies import BodyTooLarge

log = logging.getLogger("bot.web.deliveries")

REFUSED = frozenset({"unauthorized", "malformed", "too_large", "error"})


async def answer(
    bot: Bot,
    forge: str,
    event: str,
    delivery: str | None,
    receive: Callable[[], Awaitable[tuple[str, web.Response]]],
) -> web.Response:
    """`receive()`'s answer, its outcome recorded (a body over the limit, or a queue that
    failed and makes the answer a 500, too)."""
    outcome, response = "error", None
    try:
        outcome, response = await receive()
    except BodyTooLarge:
        outcome = "too_large"
        raise
    finally:
        record(bot, forge, event, outcome, delivery, response)
    assert response is not None
    return response


def record(
    bot: Bot,
    forge: str,
    event: str,
    outcome: str,
    delivery: str | None,
    response: web.Response | None,
) -> None:
    bot.metrics.delivery(forge, event, outcome)
    level = logging.INFO if outcome in REFUSED else logging.DEBUG
    if log.isEnabledFor(level):
        delivery = (delivery or "-")[:100]  # a header, read before the signature is checked
        reason = response.text if response is not None and response.text else ""
        log.log(
            level,
            "%s %s delivery %s: %s %s",
            forge,
            event,
            delivery,
            outcome,
            reason,
            extra={"delivery": f"{forge}:{delivery}"},
        )
