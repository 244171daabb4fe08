"""POST /webhooks/gitlab: verify, parse, record durably, answer 202 (SPEC §4, §6.2).

Project, group and system hooks all come here. The first delivery from a project the bot has
never seen also queues that project's onboarding (SPEC §7.4), ahead of the delivery's own job.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.gitlab import events as gitlab_events
from bot.jobs import onboarding, records
from bot.jobs.store import Delivery
from bot.runtime import Bot
from bot.signing import verify_standard_webhook
from bot.web.github_hook import decode_body
from bot.web.outcomes import answer
from bot.web.replies import body_key, read_body, reply
from bot.web.state import BOT_KEY
from handlers import dispatch
from handlers.events import Event, OnboardEvent, PushEvent

log = logging.getLogger(__name__)


# Events worth their own label in the metrics (anything else is "other": the header comes before
# the token is checked, and strangers must not mint label values).
EVENTS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Note Hook": "note",
    "System Hook": "system",
}


async def gitlab_webhook(request: web.Request) -> web.Response:
    bot = request.app[BOT_KEY]
    event = EVENTS.get(request.headers.get("X-Gitlab-Event", ""), "other")
    headers = request.headers
    delivery = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID")
    return await answer(bot, "gitlab", event, delivery, lambda: _receive(request, bot))


async def _receive(request: web.Request, bot: Bot) -> tuple[str, web.Response]:
    """(outcome, answer)."""
    settings = bot.settings.gitlab
    if settings is None:
        return "not_configured", reply(
            404, "GitLab is not configured on this bot (set GITLAB_TOKEN)"
        )
    body = await read_body(request)
    if bot.verify_signatures:
        token = request.headers.get("X-Gitlab-Token", "")
        expected = settings.webhook_secret or ""
        system = request.headers.get("X-Gitlab-Event") == gitlab_events.SYSTEM_HOOK
        if system and settings.system_hook_secret:
            expected = settings.system_hook_secret
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            return "unauthorized", reply(401, "bad or missing X-Gitlab-Token")
        if settings.signing_token:
            problem = verify_standard_webhook(settings.signing_token, request.headers, body)
            if problem is not None:
                return "unauthorized", reply(401, problem)
    event_name = request.headers.get("X-Gitlab-Event")
    if not event_name:
        return "malformed", reply(400, "missing X-Gitlab-Event")
    payload = decode_body(request.content_type, body)
    if payload is None:
        return "malformed", reply(400, "the body is not a JSON object")
    try:
        event = gitlab_events.parse(event_name, payload)
    except gitlab_events.MalformedPayload as error:
        return "malformed", reply(400, str(error))
    deliveries = []
    onboarding = _first_sighting(event_name, payload, event)
    if onboarding is not None and onboarding.first_sighting not in bot.sightings:
        deliveries.append(onboarding)
    wanted = event is not None and not isinstance(event, OnboardEvent) and dispatch.wants(event)
    if wanted:
        assert event is not None
        signed_id = bool(bot.verify_signatures and settings.signing_token)
        key = _delivery_key(request, event_name, event, body, signed_id=signed_id)
        deliveries.append(records.delivery(key, "gitlab", event))
    added = await bot.queue.add_all(deliveries) if deliveries else []
    if onboarding is not None:  # recorded now, by this delivery or an earlier one
        bot.sightings.add(onboarding.first_sighting or "")
    queued = [delivery.key for delivery, new in zip(deliveries, added, strict=True) if new]
    if queued:
        return "accepted", reply(202, "queued", jobs=queued)
    if wanted or isinstance(event, OnboardEvent):
        return "duplicate", reply(200, "already received")
    return "ignored", reply(200, f"ignored: {event_name}")


def _first_sighting(event_name: str, payload: dict, event: Event | None) -> Delivery | None:
    """The onboarding job of the delivery's project (`bot.jobs.onboarding`), recorded only the
    first time the bot ever hears of the project (a `project_create` system hook, or any
    project or group hook)."""
    if event_name == gitlab_events.SYSTEM_HOOK and event is None:
        return None  # project_destroy, user_create...: not a project to onboard
    project = gitlab_events.project_of(payload)
    if project is None:
        return None
    return onboarding.first_sighting(*project)


def _delivery_key(
    request: web.Request, event_name: str, event: Event, body: bytes, *, signed_id: bool
) -> str:
    """What makes a delivery recognisable, retried or replayed: with a signing token, the
    signed Standard Webhooks id; else the body itself (GitLab's Idempotency-Key and event UUID
    are not signed: a replay could bring new ones). A system hook's `push` and
    `repository_update` of one push share a key: they are the same work."""
    if event_name == gitlab_events.SYSTEM_HOOK and isinstance(event, PushEvent):
        return f"gitlab:push:{event.repo.id}:{event.before}:{event.after}"
    if signed_id and request.headers.get("webhook-id"):
        return f"gitlab:{request.headers['webhook-id']}"
    return body_key("gitlab", event_name, body)
