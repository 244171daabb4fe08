"""Which reaction handles which event. The edges call `wants` before queueing, `handle` in a job."""

from __future__ import annotations

from handlers.comments import on_comment, wants_comment
from handlers.context import Context
from handlers.events import CommentEvent, Event, MergeRequestEvent, OnboardEvent, PushEvent
from handlers.merge_request import is_lock_request, on_merge_request
from handlers.onboarding import on_onboard
from handlers.push import on_push, wants_push


def wants(event: Event) -> bool:
    """Whether any reaction cares about `event` (payload-only, no I/O)."""
    if isinstance(event, PushEvent):
        return wants_push(event)
    if isinstance(event, CommentEvent):
        return wants_comment(event)
    if isinstance(event, MergeRequestEvent):
        return not is_lock_request(event)  # the bot's own merge request needs no advice
    return isinstance(event, OnboardEvent)


async def handle(event: Event, ctx: Context) -> None:
    if isinstance(event, PushEvent):
        await on_push(event, ctx)
    elif isinstance(event, MergeRequestEvent):
        await on_merge_request(event, ctx)
    elif isinstance(event, CommentEvent):
        await on_comment(event, ctx)
    elif isinstance(event, OnboardEvent):
        await on_onboard(event, ctx)


def repo_key(event: Event) -> str:
    """Jobs with the same key never run at the same time: one repository's jobs run in turn."""
    return event.full_name if isinstance(event, OnboardEvent) else event.repo.full_name
