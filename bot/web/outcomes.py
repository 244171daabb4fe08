"""What becomes of each delivery, counted (`thoth_bot_deliveries_total`) and logged: refusals at
INFO with their reason, the rest at DEBUG (one line per delivery would cost the 202 path)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.runtime import Bot

log = logging.getLogger("bot.web.deliveries")

REFUSED = frozenset({"unauthorized", "malformed", "too_large", "error"})


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
