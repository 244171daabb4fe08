"""Forge-neutral events: what the edges (`bot/github`, `bot/gitlab`) make of a webhook."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.forge import Actor, Repo

NULL_SHA = "0" * 40


@dataclass(frozen=True)
class PushEvent:
    repo: Repo
    ref: str  # the full ref, "refs/heads/main" or "refs/tags/v1"
    before: str
    after: str
    sender: Actor
    # Paths the payload says were added, modified or removed; None when the payload does not
    # list every pushed commit, so the handler must ask the forge's compare API.
    changed_paths: frozenset[str] | None
    deleted: bool = False

    @property
    def branch(self) -> str | None:
        prefix = "refs/heads/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else None

    @property
    def created(self) -> bool:
        return self.before == NULL_SHA


Event = PushEvent
