"""GitHub webhook payloads -> forge-neutral events (`handlers/events.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.events import Event, PushEvent
from handlers.forge import Actor, Repo

# GitHub lists at most this many commits in a push delivery; beyond, ask the compare API.
MAX_LISTED_COMMITS = 2048


class MalformedPayload(ValueError):
    """A signed delivery whose JSON lacks what its event type must carry."""


def parse(event_name: str, payload: Mapping[str, Any]) -> Event | None:
    """The event the bot handles, or None for event types it ignores."""
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
    return Actor(login=str(data.get("login", "")), is_bot=data.get("type") == "Bot")


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


_PARSERS = {"push": _push}
