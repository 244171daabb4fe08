"""What a job records of a delivery: the forge-neutral event it parsed into, compactly.

A GitHub push delivery is ~8 KB of JSON; the event the handlers need is ~400 bytes. Recording
the event (and what the forge needs to act: GitHub's installation id) instead of the body makes
the durable write at the 202 a fraction of the bytes, and spares the job a second parse.
"""

from __future__ import annotations

from typing import Any

import orjson

from bot.github import events as github_events
from bot.jobs.store import Delivery
from handlers import dispatch
from handlers.events import Event, PushEvent
from handlers.forge import Actor, Repo

Record = Event | github_events.InstallationChange
KINDS: dict[str, type] = {
    **{reaction.kind: reaction.event for reaction in dispatch.REACTIONS},
    "installation": github_events.InstallationChange,  # the runtime's own: onboarding fan-out
}
_KIND_OF = {cls: kind for kind, cls in KINDS.items()}


def kind(record: Record) -> str:
    return _KIND_OF[type(record)]


def delivery(
    key: str,
    forge: str,
    record: Record,
    *,
    installation: int | None = None,
    first_sighting: str | None = None,
) -> Delivery:
    """The job of one delivery (or of one repository of an installation), as every edge
    records it: its repository's key and coalescing key from `handlers.dispatch`."""
    if isinstance(record, github_events.InstallationChange):
        repo, coalesce = f"installation:{record.installation_id}", None
    else:
        repo, coalesce = dispatch.repo_key(record), dispatch.coalesce_key(record)
    return Delivery(
        key=key,
        forge=forge,
        event=kind(record),
        repo=repo,
        payload=encode(record, installation=installation),
        first_sighting=first_sighting,
        coalesce=f"{forge}:{coalesce}" if coalesce else None,
    )


def encode(record: Record, *, installation: int | None = None) -> str:
    """The record's JSON text: its kind, its fields, and GitHub's installation id if any.
    (orjson writes the dataclasses, nested ones too, itself; this runs before every 202.)"""
    data: dict[str, Any] = {**vars(record), "kind": kind(record)}
    if installation is not None:
        data["installation"] = installation
    return orjson.dumps(data, default=_sets).decode()


def _sets(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def decode(text: str) -> tuple[Record, int | None]:
    """(record, GitHub installation id) from a job's payload."""
    data = orjson.loads(text)
    cls = KINDS[data.pop("kind")]
    installation = data.pop("installation", None)
    if "repo" in data:
        data["repo"] = Repo(**data["repo"])
    for key in ("sender", "author"):
        if key in data:
            data[key] = Actor(**data[key])
    if cls is PushEvent and data["changed_paths"] is not None:
        data["changed_paths"] = frozenset(data["changed_paths"])
    if cls is github_events.InstallationChange and data["repositories"] is not None:
        data["repositories"] = tuple(data["repositories"])
    if "advisories" in data:
        data["advisories"] = tuple(data["advisories"])
    return cls(**data), installation
