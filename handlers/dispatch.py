"""Which reaction handles which event. The edges call `wants` before queueing, `handle` in a job."""

from __future__ import annotations

from handlers.context import Context
from handlers.events import Event, PushEvent
from handlers.push import on_push, wants_push


def wants(event: Event) -> bool:
    """Whether any reaction cares about `event` (payload-only, no I/O)."""
    if isinstance(event, PushEvent):
        return wants_push(event)
    return False


async def handle(event: Event, ctx: Context) -> None:
    if isinstance(event, PushEvent):
        await on_push(event, ctx)


def repo_key(event: Event) -> str:
    """Jobs with the same key never run at the same time."""
    return event.repo.full_name
