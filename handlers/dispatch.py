"""Which reaction handles which event: ONE table. The edges call `wants` before queueing (and
`repo_key`, `coalesce_key` to record the job), `handle` in the job.

Adding an event is its dataclass (`events.py`), one row here, and the forges' parsers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from handlers.check_actions import on_check, wants_check
from handlers.comments import on_comment, wants_comment
from handlers.context import Context
from handlers.events import (
    CheckEvent,
    CommentEvent,
    Event,
    MaintainEvent,
    MergeRequestEvent,
    OnboardEvent,
    PushEvent,
)
from handlers.maintenance import on_maintain
from handlers.merge_request import is_lock_request, on_merge_request
from handlers.onboarding import on_onboard
from handlers.push import on_push, wants_push


@dataclass(frozen=True)
class Reaction:
    kind: str  # the event's name in a job's record
    event: type
    wants: Callable[[Any], bool]  # payload-only, no I/O
    handle: Callable[[Any, Context], Awaitable[None]]
    # Events with one key may run as one job, the newest state standing for all; None: never
    # (each command comment gets its own answer).
    coalesce: Callable[[Any], str | None]
    # Jobs with one key never run at the same time: one repository's jobs run in turn.
    repo: Callable[[Any], str]


def _repository(event: Any) -> str:
    return event.repo.full_name


REACTIONS = (
    Reaction(
        "push",
        PushEvent,
        wants_push,
        on_push,
        lambda event: f"push:{event.repo.full_name}:{event.ref}",
        _repository,
    ),
    Reaction(
        "merge_request",
        MergeRequestEvent,
        lambda event: not is_lock_request(event),  # the bot's own needs no advice
        on_merge_request,
        lambda event: f"merge-request:{event.repo.full_name}:{event.number}",
        _repository,
    ),
    Reaction("comment", CommentEvent, wants_comment, on_comment, lambda _: None, _repository),
    Reaction(
        "onboard",
        OnboardEvent,
        lambda _: True,
        on_onboard,
        lambda event: f"onboard:{event.full_name}",
        lambda event: event.full_name,
    ),
    Reaction("check", CheckEvent, wants_check, on_check, lambda _: None, _repository),
    Reaction(
        "maintain",
        MaintainEvent,
        lambda _: True,
        on_maintain,
        lambda event: f"maintain:{event.full_name}",
        lambda event: event.full_name,
    ),
)
_BY_TYPE = {reaction.event: reaction for reaction in REACTIONS}


def reaction(event: Event) -> Reaction:
    return _BY_TYPE[type(event)]


def wants(event: Event) -> bool:
    """Whether any reaction cares about `event`."""
    return reaction(event).wants(event)


async def handle(event: Event, ctx: Context) -> None:
    await reaction(event).handle(event, ctx)


def repo_key(event: Event) -> str:
    return reaction(event).repo(event)


def coalesce_key(event: Event) -> str | None:
    return reaction(event).coalesce(event)
