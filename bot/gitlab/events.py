"""GitLab hook payloads -> forge-neutral events (`handlers/events.py`).

Project and group hooks send `Push Hook`, `Merge Request Hook` and `Note Hook`; an instance's
system hook sends everything as `System Hook`, told apart by `event_name` (or `object_kind`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from handlers.events import (
    NULL_SHA,
    CommentEvent,
    Event,
    MergeRequestEvent,
    OnboardEvent,
    PushEvent,
)
from handlers.forge import Actor, Repo

# GitLab lists at most this many commits in a push hook; `total_commits_count` says how many.
MAX_LISTED_COMMITS = 20
# The runtime's own event: onboard one project (the first time the bot hears of it).
ONBOARD_EVENT = "thoth-bot:onboard"
SYSTEM_HOOK = "System Hook"
# The bot users behind project and group access tokens: never answered, like GitHub's bots.
_TOKEN_BOT = re.compile(r"^(project|group)_\d+_bot(_[0-9a-f]+)?\d*$")
_MERGE_REQUEST_ACTIONS = {"open": "opened", "reopen": "reopened"}


class MalformedPayload(ValueError):
    """A delivery whose JSON lacks what its event type must carry."""


def parse(event_name: str, payload: Mapping[str, Any]) -> Event | None:
    """The event the bot handles, or None for event types and actions it ignores."""
    kind = event_name
    if event_name == SYSTEM_HOOK:
        kind = str(payload.get("event_name") or payload.get("object_kind") or "")
    parser = _PARSERS.get(kind)
    if parser is None:
        return None
    try:
        return parser(payload)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise MalformedPayload(f"{event_name} payload lacks {error}") from None


def project_of(payload: Mapping[str, Any]) -> tuple[int, str] | None:
    """(id, path_with_namespace) of the project a delivery is about, where it names one."""
    project = payload.get("project")
    if isinstance(project, Mapping) and project.get("path_with_namespace"):
        project_id = project.get("id") or payload.get("project_id")
        if project_id is not None:
            return int(project_id), str(project["path_with_namespace"])
    if payload.get("project_id") is not None and payload.get("path_with_namespace"):
        return int(payload["project_id"]), str(payload["path_with_namespace"])
    return None


def repo(project: Mapping[str, Any], project_id: Any = None) -> Repo:
    full_name = project["path_with_namespace"]
    return Repo(
        full_name=full_name,
        default_branch=project.get("default_branch") or "main",
        web_url=project.get("web_url") or full_name,
        id=project.get("id") or project_id,
    )


def is_token_bot(username: str) -> bool:
    return bool(_TOKEN_BOT.match(username))


def actor(username: Any, user_id: Any = None) -> Actor:
    login = str(username or "")
    return Actor(login=login, is_bot=is_token_bot(login), id=user_id)


def _push(payload: Mapping[str, Any]) -> PushEvent:
    commits = payload.get("commits") or []
    changed: set[str] = set()
    listed_paths = bool(commits)
    for commit in commits:
        if not any(key in commit for key in ("added", "modified", "removed")):
            listed_paths = False  # system hooks list commits without their paths
        for key in ("added", "modified", "removed"):
            changed.update(commit.get(key) or [])
    total = int(payload.get("total_commits_count") or len(commits))
    listed_all = listed_paths and total <= len(commits)
    return PushEvent(
        repo=repo(payload["project"], payload.get("project_id")),
        ref=payload["ref"],
        before=payload["before"],
        after=payload["after"],
        sender=actor(payload.get("user_username"), payload.get("user_id")),
        changed_paths=frozenset(changed) if listed_all else None,
        deleted=payload["after"] == NULL_SHA,
    )


def _repository_update(payload: Mapping[str, Any]) -> PushEvent | None:
    """A system hook's `repository_update`: like a push whose paths must be asked for."""
    project = payload["project"]
    default = f"refs/heads/{project.get('default_branch') or 'main'}"
    changes = [change for change in payload.get("changes") or [] if change.get("ref") == default]
    if not changes:
        return None
    change = changes[0]
    return PushEvent(
        repo=repo(project, payload.get("project_id")),
        ref=change["ref"],
        before=change["before"],
        after=change["after"],
        sender=Actor(login="", id=payload.get("user_id")),
        changed_paths=None,
        deleted=change["after"] == NULL_SHA,
    )


def _merge_request(payload: Mapping[str, Any]) -> MergeRequestEvent | None:
    attributes = payload["object_attributes"]
    action = _MERGE_REQUEST_ACTIONS.get(attributes.get("action", ""))
    changes = payload.get("changes") or {}
    draft = bool(attributes.get("draft", attributes.get("work_in_progress")))
    if attributes.get("action") == "update":
        if attributes.get("oldrev"):
            action = "synchronize"  # new commits
        elif not draft and ("draft" in changes or "work_in_progress" in changes):
            action = "ready_for_review"
    if action is None:
        return None
    user = payload.get("user") or {}
    return MergeRequestEvent(
        repo=repo(payload["project"]),
        action=action,
        number=int(attributes["iid"]),
        head_sha=(attributes.get("last_commit") or {}).get("id", ""),
        source_branch=attributes["source_branch"],
        target_branch=attributes["target_branch"],
        from_fork=attributes.get("source_project_id") != attributes.get("target_project_id"),
        draft=draft,
        sender=actor(user.get("username"), user.get("id")),
    )


def _note(payload: Mapping[str, Any]) -> CommentEvent | None:
    note = payload["object_attributes"]
    if note.get("action", "create") != "create" or note.get("system"):
        return None
    on_merge_request = note.get("noteable_type") == "MergeRequest"
    target = payload.get("merge_request") if on_merge_request else payload.get("issue")
    if not isinstance(target, Mapping):
        return None  # a note on a commit or a snippet
    user = payload.get("user") or {}
    return CommentEvent(
        repo=repo(payload["project"], payload.get("project_id")),
        number=int(target["iid"]),
        on_merge_request=on_merge_request,
        comment_id=note["id"],
        body=note.get("note") or "",
        author=actor(user.get("username"), user.get("id") or note.get("author_id")),
    )


def _onboard(payload: Mapping[str, Any]) -> OnboardEvent:
    return OnboardEvent(full_name=payload["path_with_namespace"])


_PARSERS = {
    "Push Hook": _push,
    "push": _push,
    "Merge Request Hook": _merge_request,
    "merge_request": _merge_request,
    "Note Hook": _note,
    "repository_update": _repository_update,
    "project_create": _onboard,
    ONBOARD_EVENT: _onboard,
}
