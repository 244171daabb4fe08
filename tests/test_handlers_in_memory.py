"""Handlers as plain async functions: an in-memory forge (`fakes/forge.py`, held to the same
contract as GitHub's and GitLab's adapters by `test_forge_contract.py`) and a stub adviser, no
HTTP, milliseconds each. The end-to-end tests over the fake servers stay for what only they
prove: signatures, payloads, the wire."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fakes.forge import FakeForge

from bot.config import load_settings
from handlers import dispatch
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Guidance
from handlers.context import Context, Policy, lock_branch_name
from handlers.events import CommentEvent, PushEvent
from handlers.forge import Actor, Repo

PIPFILE = '[packages]\nflask = "*"\n\n[requires]\npython_version = "3.11"\n'
LOCK = lock_branch_name("main")
SETTINGS = load_settings(env={})


class StubAdviser:
    """Locks every Pipfile with flask 3.0.0; `meanwhile` runs during each advise (the world
    moving on while the bot works)."""

    name = "stub"

    def __init__(self, meanwhile: Callable[[], None] | None = None) -> None:
        self.requests: list[AdviseRequest] = []
        self.meanwhile = meanwhile

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        self.requests.append(request)
        if self.meanwhile is not None:
            self.meanwhile()
        if "broken" in request.pipfile:
            raise AdviseError("no release of broken fits the node class", fix="Drop broken.")
        pin = {"version": "==3.0.0", "hashes": ["sha256:" + "0" * 64], "index": "pypi"}
        return AdviseResult(
            lock={"_meta": {"sources": []}, "default": {"flask": pin}, "develop": {}},
            justification=(Guidance("INFO", "flask 3.0.0 suits the node class."),),
            backend="stub",
        )


def context(forge: FakeForge, adviser: StubAdviser) -> Context:
    return Context(
        forge=forge,
        adviser=adviser,
        policy=Policy(
            node_classes=SETTINGS.node_classes, default_node_class=SETTINGS.default_node_class
        ),
        log=logging.getLogger("handlers.test"),
    )


def pushed(forge: FakeForge, repo: Repo, files: dict[str, str | None]) -> PushEvent:
    before = forge.projects[repo.full_name].git.refs["heads/main"]
    after = forge.push(repo.full_name, files, branch="main")
    return PushEvent(
        repo=repo,
        ref="refs/heads/main",
        before=before,
        after=after,
        sender=Actor("someone"),
        changed_paths=frozenset(files),
    )


def commented(forge: FakeForge, repo: Repo, number: int, body: str, login: str) -> CommentEvent:
    """A person comments on merge request `number`; the event the forge delivers."""
    comment = forge.add_comment(repo.full_name, number, body, login)
    return CommentEvent(
        repo=repo,
        number=number,
        comment_id=comment,
        body=body,
        author=Actor(login),
        on_merge_request=True,
    )


async def test_a_pipfile_push_opens_one_merge_request_and_a_redelivery_changes_nothing() -> None:
    forge, adviser = FakeForge(), StubAdviser()
    repo = forge.create_repo("octo-org/app", {"Pipfile": PIPFILE})
    event = pushed(forge, repo, {"Pipfile": PIPFILE + 'six = "*"\n'})

    await dispatch.handle(event, context(forge, adviser))
    await dispatch.handle(event, context(forge, adviser))  # a redelivery

    project = forge.projects[repo.full_name]
    [request] = project.requests.values()
    assert (request.source_branch, request.target_branch) == (LOCK, "main")
    lock = json.loads(project.git.text(LOCK, "Pipfile.lock") or "")
    assert lock["default"]["flask"]["version"] == "==3.0.0"
    assert project.git.text(LOCK, ".s2i/bin/assemble") is not None
    [guidance] = [c for c in request.comments if c.author == forge.bot_login]
    assert "flask 3.0.0 suits the node class." in guidance.body
    assert len(project.git.ancestors(project.git.refs[f"heads/{LOCK}"])) == 3  # one commit


async def test_a_pipfile_that_cannot_be_locked_gets_one_issue_and_a_failed_status() -> None:
    forge, adviser = FakeForge(), StubAdviser()
    repo = forge.create_repo("octo-org/app", {"Pipfile": PIPFILE})
    for extra in ('broken = "*"\n', 'broken = "==1"\n'):
        event = pushed(forge, repo, {"Pipfile": PIPFILE + extra})
        await dispatch.handle(event, context(forge, adviser))

    project = forge.projects[repo.full_name]
    [issue] = project.issues.values()
    assert "no release of broken fits the node class" in issue.body
    assert "Drop broken." in issue.body
    assert project.statuses[event.after]["thoth-bot/advise"].state == "failure"
    assert project.requests == {}


async def test_lock_on_a_branch_that_moves_meanwhile_says_so_in_the_forges_words() -> None:
    forge = FakeForge()
    repo = forge.create_repo("octo-org/app", {"Pipfile": PIPFILE})
    forge.push(repo.full_name, {"Pipfile": PIPFILE + 'six = "*"\n'}, branch="feature")
    number = forge.open_merge_request(repo.full_name, "feature", "someone")
    forge.grant(repo.full_name, "maintainer", "write")
    moved: list[str] = []

    def someone_pushes() -> None:
        moved.append(forge.push(repo.full_name, {"README.md": "mine\n"}, branch="feature"))

    event = commented(forge, repo, number, "/thoth lock", "maintainer")
    await dispatch.handle(event, context(forge, StubAdviser(meanwhile=someone_pushes)))

    project = forge.projects[repo.full_name]
    assert project.git.refs["heads/feature"] == moved[-1]  # their commit stays
    reply = project.requests[number].comments[-1]
    assert reply.author == forge.bot_login
    assert reply.body.strip() == (
        "@maintainer `feature` moved while thoth-bot worked on it: run the command again."
    )
    assert project.requests[number].reactions == [(event.comment_id, "eyes")]


@pytest.mark.parametrize("commands", [1, 3])
async def test_a_person_without_write_access_is_refused_once(commands: int) -> None:
    forge, adviser = FakeForge(), StubAdviser()
    repo = forge.create_repo("octo-org/app", {"Pipfile": PIPFILE})
    forge.push(repo.full_name, {"Pipfile": PIPFILE + 'six = "*"\n'}, branch="feature")
    number = forge.open_merge_request(repo.full_name, "feature", "someone")
    for _ in range(commands):
        event = commented(forge, repo, number, "/thoth advise", "passer-by")
        await dispatch.handle(event, context(forge, adviser))

    said = [c.body for c in forge.projects[repo.full_name].requests[number].comments]
    refusals = [body for body in said if "thoth-bot's commands are for people with" in body]
    assert len(refusals) == 1 and adviser.requests == []
