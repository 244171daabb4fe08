"""POST /webhooks/github: verify, parse, record durably, answer 202 (SPEC §4, §6.1).

Work never happens here: the delivery is committed to the job store and a worker is woken.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import orjson
from aiohttp import web
from gidgethub import ValidationFailure
from gidgethub.sansio import validate_event

from bot.github import events as github_events
from bot.jobs import records
from bot.runtime import Bot
from bot.web.outcomes import answer
from bot.web.replies import body_key, read_body, reply
from bot.web.state import BOT_KEY
from handlers import dispatch

log = logging.getLogger(__name__)


# Events worth their own label in the metrics (the header comes before the signature is checked:
# anything else is "other", so that strangers cannot mint label values).
EVENTS = frozenset(
    {
        "push",
        "pull_request",
        "issue_comment",
        "installation",
        "installation_repositories",
        "check_run",
        "check_suite",
        "ping",
    }
)


async def github_webhook(request: web.Request) -> web.Response:
    bot = request.app[BOT_KEY]
    event = request.headers.get("X-GitHub-Event", "")
    label = event if event in EVENTS else "other"
    delivery = request.headers.get("X-GitHub-Delivery")
    return await answer(bot, "github", label, delivery, lambda: _receive(request, bot))


async def _receive(request: web.Request, bot: Bot) -> tuple[str, web.Response]:
    """(outcome, answer)."""
    settings = bot.settings.github
    if settings is None:
        return "not_configured", reply(
            404, "GitHub is not configured on this bot (set GITHUB_APP_ID)"
        )
    body = await read_body(request)
    if bot.verify_signatures:
        signature = request.headers.get("X-Hub-Signature-256", "")
        if not signature.startswith("sha256=") or not signature.isascii():
            return "unauthorized", reply(401, "missing or malformed X-Hub-Signature-256")
        try:
            validate_event(body, signature=signature, secret=settings.webhook_secret or "")
        except ValidationFailure:
            return "unauthorized", reply(401, "bad signature")
    event_name = request.headers.get("X-GitHub-Event")
    delivery_id = request.headers.get("X-GitHub-Delivery")
    if not event_name or not delivery_id:
        return "malformed", reply(400, "missing X-GitHub-Event or X-GitHub-Delivery")
    payload = decode_body(request.content_type, body)
    if payload is None:
        return "malformed", reply(400, "the body is not a JSON object")
    if event_name == "ping":
        return "ping", reply(200, "pong")
    try:
        event = github_events.parse(event_name, payload)
    except github_events.MalformedPayload as error:
        return "malformed", reply(400, str(error))
    if isinstance(event, github_events.InstallationChange):
        if not (event.onboards or event.forgets):
            return "ignored", reply(200, f"ignored: {event_name} {event.action}")
    elif event is None or not dispatch.wants(event):
        return "ignored", reply(200, f"ignored: {event_name}")
    delivery = records.delivery(
        body_key("github", event_name, body),  # GitHub's redeliveries are this body too
        "github",
        event,
        installation=github_events.installation_id(payload),
    )
    [added] = await bot.queue.add_all([delivery])
    if not added:
        return "duplicate", reply(200, "already received")
    return "accepted", reply(202, "queued", delivery=delivery_id, job=delivery.key)


def decode_body(content_type: str, body: bytes) -> dict | None:
    """The JSON object a delivery carries (GitHub may send it form-encoded), else None."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            body = parse_qs(body.decode("utf-8"))["payload"][0].encode("utf-8")
        payload = orjson.loads(body)
    except (ValueError, KeyError, UnicodeDecodeError):  # orjson.JSONDecodeError is a ValueError
        return None
    return payload if isinstance(payload, dict) else None
