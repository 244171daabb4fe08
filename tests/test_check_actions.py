"""The check run's buttons (GitHub): "Re-run" (a check run's or a check suite's) advises the
head again; "Lock this PR" and "Advise --force" do what `/thoth lock` and `/thoth advise --force`
do, for the same people (write access). Real `check_run` and `check_suite` deliveries
(`fixtures/github/`), adapted to the test's repository."""

from __future__ import annotations

import payloads
import pytest
from fakes.github import FakeGitHub, Issue
from fakes.thoth import FakeThoth
from harness import BotUnderTest, new_repo_name, pipfile
from test_commands import MAINTAINER, replies
from test_pull_requests import deliver_pull, open_pull

pytestmark = pytest.mark.usefixtures("fakes")


async def advised(bot: BotUnderTest, github: FakeGitHub) -> tuple[str, int, Issue, str]:
    repo, installation = new_repo_name("buttons")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "six")})
    await deliver_pull(bot, repo, installation, pull, push.after)
    return repo, installation, pull, push.after


async def press(bot: BotUnderTest, event: str, payload: dict) -> int:
    status, _ = await bot.deliver(event, payload)
    await bot.settle()
    return status


async def test_the_check_run_offers_lock_and_advise_force_on_a_pull_request(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, _, _, head = await advised(bot, github)

    [run] = github.check_runs(repo, head)
    assert [a["identifier"] for a in run["actions"]] == ["lock", "advise-force"]
    assert [a["label"] for a in run["actions"]] == ["Lock this PR", "Advise --force"]


@pytest.mark.parametrize("event", ["check_run", "check_suite"])
async def test_rerun_advises_the_head_again(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth, event: str
) -> None:
    repo, installation, pull, head = await advised(bot, github)
    advises = len(thoth.requests)
    common = {"head_sha": head, "pull": (pull.number, pull.head), "installation_id": installation}
    payload = (
        payloads.check_run(repo, action="rerequested", sender=MAINTAINER, **common)
        if event == "check_run"
        else payloads.check_suite(repo, sender=MAINTAINER, **common)
    )

    assert await press(bot, event, payload) == 202

    assert len(thoth.requests) == advises + 1 and thoth.requests[-1].query["force"] == "true"
    [run] = github.check_runs(repo, head)
    assert (run["status"], run["conclusion"]) == ("completed", "success")


async def test_lock_this_pr_from_a_writer_commits_the_lock_and_from_a_reader_is_refused(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull, head = await advised(bot, github)
    github.grant(repo, MAINTAINER, "write")
    github.grant(repo, "passer-by", "read")

    def lock(sender: str) -> dict:
        return payloads.check_run(
            repo,
            action="requested_action",
            identifier="lock",
            head_sha=head,
            pull=(pull.number, pull.head),
            installation_id=installation,
            sender=sender,
        )

    assert await press(bot, "check_run", lock("passer-by")) == 202
    assert github.head(repo, "feature") == head
    [refusal] = replies(github, repo, pull.number)
    assert refusal.startswith("@passer-by, thoth-bot's commands are for people with write")

    assert await press(bot, "check_run", lock(MAINTAINER)) == 202
    new_head = github.head(repo, "feature") or ""
    assert github.commit(repo, new_head).parents == (head,)
    assert "Requested by @maintainer" in github.commit(repo, new_head).message
    assert (
        f"Committed `Pipfile.lock` to `feature` ({new_head[:12]})."
        in (replies(github, repo, pull.number)[-1])
    )


async def test_a_button_of_another_check_run_is_not_the_bots(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull, head = await advised(bot, github)
    payload = payloads.check_run(
        repo,
        action="rerequested",
        head_sha=head,
        pull=(pull.number, pull.head),
        installation_id=installation,
        sender=MAINTAINER,
        name="some-linter",
    )
    status, answer = await bot.deliver("check_run", payload)
    assert (status, answer["message"]) == (200, "ignored: check_run")
