"""Pull requests that change a Pipfile get advice (SPEC §7.2): one sticky guidance comment and a
`thoth-bot/advise` status on the head, forks included, nothing ever pushed to them."""

from __future__ import annotations

import payloads
import pytest
from fakes.github import FakeGitHub, Issue, Push
from fakes.thoth import FakeThoth
from harness import BotUnderTest, new_repo_name, pipfile
from test_push import with_lock_request

pytestmark = pytest.mark.usefixtures("fakes")

GUIDANCE_MARKER = "<!-- thoth-bot:guidance -->"


def open_pull(
    github: FakeGitHub,
    repo: str,
    files: dict,
    *,
    branch: str = "feature",
    head_repo: str | None = None,
    draft: bool = False,
) -> tuple[Issue, Push]:
    push = github.push(head_repo or repo, files, branch=branch, author="contributor")
    pull = github.open_pull(
        repo, head=branch, head_repo=head_repo, author="contributor", draft=draft
    )
    return pull, push


async def deliver_pull(
    bot: BotUnderTest,
    repo: str,
    installation: int,
    pull: Issue,
    head_sha: str,
    *,
    action: str = "opened",
    expect: int = 202,
) -> None:
    payload = payloads.pull_request(
        repo,
        number=pull.number,
        head_sha=head_sha,
        head_branch=pull.head,
        head_repo=pull.head_repo,
        action=action,
        draft=pull.draft,
        installation_id=installation,
        sender="contributor",
    )
    status, answer = await bot.deliver("pull_request", payload)
    assert status == expect, answer
    await bot.settle()


def advise_statuses(github: FakeGitHub, repo: str, sha: str) -> list[dict]:
    """Newest first, as GitHub lists them."""
    return github.reports(repo, sha)  # its check run's states (or commit statuses)


async def test_a_pull_request_changing_a_pipfile_gets_one_guidance_comment_and_a_status(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "numpy")})

    await deliver_pull(bot, repo, installation, pull, push.after)

    [comment] = github.comments(repo, pull.number)
    assert comment.body.startswith(GUIDANCE_MARKER) and comment.user == github.bot_login
    assert f"thoth-bot advised {push.after[:12]}" in comment.body
    assert "| numpy | default | — | 1.26.4 | newly required |" in comment.body
    assert "Resolved for runtime environment 'cpu-x86-64-v3'" in comment.body
    assert "/thoth lock" in comment.body
    states = [s["state"] for s in advise_statuses(github, repo, push.after)]
    assert states == ["success", "pending"]
    assert "needs refreshing" in advise_statuses(github, repo, push.after)[0]["description"]
    assert github.head(repo, "feature") == push.after  # nothing pushed to the branch

    # New commits: the same comment is edited, never repeated.
    second = github.push(repo, {"Pipfile": pipfile("flask", "torch")}, branch="feature")
    await deliver_pull(bot, repo, installation, pull, second.after, action="synchronize")

    [edited] = github.comments(repo, pull.number)
    assert edited.id == comment.id
    assert "| torch | default | — | 2.3.1 | newly required |" in edited.body
    assert "numpy" not in edited.body
    assert advise_statuses(github, repo, second.after)[0]["state"] == "success"


async def test_draft_pull_requests_are_advised_too(bot: BotUnderTest, github: FakeGitHub) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "six")}, draft=True)

    await deliver_pull(bot, repo, installation, pull, push.after)

    assert len(github.comments(repo, pull.number)) == 1
    assert advise_statuses(github, repo, push.after)[0]["state"] == "success"


async def test_a_pull_request_from_a_fork_is_advised_read_only(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    fork = repo.replace("octo-org/", "contributor/")
    github.fork(repo, fork)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "six")}, head_repo=fork)
    before = dict(github.repos[fork].refs)

    await deliver_pull(bot, repo, installation, pull, push.after)

    [comment] = github.comments(repo, pull.number)
    assert "| six | default | — | 1.16.0 | newly required |" in comment.body
    assert advise_statuses(github, repo, push.after)[0]["state"] == "success"
    assert github.repos[fork].refs == before


async def test_a_pull_request_without_a_pipfile_change_is_left_alone(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"README.md": "docs\n"})
    advises, mark = len(thoth.requests), len(github.calls)

    await deliver_pull(bot, repo, installation, pull, push.after)

    assert [call for call in github.calls_since(mark) if call.write] == []
    assert len(thoth.requests) == advises
    assert github.comments(repo, pull.number) == []


async def test_a_broken_pipfile_in_a_pull_request_is_said_in_its_comment(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"Pipfile": "[packages]\nflask = *\n"})

    await deliver_pull(bot, repo, installation, pull, push.after)

    [comment] = github.comments(repo, pull.number)
    assert comment.body.startswith(GUIDANCE_MARKER)
    assert "**`Pipfile:2`**: invalid TOML" in comment.body and "**Fix:**" in comment.body
    status = advise_statuses(github, repo, push.after)[0]
    assert status["state"] == "failure" and status["description"].startswith("Pipfile:2:")
    assert github.issues(repo) == []  # the failure issue is for the default branch only


async def test_the_changed_files_are_read_page_by_page(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    many = {f"Docs/page-{i:03}.md": f"page {i}\n" for i in range(150)}  # sorted before Pipfile
    pull, push = open_pull(github, repo, {**many, "Pipfile": pipfile("flask", "six")})

    await deliver_pull(bot, repo, installation, pull, push.after)

    pages = [c for c in github.calls if f"{repo}/pulls/{pull.number}/files" in c.path]
    assert len(pages) == 2
    assert len(github.comments(repo, pull.number)) == 1


async def test_the_bots_own_pull_request_is_not_advised_as_a_contribution(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull = await with_lock_request(bot, github)
    mark = len(github.calls)

    head = github.head(repo, pull.head) or ""
    await deliver_pull(bot, repo, installation, pull, head, expect=200)  # not even queued

    assert github.calls_since(mark) == []
    assert len(github.comments(repo, pull.number)) == 1


async def test_a_reopened_pull_request_is_advised_again(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "six")})
    await deliver_pull(bot, repo, installation, pull, push.after)
    first = advise_statuses(github, repo, push.after)

    await deliver_pull(bot, repo, installation, pull, push.after, action="reopened")

    assert len(advise_statuses(github, repo, push.after)) == len(first) + 2
    assert len(github.comments(repo, pull.number)) == 1
