"""The bot's branch is never force-pushed over someone's commits, and a pull request whose
proposal the base already holds is closed (issue #3, SPEC §7.1)."""

from __future__ import annotations

import pytest
from fakes.github import FakeGitHub
from harness import LOCK_BRANCH, BotUnderTest, pipfile
from test_commands import MAINTAINER, comment
from test_push import push_and_settle, with_lock_request

pytestmark = pytest.mark.usefixtures("fakes")

HUMAN_EDIT_MARKER = "<!-- thoth-bot:human-edit -->"


async def test_a_human_commit_on_the_bots_branch_is_not_overwritten(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull = await with_lock_request(bot, github)
    github.grant(repo, MAINTAINER, "write")
    human = github.push(
        repo, {"NOTES.md": "pinned on purpose\n"}, branch=LOCK_BRANCH, author=MAINTAINER
    )

    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "numpy")})
    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "torch")})

    assert github.head(repo, LOCK_BRANCH) == human.after
    notices = [c for c in github.comments(repo, pull.number) if HUMAN_EDIT_MARKER in c.body]
    assert len(notices) == 1 and "`/thoth refresh`" in notices[0].body

    await comment(bot, github, repo, installation, pull.number, "/thoth refresh")

    head = github.commit(repo, github.head(repo, LOCK_BRANCH) or "")
    assert head.parents == (github.head(repo, "main"),)
    assert "Thoth-Bot-Digest:" in head.message
    assert "NOTES.md" not in github.files(repo, LOCK_BRANCH)
    assert '"torch"' in (github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "")


async def test_the_pull_request_is_closed_once_the_base_holds_what_it_proposes(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull = await with_lock_request(bot, github)
    proposed = {
        path: (text, github.mode(repo, LOCK_BRANCH, path) or "100644")
        for path, text in github.files(repo, LOCK_BRANCH).items()
        if github.files(repo, "main").get(path) != text
    }

    # Someone copies the proposal onto main by hand: the push touches locks and hooks only.
    await push_and_settle(bot, github, repo, installation, proposed)

    [closed] = github.pulls(repo)
    assert closed.state == "closed" and not closed.merged
    last = github.comments(repo, pull.number)[-1]
    assert last.body.startswith("`main` already holds everything this pull request proposed")
