"""The `Forge` contract (handlers/forge.py): the same scenarios, run against the in-memory
`FakeForge`, against `GitHubForge` over the fake GitHub and against `GitLabForge` over the fake
GitLab. What handlers may rely on, every forge honours; a handler test on `FakeForge` holds for
both real ones."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp
import pytest
from fakes.forge import FakeForge
from fakes.github import FakeGitHub
from fakes.gitlab import DEVELOPER, FakeGitLab
from harness import APP_ID, GITLAB_TOKEN, app_keys, new_repo_name

from bot.github.auth import GitHubAppAuth
from bot.github.forge import GitHubForge
from bot.gitlab.client import GitLabClient
from bot.gitlab.forge import GitLabForge
from handlers.forge import (
    Actor,
    BranchMoved,
    CommitStatus,
    FileContent,
    Forge,
    NotFound,
    Repo,
)

pytestmark = pytest.mark.usefixtures("fakes")

LOCK = "thoth-bot/lock/main"
PIPFILE = '[packages]\nflask = "*"\n'
_paths = itertools.count(1)


class World(Protocol):
    """A forge under test, and what a test arranges on it the way people would."""

    forge: Forge
    # Only the forge can have sent a delivery (GitHub: the App's secret is GitHub's): what it
    # says is not read back.
    deliveries_signed_by_the_forge: bool

    async def create_repo(self, files: dict[str, str]) -> Repo: ...
    def push(self, repo: Repo, files: dict[str, str | None], branch: str) -> str: ...
    def open_merge_request(self, repo: Repo, source_branch: str) -> int: ...
    def writer(self, repo: Repo, login: str) -> Actor: ...
    def comment(self, repo: Repo, number: int, body: str, author: Actor) -> int: ...


class Memory:
    deliveries_signed_by_the_forge = False

    def __init__(self) -> None:
        self.fake = FakeForge()
        self.forge: Forge = self.fake

    async def create_repo(self, files: dict[str, str]) -> Repo:
        return self.fake.create_repo(f"octo-org/contract-{next(_paths)}", files)

    def push(self, repo: Repo, files: dict[str, str | None], branch: str) -> str:
        return self.fake.push(repo.full_name, files, branch=branch)

    def open_merge_request(self, repo: Repo, source_branch: str) -> int:
        return self.fake.open_merge_request(repo.full_name, source_branch, "someone")

    def writer(self, repo: Repo, login: str) -> Actor:
        self.fake.grant(repo.full_name, login, "write")
        return Actor(login)

    def comment(self, repo: Repo, number: int, body: str, author: Actor) -> int:
        return self.fake.add_comment(repo.full_name, number, body, author.login)


class OnGitHub:
    deliveries_signed_by_the_forge = True

    def __init__(self, github: FakeGitHub, session: aiohttp.ClientSession) -> None:
        self.github = github
        self.installation = new_repo_name()[1]
        self.auth = GitHubAppAuth(
            session, app_id=str(APP_ID), private_key=app_keys()[0], api_url=github.url
        )

    async def create_repo(self, files: dict[str, str]) -> Repo:
        name, _ = new_repo_name("contract")
        self.github.create_repo(name, files, installation=self.installation)
        api = await self.auth.installation_api(self.installation)
        self.forge = GitHubForge(
            api, graphql_url=self.auth.graphql_url, app_slug=self.auth.app_slug
        )
        return await self.forge.repository(name)

    def push(self, repo: Repo, files: dict[str, str | None], branch: str) -> str:
        return self.github.push(repo.full_name, files, branch=branch, author="someone").after

    def open_merge_request(self, repo: Repo, source_branch: str) -> int:
        return self.github.open_pull(repo.full_name, head=source_branch, author="someone").number

    def writer(self, repo: Repo, login: str) -> Actor:
        self.github.grant(repo.full_name, login, "write")
        return Actor(login)

    def comment(self, repo: Repo, number: int, body: str, author: Actor) -> int:
        return self.github.add_comment(repo.full_name, number, body, author=author.login).id


class OnGitLab:
    deliveries_signed_by_the_forge = False  # one webhook secret, known to every maintainer

    def __init__(self, gitlab: FakeGitLab) -> None:
        self.gitlab = gitlab
        self.client = GitLabClient(gitlab.url, GITLAB_TOKEN)
        self.forge = GitLabForge(self.client)

    async def create_repo(self, files: dict[str, str]) -> Repo:
        path = f"contract/project-{next(_paths)}"
        self.gitlab.create_project(path, files)
        return await self.forge.repository(path)

    def push(self, repo: Repo, files: dict[str, str | None], branch: str) -> str:
        return self.gitlab.push(repo.full_name, files, branch=branch).after

    def open_merge_request(self, repo: Repo, source_branch: str) -> int:
        return self.gitlab.open_merge_request(repo.full_name, source_branch=source_branch).iid

    def writer(self, repo: Repo, login: str) -> Actor:
        user = self.gitlab.add_member(repo.full_name, login, DEVELOPER)
        return Actor(login, id=user.id)

    def comment(self, repo: Repo, number: int, body: str, author: Actor) -> int:
        return self.gitlab.add_note(repo.full_name, number, body, author=author.login).id


@pytest.fixture(params=["memory", "github", "gitlab"])
async def world(
    request: pytest.FixtureRequest, github: FakeGitHub, gitlab: FakeGitLab
) -> AsyncIterator[World]:
    if request.param == "memory":
        yield Memory()
    elif request.param == "github":
        async with aiohttp.ClientSession() as session:
            yield OnGitHub(github, session)
    else:
        on_gitlab = OnGitLab(gitlab)
        yield on_gitlab
        on_gitlab.client.close()


async def test_a_snapshot_reads_the_branch_and_says_what_is_missing(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE, "app.py": "print()\n"})
    snapshot = await world.forge.snapshot(
        repo, branch="main", paths=["Pipfile", "Pipfile.lock"], lock_branch=LOCK
    )
    assert snapshot.files == {"Pipfile": FileContent(PIPFILE), "Pipfile.lock": None}
    assert snapshot.lock_branch is None and snapshot.merge_request is None
    assert snapshot.open_issues == ()


async def test_a_branch_or_a_merge_request_that_does_not_exist_is_not_found(
    world: World,
) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE})
    with pytest.raises(NotFound):
        await world.forge.snapshot(repo, branch="nope", paths=["Pipfile"], lock_branch=LOCK)
    with pytest.raises(NotFound):
        await world.forge.merge_request(repo, 4242)


async def test_the_bots_commit_is_one_commit_on_its_parent(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE, "old.txt": "x\n"})
    base = await world.forge.snapshot(repo, branch="main", paths=["Pipfile"], lock_branch=LOCK)
    hook = FileContent("#!/bin/sh\n", executable=True)
    sha = await world.forge.commit_files(
        repo,
        branch=LOCK,
        parent=base.sha,
        files={"Pipfile.lock": FileContent("{}\n"), ".s2i/bin/assemble": hook, "old.txt": None},
        message="Lock dependencies",
    )
    after = await world.forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK)
    assert after.lock_branch is not None
    assert (after.lock_branch.sha, after.lock_branch.parents) == (sha, (base.sha,))
    assert after.lock_branch.message.startswith("Lock dependencies")
    files = await world.forge.read_files(
        repo, sha=sha, paths=["Pipfile", "Pipfile.lock", ".s2i/bin/assemble", "old.txt"]
    )
    assert files == {
        "Pipfile": FileContent(PIPFILE),
        "Pipfile.lock": FileContent("{}\n"),
        ".s2i/bin/assemble": hook,
        "old.txt": None,
    }
    assert await world.forge.changed_paths(repo, base=base.sha, head=sha) == {
        "Pipfile.lock",
        ".s2i/bin/assemble",
        "old.txt",
    }


async def test_a_branch_that_moved_is_never_overwritten_without_force(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE})
    world.push(repo, {"Pipfile": PIPFILE + 'six = "*"\n'}, branch="feature")
    seen = await world.forge.snapshot(repo, branch="feature", paths=[], lock_branch=LOCK)
    theirs = world.push(repo, {"README.md": "mine\n"}, branch="feature")
    with pytest.raises(BranchMoved):
        await world.forge.commit_files(
            repo,
            branch="feature",
            parent=seen.sha,
            files={"Pipfile.lock": FileContent("{}\n")},
            message="Lock",
            force=False,
        )
    now = await world.forge.snapshot(repo, branch="feature", paths=[], lock_branch=LOCK)
    assert now.sha == theirs


async def test_one_merge_request_per_branch_even_when_asked_twice(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE})
    base = await world.forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK)
    await world.forge.commit_files(
        repo,
        branch=LOCK,
        parent=base.sha,
        files={"Pipfile.lock": FileContent("{}\n")},
        message="Lock",
    )
    asked = dict(source_branch=LOCK, target_branch="main", title="Lock", body="Body", labels=())
    first = await world.forge.create_merge_request(repo, **asked)  # type: ignore[arg-type]
    again = await world.forge.create_merge_request(repo, **asked)  # type: ignore[arg-type]
    assert again.number == first.number  # a crash or a race: the open one is used
    await world.forge.update_merge_request(repo, first.number, title="Lock 2", body="Body 2")
    snapshot = await world.forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK)
    assert snapshot.merge_request is not None
    assert (snapshot.merge_request.number, snapshot.merge_request.title) == (first.number, "Lock 2")
    assert snapshot.merge_request.body.strip() == "Body 2"
    await world.forge.close_merge_request(repo, first.number)
    closed = await world.forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK)
    assert closed.merge_request is None


async def test_the_bots_comments_are_listed_and_edited_in_place(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE})
    world.push(repo, {"Pipfile": PIPFILE + 'six = "*"\n'}, branch="feature")
    number = world.open_merge_request(repo, "feature")
    person = world.writer(repo, "maintainer")
    world.comment(repo, number, "/thoth advise", person)
    said = await world.forge.create_comment(repo, number, "guidance 1")
    await world.forge.update_comment(repo, number, said.id, "guidance 2")
    request = await world.forge.merge_request(repo, number)
    assert [c.body.strip() for c in request.bot_comments] == ["guidance 2"]
    assert request.source_branch == "feature" and request.target_branch == "main"
    assert await world.forge.merge_request_paths(repo, number) == {"Pipfile"}


async def test_who_may_command_and_which_comments_the_forge_holds(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE})
    world.push(repo, {"Pipfile": PIPFILE + 'six = "*"\n'}, branch="feature")
    number = world.open_merge_request(repo, "feature")
    person = world.writer(repo, "maintainer")
    assert await world.forge.permission(repo, person) in ("write", "maintain", "admin")
    # A stranger may read a public repository: whatever the forge says, not a writer.
    assert await world.forge.permission(repo, Actor("stranger")) in ("none", "read")
    comment = world.comment(repo, number, "/thoth lock", person)
    assert await world.forge.comment_as_delivered(repo, number, comment, person, "/thoth lock")
    forged = await world.forge.comment_as_delivered(repo, number, comment, person, "/thoth hooks")
    assert forged is world.deliveries_signed_by_the_forge
    await world.forge.react(repo, number, comment, "eyes")
    await world.forge.react(repo, number, comment, "eyes")  # a retried job: no error


async def test_the_bots_issues_are_found_open_and_closed(world: World) -> None:
    repo = await world.create_repo({"Pipfile": PIPFILE})
    issue = await world.forge.create_issue(repo, title="cannot lock", body="one", labels=())
    await world.forge.update_issue(repo, issue.number, body="two")
    snapshot = await world.forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK)
    assert [(i.number, i.title) for i in snapshot.open_issues] == [(issue.number, "cannot lock")]
    await world.forge.set_status(repo, snapshot.sha, CommitStatus("failure", "cannot lock"))
    await world.forge.set_status(repo, snapshot.sha, CommitStatus("failure", "cannot lock"))
    await world.forge.close_issue(repo, issue.number)
    after = await world.forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK)
    assert after.open_issues == ()


def test_each_forge_names_its_merge_requests() -> None:
    from bot.github.forge import WORDS as GITHUB
    from bot.gitlab.forge import WORDS as GITLAB

    assert (GITHUB.merge_request, GITHUB.reference(7)) == ("pull request", "#7")
    assert (GITLAB.merge_request, GITLAB.reference(7)) == ("merge request", "!7")
    assert GITHUB.body_limit <= 65_536 < GITLAB.body_limit
