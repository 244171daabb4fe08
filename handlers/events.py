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


@dataclass(frozen=True)
class MergeRequestEvent:
    """A merge request opened, reopened or given new commits."""

    repo: Repo
    action: str  # "opened" | "reopened" | "synchronize"
    number: int
    head_sha: str
    source_branch: str
    target_branch: str
    from_fork: bool
    draft: bool
    sender: Actor


@dataclass(frozen=True)
class CommentEvent:
    """A new comment on a merge request (or an issue: `on_merge_request` False)."""

    repo: Repo
    number: int
    on_merge_request: bool
    comment_id: int | str
    body: str
    author: Actor


@dataclass(frozen=True)
class OnboardEvent:
    """The bot was given a repository (an App installed on it, a project hook added)."""

    full_name: str


@dataclass(frozen=True)
class MaintainEvent:
    """Time to re-advise a repository whose Pipfiles did not change: its schedule came
    (`reason` "schedule"), or advisories published since its lock was made concern it
    ("advisory", naming them)."""

    full_name: str
    reason: str = "schedule"
    advisories: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckEvent:
    """A button of the bot's report on a commit was pressed: "rerun" (GitHub's "Re-run" of
    its check run or check suite), or one of its actions ("lock", "advise-force")."""

    repo: Repo
    head_sha: str
    number: int | None  # the merge request whose head it is, where there is one
    action: str
    sender: Actor


Event = (
    PushEvent | MergeRequestEvent | CommentEvent | OnboardEvent | MaintainEvent | CheckEvent
)


def coalesce(events: list[Event]) -> Event:
    """One event standing for several of the same kind, oldest first (see `dispatch.coalesce_key`).

    Pushes: from the first one's `before` to the last one's `after`, with every path any of
    them changed (unknown if any of them does not say). Otherwise the newest: the handlers read
    the merge request's or repository's current state anyway.
    """
    last = events[-1]
    if len(events) == 1 or not isinstance(last, PushEvent):
        return last
    pushes = [event for event in events if isinstance(event, PushEvent)]
    paths: frozenset[str] | None = frozenset()
    for push in pushes:
        if push.changed_paths is None or paths is None:
            paths = None
        else:
            paths |= push.changed_paths
    return PushEvent(
        repo=last.repo,
        ref=last.ref,
        before=pushes[0].before,
        after=last.after,
        sender=last.sender,
        changed_paths=paths,
        deleted=last.deleted,
    )
