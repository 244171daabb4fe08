"""On GitHub the bot reports in a check run (`thoth-bot/advise`, the name branch protection
rules know), with its notes on the Pipfile lines they are about, as the Checks API takes them
(the fake GitHub validates every request against GitHub's description: 50 annotations a
request, the levels, the conclusions). Without `checks: write`, a commit status, and a notice
once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from fakes.github import FakeGitHub
from harness import APP_ID, BotUnderTest, app_keys, new_repo_name, pipfile
from test_pull_requests import deliver_pull, open_pull
from test_push import push_and_settle

from bot.github.auth import GitHubAppAuth
from bot.github.forge import GitHubForge
from handlers.forge import SHOWN_IN_FULL, Annotation, CommitStatus

pytestmark = pytest.mark.usefixtures("fakes")

URL_ON_LINE_9 = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[packages]
flask = "*"
six = "*"
mylib = {file = "https://example.com/mylib-1.0-py3-none-any.whl"}

[requires]
python_version = "3.11"
"""
CHECKS_NOTICE = "<!-- thoth-bot:checks-permission -->"


def advise_run(github: FakeGitHub, repo: str, sha: str) -> dict:
    [run] = [r for r in github.check_runs(repo, sha) if r["name"] == "thoth-bot/advise"]
    return run


async def test_a_refused_requirement_fails_the_check_run_with_a_note_on_its_line(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name("checks")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"Pipfile": URL_ON_LINE_9})

    await deliver_pull(bot, repo, installation, pull, push.after)

    run = advise_run(github, repo, push.after)
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert run["output"]["title"].startswith("Pipfile:9:")
    assert "could not lock the dependencies" in run["output"]["summary"]
    [note] = run["output"]["annotations"]
    assert (note["path"], note["start_line"], note["annotation_level"]) == ("Pipfile", 9, "failure")
    assert "mylib: is a file requirement" in note["message"] and "Fix:" in note["message"]
    assert github.statuses(repo, push.after) == []  # the check run, not a status


async def test_a_python_mismatch_is_a_warning_on_the_requires_line(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name("checks")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    older = pipfile("flask", "six").replace('python_version = "3.11"', 'python_version = "3.9"')
    pull, push = open_pull(github, repo, {"Pipfile": older})

    await deliver_pull(bot, repo, installation, pull, push.after)

    run = advise_run(github, repo, push.after)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")  # warnings
    requires = older.splitlines().index('python_version = "3.9"') + 1
    [note] = [n for n in run["output"]["annotations"] if n["start_line"] == requires]
    assert (note["path"], note["annotation_level"]) == ("Pipfile", "warning")
    assert "runs Python 3.11" in note["message"]
    assert "Thoth guidance" in run["output"]["summary"]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_a_hundred_and_twenty_notes_arrive_in_three_batches(
    github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    repo, installation = new_repo_name("checks")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    auth = GitHubAppAuth(session, app_id=str(APP_ID), private_key=app_keys()[0], api_url=github.url)
    forge = GitHubForge(
        await auth.installation_api(installation),
        graphql_url=auth.graphql_url,
        app_slug=auth.app_slug,
    )
    sha = github.head(repo, "main") or ""
    notes = tuple(Annotation("Pipfile", 7, "warning", f"warning {n}") for n in range(120))
    before = len(github.check_requests)

    shown = await forge.set_status(
        await forge.repository(repo),
        sha,
        CommitStatus("success", "120 warnings", summary="Many", annotations=notes, warnings=True),
    )

    assert shown == SHOWN_IN_FULL
    assert github.check_requests[before:] == [("POST", 50), ("PATCH", 50), ("PATCH", 20)]
    run = advise_run(github, repo, sha)
    assert [n["message"] for n in run["output"]["annotations"]] == [
        f"warning {n}" for n in range(120)
    ]
    assert run["conclusion"] == "neutral"


async def test_without_checks_write_a_status_and_one_notice(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name("checks")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    github.without_checks.add(installation)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "six")})

    await deliver_pull(bot, repo, installation, pull, push.after)
    await deliver_pull(bot, repo, installation, pull, push.after, action="reopened")

    assert github.check_runs(repo, push.after) == []
    states = [s["state"] for s in github.statuses(repo, push.after)]
    assert states[0] == "success" and "pending" in states
    notices = [c for c in github.comments(repo, pull.number) if CHECKS_NOTICE in c.body]
    assert len(notices) == 1 and "`checks: write`" in notices[0].body


async def test_a_push_that_opens_the_pull_request_reports_on_the_default_branch_head(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name("checks")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)

    push = await push_and_settle(
        bot, github, repo, installation, {"Pipfile": pipfile("flask", "six")}
    )

    [pull] = github.pulls(repo)
    run = advise_run(github, repo, push.after)
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert run["output"]["title"] == f"Proposed in #{pull.number}: cpu-x86-64-v3"
    assert "| six | default | — |" in run["output"]["summary"]
    assert run["actions"] == []  # the buttons are for pull requests
