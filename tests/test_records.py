"""What a job records of a delivery: the neutral event, compactly, and back (bot/jobs/records)."""

from __future__ import annotations

import json

import payloads
import pytest

from bot.github.events import InstallationChange
from bot.jobs import records
from handlers.events import CommentEvent, MergeRequestEvent, OnboardEvent, PushEvent
from handlers.forge import Actor, Repo

REPO = Repo(full_name="octo/app", default_branch="main", web_url="https://x/octo/app", id=7)


@pytest.mark.parametrize(
    "event",
    [
        PushEvent(
            REPO, "refs/heads/main", "a" * 40, "b" * 40, Actor("me", id=3), frozenset({"Pipfile"})
        ),
        PushEvent(REPO, "refs/heads/main", "a" * 40, "b" * 40, Actor("me"), None, deleted=True),
        MergeRequestEvent(
            REPO, "opened", 4, "c" * 40, "feature", "main", True, False, Actor("you")
        ),
        CommentEvent(REPO, 4, True, 99, "/thoth advise", Actor("bot[bot]", is_bot=True, id=1)),
        OnboardEvent("octo/app"),
        InstallationChange(12, "created", ("octo/app", "octo/lib")),
        InstallationChange(12, "created", None),
    ],
)
def test_every_kind_comes_back_as_it_went(event: object) -> None:
    text = records.encode(event, installation=42)  # type: ignore[arg-type]
    assert len(text) < 1000
    assert records.decode(text) == (event, 42)


def test_the_record_is_a_fraction_of_the_delivery() -> None:
    body = payloads.push(
        "octo/app",
        before="a" * 40,
        after="b" * 40,
        commits=[payloads.commit_entry("b" * 40, modified=["Pipfile"])],
        installation_id=42,
    )
    event = PushEvent(
        REPO, "refs/heads/main", "a" * 40, "b" * 40, Actor("me", id=3), frozenset({"Pipfile"})
    )
    assert len(json.dumps(body)) > 10 * len(records.encode(event, installation=42))
