"""`/thoth lock` when the merge request's branch moves while the bot works (SPEC §7.3): the
bot never overwrites someone's commit, and both forges give the person the same reply."""

from __future__ import annotations

import asyncio

import pytest
import test_commands as on_github
import test_gitlab_merge_requests as on_gitlab
from fakes.github import FakeGitHub
from fakes.gitlab import FakeGitLab
from harness import BotUnderTest
from test_durability import wait_for

pytestmark = pytest.mark.usefixtures("fakes")

MOVED = "`{branch}` moved while thoth-bot worked on it: run the command again."


async def test_github_lock_on_a_branch_that_moved_says_so_and_keeps_the_new_commit(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull = await on_github.advised_pull(bot, github)
    gate = github.hold("POST", rf"/repos/{repo}/git/trees$")  # the bot's first write
    try:
        command = asyncio.create_task(
            on_github.comment(bot, github, repo, installation, pull.number, "/thoth lock")
        )
        await wait_for(lambda: github.held("POST", rf"/repos/{repo}/git/trees$") == 1)
        theirs = github.push(repo, {"README.md": "mine\n"}, branch="feature")
    finally:
        gate.set()
    await command

    assert github.head(repo, "feature") == theirs.after
    reply = on_github.replies(github, repo, pull.number)[-1]
    assert reply.strip() == f"@{on_github.MAINTAINER} " + MOVED.format(branch="feature")


async def test_gitlab_lock_on_a_branch_that_moved_says_so_and_keeps_the_new_commit(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path, mr, developer = await on_gitlab.advised_merge_request(bot, gitlab)
    # The branch is read for the snapshot, then again just before the commit: hold that one.
    gate = gitlab.hold("GET", r"/repository/branches/add-numpy$", after=1)
    try:
        command = asyncio.create_task(
            on_gitlab.note(bot, gitlab, path, mr.iid, "/thoth lock", developer)
        )
        await wait_for(lambda: gitlab.held() == 1)
        theirs = gitlab.push(path, {"README.md": "mine\n"}, branch="add-numpy")
    finally:
        gate.set()
    await command

    assert gitlab.head(path, "add-numpy") == theirs.after
    reply = on_gitlab.replies(gitlab, path, mr.iid)[-1]
    assert reply.strip() == f"@{developer.username} " + MOVED.format(branch="add-numpy")
