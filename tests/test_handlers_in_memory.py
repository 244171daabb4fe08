"""Handlers as plain async functions: an in-memory forge (`fakes/forge.py`, held to the same
contract as GitHub's and GitLab's adapters by `test_forge_contract.py`) and a stub adviser, no
HTTP, milliseconds each. The end-to-end tests over the fake servers stay for what only they
prove: signatures, payloads, the wire."""

from __future__ import annotations

import json

import pytest
from fakes.forge import FakeForge
from in_memory import LOCK, PIPFILE, StubAdviser, commented, context, pushed

from handlers import dispatch


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
