"""Failures on the default branch are said once (SPEC §7.6): a failed `thoth-bot/advise` status
and ONE issue naming the file, the line and the fix; no branch, no pull request, no crash."""

from __future__ import annotations

import re

import pytest
from fakes.github import FakeGitHub
from harness import LOCK_BRANCH, BotUnderTest, new_repo_name, pipfile
from test_push import push_and_settle

pytestmark = pytest.mark.usefixtures("fakes")

FAILURE_TITLE = "thoth-bot: cannot lock dependencies"

UNKNOWN_CLASS = """\
host: thoth.example.com
runtime_environments:
  - name: training
    labels:
      node_class: gpu-h100
"""


def failure_status(github: FakeGitHub, repo: str, sha: str) -> dict:
    statuses = github.reports(repo, sha)  # its check run (SPEC §7.6: on GitHub, a check run)
    assert statuses, "no thoth-bot/advise status"
    return statuses[0]


async def test_an_unknown_node_class_fails_once_then_the_fix_closes_the_issue(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)

    push = await push_and_settle(bot, github, repo, installation, {".thoth.yaml": UNKNOWN_CLASS})

    status = failure_status(github, repo, push.after)
    assert status["state"] == "failure"
    assert status["description"].startswith(".thoth.yaml:5: runtime environment 'training'")
    [issue] = github.issues(repo)
    assert issue.title == FAILURE_TITLE and issue.state == "open"
    assert "**`.thoth.yaml:5`**" in issue.body
    assert "asks for node class 'gpu-h100', which this cluster does not declare" in issue.body
    assert "**Fix:** Set `labels.node_class` to one of: cpu-x86-64-v3, gpu-a100" in issue.body
    assert issue.labels == ["thoth", "dependencies"]
    assert github.head(repo, LOCK_BRANCH) is None and github.pulls(repo) == []
    assert (await bot.get("/healthz"))[0] == 200

    # A second failure edits the same issue.
    broken = "[packages]\nflask = \n"
    second = await push_and_settle(
        bot,
        github,
        repo,
        installation,
        {
            ".thoth.yaml": UNKNOWN_CLASS.replace("gpu-h100", "gpu-a100"),
            "Pipfile": broken,
        },
    )
    [issue] = github.issues(repo)
    assert "**`Pipfile:2`**: invalid TOML" in issue.body
    assert second.after[:12] in issue.body
    assert failure_status(github, repo, second.after)["state"] == "failure"

    # The fix: the issue is closed with a comment, and the lock is proposed.
    fixed = await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask")})
    [issue] = github.issues(repo)
    assert issue.state == "closed"
    [comment] = github.comments(repo, issue.number)
    assert comment.body.startswith("Fixed:") and fixed.after[:12] in comment.body
    assert len(github.pulls(repo)) == 1


async def test_a_thoth_error_names_the_pipfile_of_the_environment(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)

    push = await push_and_settle(
        bot, github, repo, installation, {"Pipfile": pipfile("flask", "thoth-error")}
    )

    status = failure_status(github, repo, push.after)
    assert status["state"] == "failure"
    assert status["description"].startswith("Pipfile: the thoth adviser could not lock")
    assert len(status["description"]) <= 140
    [issue] = github.issues(repo)
    assert "**`Pipfile`**" in issue.body
    assert "Cannot satisfy direct dependency 'thoth-error'" in issue.body
    assert github.pulls(repo) == [] and github.head(repo, LOCK_BRANCH) is None


async def test_an_invalid_pipfile_names_its_line(bot: BotUnderTest, github: FakeGitHub) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    text = pipfile("flask").replace('flask = "*"', 'flask = "*"\nnumpy = {version = ">=1"')

    await push_and_settle(bot, github, repo, installation, {"Pipfile": text})

    [issue] = github.issues(repo)
    line = text.splitlines().index('numpy = {version = ">=1"') + 1
    assert re.search(rf"\*\*`Pipfile:{line}`\*\*: invalid TOML", issue.body), issue.body
    assert "**Fix:** Correct the TOML syntax on line" in issue.body
    assert github.pulls(repo) == []
