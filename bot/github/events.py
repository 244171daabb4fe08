"""GitHub webhook payloads -> forge-neutral events (`handlers/events.py`).

Installation events stay here, at the edge: the runtime turns one into an onboarding job per
repository, or forgets the installation's token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.events import (
    CheckEvent,
    CommentEvent,
    Event,
    MergeRequestEvent,
    OnboardEvent,
    PushEvent,
)
from handlers.forge import Actor, CommitStatus, Repo

# GitHub lists at most this many commits in a push delivery; beyond, ask the compare API.
MAX_LISTED_COMMITS = 2048
# The runtime's own event: onboard one repository of an installation.
ONBOARD_EVENT = "thoth-bot:onboard"
PULL_REQUEST_ACTIONS = frozenset({"opened", "reopened", "synchronize", "ready_for_review"})


class MalformedPayload(ValueError):
    """A signed delivery whose JSON lacks what its event type must carry."""


@dataclass(frozen=True)
class InstallationChange:
    """The App was installed on, or removed from, repositories."""

    installation_id: int
    action: str  # "created" | "added" | "deleted" | "removed" (| "suspend"...)
    repositories: tuple[str, ...] | None  # the repositories given; None: all of them (ask)

    @property
    def onboards(self) -> bool:
        return self.action in ("created", "added")

    @property
    def forgets(self) -> bool:
        return self.action in ("deleted", "removed", "suspend")


def parse(event_name: str, payload: Mapping[str, Any]) -> Event | InstallationChange | None:
    """The event the bot handles, or None for event types and actions it ignores."""
    parser = _PARSERS.get(event_name)
    if parser is None:
        return None
    try:
        return parser(payload)
    except (KeyError, TypeError, AttributeError) as error:
        raise MalformedPayload(f"{event_name} payload lacks {error}") from None


def installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation") or {}
    value = installation.get("id") if isinstance(installation, Mapping) else None
    return int(value) if value is not None else None


def repo(data: Mapping[str, Any]) -> Repo:
    return Repo(
        full_name=data["full_name"],
        default_branch=data.get("default_branch") or data.get("master_branch") or "main",
        web_url=data.get("html_url") or f"https://github.com/{data['full_name']}",
        id=data.get("id"),
    )


def actor(data: Mapping[str, Any] | None) -> Actor:
    data = data or {}
    return Actor(
        login=str(data.get("login", "")), is_bot=data.get("type") == "Bot", id=data.get("id")
    )


def _push(payload: Mapping[str, Any]) -> PushEvent:
    commits = payload.get("commits") or []
    changed: set[str] = set()
    for commit in commits:
        for key in ("added", "modified", "removed"):
            changed.update(commit.get(key) or [])
    listed_all = bool(commits) and len(commits) < MAX_LISTED_COMMITS
    return PushEvent(
        repo=repo(payload["repository"]),
        ref=payload["ref"],
        before=payload["before"],
        after=payload["after"],
        sender=actor(payload.get("sender")),
        changed_paths=frozenset(changed) if listed_all else None,
        deleted=bool(payload.get("deleted")),
    )


def _pull_request(payload: Mapping[str, Any]) -> MergeRequestEvent | None:
    if payload["action"] not in PULL_REQUEST_ACTIONS:
        return None
    pull = payload["pull_request"]
    base_repo = payload["repository"]
    head_repo = pull["head"].get("repo") or {}  # null when the fork was deleted
    return MergeRequestEvent(
        repo=repo(base_repo),
        action=payload["action"],
        number=int(pull["number"]),
        head_sha=pull["head"]["sha"],
        source_branch=pull["head"]["ref"],
        target_branch=pull["base"]["ref"],
        from_fork=head_repo.get("full_name") != base_repo["full_name"],
        draft=bool(pull.get("draft")),
        sender=actor(payload.get("sender")),
    )


def _issue_comment(payload: Mapping[str, Any]) -> CommentEvent | None:
    if payload["action"] != "created":
        return None
    issue, comment = payload["issue"], payload["comment"]
    return CommentEvent(
        repo=repo(payload["repository"]),
        number=int(issue["number"]),
        on_merge_request=bool(issue.get("pull_request")),
        comment_id=comment["id"],
        body=comment.get("body") or "",
        author=actor(comment.get("user")),
    )


def _installation(payload: Mapping[str, Any]) -> InstallationChange:
    installation = payload["installation"]
    listed = payload.get("repositories") or []
    selection = installation.get("repository_selection")
    return InstallationChange(
        installation_id=int(installation["id"]),
        action=payload["action"],
        repositories=None
        if selection == "all" and payload["action"] == "created"
        else tuple(entry["full_name"] for entry in listed),
    )


def _installation_repositories(payload: Mapping[str, Any]) -> InstallationChange:
    action = payload["action"]
    key = "repositories_added" if action == "added" else "repositories_removed"
    return InstallationChange(
        installation_id=int(payload["installation"]["id"]),
        action=action,
        repositories=tuple(entry["full_name"] for entry in payload.get(key) or []),
    )


def _onboard(payload: Mapping[str, Any]) -> OnboardEvent:
    return OnboardEvent(full_name=payload["repository"]["full_name"])


def _check_run(payload: Mapping[str, Any]) -> CheckEvent | None:
    """ "Re-run" or an action of the bot's own check run (`thoth-bot/advise`)."""
    run = payload["check_run"]
    if run.get("name") != CommitStatus.context:
        return None
    if payload["action"] == "rerequested":
        action = "rerun"
    elif payload["action"] == "requested_action":
        action = str((payload.get("requested_action") or {}).get("identifier") or "")
    else:
        return None
    return _check(payload, run["head_sha"], run.get("pull_requests") or [], action)


def _check_suite(payload: Mapping[str, Any]) -> CheckEvent | None:
    """ "Re-run" of a check suite (the bot's run in it is advised again)."""
    if payload["action"] != "rerequested":
        return None
    suite = payload["check_suite"]
    return _check(payload, suite["head_sha"], suite.get("pull_requests") or [], "rerun")


def _check(payload: Mapping[str, Any], head_sha: str, pulls: list, action: str) -> CheckEvent:
    numbers = [int(pull["number"]) for pull in pulls if pull.get("head", {}).get("sha") == head_sha]
    return CheckEvent(
        repo=repo(payload["repository"]),
        head_sha=head_sha,
        number=numbers[0] if numbers else None,
        action=action,
        sender=actor(payload.get("sender")),
    )


_PARSERS = {
    "push": _push,
    "check_run": _check_run,
    "check_suite": _check_suite,
    "pull_request": _pull_request,
    "issue_comment": _issue_comment,
    "installation": _installation,
    "installation_repositories": _installation_repositories,
    ONBOARD_EVENT: _onboard,
}
