"""A Pipfile push on GitLab, end to end (SPEC §6.2, §7.1, §7.4): GitLab's hook payloads through
`POST /webhooks/gitlab`, the bot talking HTTP to the fake GitLab and the fake Thoth. The same
handlers as on GitHub; these tests show they give the same result."""

from __future__ import annotations

import json
import time

import gitlab_payloads
import pytest
from fakes.gitlab import FakeGitLab
from fakes.thoth import FakeThoth
from gitlab_projects import new_project, onboarded_project, push_and_settle
from harness import LOCK_BRANCH, BotUnderTest, pipfile

from handlers.pipfile_lock import encode_lock

pytestmark = pytest.mark.usefixtures("fakes")

GUIDANCE_MARKER = "<!-- thoth-bot:guidance -->"
FAILURE_TITLE = "thoth-bot: cannot lock dependencies"


def changed_on_lock_branch(gitlab: FakeGitLab, path: str) -> dict[str, str]:
    base = gitlab.files(path, "main")
    return {
        name: text
        for name, text in gitlab.files(path, LOCK_BRANCH).items()
        if base.get(name) != text
    }


async def test_a_pipfile_push_opens_one_merge_request_with_lock_hooks_and_a_guidance_note(
    bot: BotUnderTest, gitlab: FakeGitLab, thoth: FakeThoth
) -> None:
    """The first event from a project the bot has not seen also onboards it: the one merge
    request then carries a `.thoth.yaml` too, still in ONE commit."""
    path = new_project(gitlab)
    commits = len(gitlab.bot_commits)
    push = await push_and_settle(bot, gitlab, path, {"Pipfile": pipfile("flask", "numpy")})

    [mr] = gitlab.merge_requests(path)
    assert (mr.state, mr.source_branch, mr.target_branch) == ("opened", LOCK_BRANCH, "main")
    assert mr.author is gitlab.bot
    assert mr.labels == ["thoth", "dependencies"]
    assert mr.title.startswith("Set up thoth-bot")
    # ONE commit on top of the pushed head holding the lock and both hooks, assemble executable.
    assert len(gitlab.bot_commits) == commits + 1
    head = gitlab.commit(path, gitlab.head(path, LOCK_BRANCH))
    assert head.parents == (push.after,)
    changed = changed_on_lock_branch(gitlab, path)
    assert sorted(changed) == [
        ".s2i/bin/assemble",
        ".s2i/environment",
        ".thoth.yaml",
        "Pipfile.lock",
    ]
    assert gitlab.mode(path, LOCK_BRANCH, ".s2i/bin/assemble") == "100755"
    assert gitlab.mode(path, LOCK_BRANCH, ".s2i/environment") == "100644"
    lock_text = changed["Pipfile.lock"]
    lock = json.loads(lock_text)
    assert lock_text == encode_lock(lock)
    assert sorted(lock["default"]) == ["flask", "numpy"]
    # Thoth was asked with the project's GitLab URL as origin.
    assert thoth.requests[-1].query["origin"] == f"{gitlab.url}/{path}"
    assert "| numpy | default | — | 1.26.4 | newly required |" in mr.description
    [note] = gitlab.notes(path, mr.iid)
    assert note.body.startswith(GUIDANCE_MARKER) and note.author is gitlab.bot
    assert gitlab.issues(path) == []


async def test_a_second_push_updates_the_same_merge_request(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path = await onboarded_project(bot, gitlab)
    await push_and_settle(bot, gitlab, path, {"Pipfile": pipfile("flask", "six")})
    [first] = gitlab.merge_requests(path, "opened")
    [note] = gitlab.notes(path, first.iid)

    push = await push_and_settle(bot, gitlab, path, {"Pipfile": pipfile("flask", "six", "numpy")})

    [mr] = gitlab.merge_requests(path, "opened")
    assert mr.iid == first.iid
    head = gitlab.commit(path, gitlab.head(path, LOCK_BRANCH))
    assert head.parents == (push.after,)  # rebuilt as ONE commit on the new head
    lock = json.loads(gitlab.file(path, LOCK_BRANCH, "Pipfile.lock") or "")
    assert sorted(lock["default"]) == ["flask", "numpy", "six"]
    assert "numpy" in mr.description
    [edited] = gitlab.notes(path, mr.iid)  # the guidance note is edited, never repeated
    assert edited.id == note.id


async def test_a_retried_delivery_does_nothing_twice(bot: BotUnderTest, gitlab: FakeGitLab) -> None:
    path = await onboarded_project(bot, gitlab)
    push = gitlab.push(path, {"Pipfile": pipfile("flask", "six")})
    payload = gitlab_payloads.push(gitlab, [push])
    status, _ = await bot.deliver_gitlab("Push Hook", payload, idempotency_key="retry-1")
    assert status == 202
    await bot.settle()
    mark = len(gitlab.calls)

    status, answer = await bot.deliver_gitlab("Push Hook", payload, idempotency_key="retry-1")
    # The same body with another Idempotency-Key (unsigned: anyone holding the body can set it).
    replayed = await bot.deliver_gitlab("Push Hook", payload, idempotency_key="replay-2")
    await bot.settle()

    assert (status, answer["message"]) == (200, "already received")
    assert replayed == (200, {"message": "already received"})
    assert gitlab.calls_since(mark) == []
    assert len(gitlab.merge_requests(path, "opened")) == 1


async def test_a_push_of_more_than_twenty_commits_still_finds_the_pipfile(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    """GitLab lists the newest 20 commits of a push; the Pipfile changed in an older one."""
    path = await onboarded_project(bot, gitlab)
    pushes = [gitlab.push(path, {"Pipfile": pipfile("flask", "six")}, message="deps")]
    pushes += [gitlab.push(path, {"app.py": f"print({i})\n"}) for i in range(21)]
    payload = gitlab_payloads.push(gitlab, pushes, listed=20)
    assert payload["total_commits_count"] == 22 and len(payload["commits"]) == 20
    assert all("Pipfile" not in commit["modified"] for commit in payload["commits"])
    mark = len(gitlab.calls)

    assert (await bot.deliver_gitlab("Push Hook", payload))[0] == 202
    await bot.settle()

    assert any("/repository/compare" in call.path for call in gitlab.calls_since(mark))
    assert len(gitlab.merge_requests(path, "opened")) == 1
    lock = json.loads(gitlab.file(path, LOCK_BRANCH, "Pipfile.lock") or "")
    assert sorted(lock["default"]) == ["flask", "six"]
    assert gitlab.commit(path, gitlab.head(path, LOCK_BRANCH)).parents == (pushes[-1].after,)


async def test_a_push_that_changes_no_pipfile_writes_nothing(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path = await onboarded_project(bot, gitlab)
    mark = len(gitlab.calls)
    push = gitlab.push(path, {"app.py": "print('hi')\n"})
    status, answer = await bot.deliver_gitlab("Push Hook", gitlab_payloads.push(gitlab, [push]))
    await bot.settle()
    assert (status, answer["message"]) == (200, "ignored: Push Hook")
    assert gitlab.calls_since(mark) == []
    assert gitlab.merge_requests(path, "opened") == []


async def test_a_broken_pipfile_opens_one_issue_and_a_fix_closes_it(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path = await onboarded_project(bot, gitlab)
    broken = pipfile("flask") + "[packages\n"
    push = await push_and_settle(bot, gitlab, path, {"Pipfile": broken})
    await push_and_settle(bot, gitlab, path, {"Pipfile": broken + "\n"})

    [issue] = gitlab.issues(path, "opened")
    assert issue.title == FAILURE_TITLE and issue.author is gitlab.bot
    assert "Pipfile" in issue.description and "line" in issue.description
    assert [s["status"] for s in gitlab.statuses(path, push.after)] == ["failed"]
    # No checks API on GitLab: the Problem's line is a link in the issue instead.
    second = gitlab.head(path, "main") or ""
    line = len(pipfile("flask").splitlines()) + 1
    link = f"{gitlab.url}/{path}/-/blob/{second}/Pipfile#L{line}"
    assert f"**[`Pipfile:{line}`]({link})**" in issue.description

    await push_and_settle(bot, gitlab, path, {"Pipfile": pipfile("flask", "six")})

    assert issue.state == "closed"
    [note] = gitlab.notes(path, issue.iid, on="issue")
    assert note.author is gitlab.bot
    assert len(gitlab.merge_requests(path, "opened")) == 1


async def test_a_system_hook_repository_update_is_a_push_and_shares_its_job(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    """An instance-wide install: the system hook sends `push` and `repository_update` for the
    same push, neither listing paths. One job asks the compare API; the other is a duplicate."""
    path = await onboarded_project(bot, gitlab)
    push = gitlab.push(path, {"Pipfile": pipfile("flask", "six")})
    system_push = gitlab_payloads.fixture("systemhooks/push.json")
    hook_push = gitlab_payloads.push(gitlab, [push])
    system_push.update(
        {key: hook_push[key] for key in ("before", "after", "ref", "project_id", "project")}
    )

    first = await bot.deliver_gitlab("System Hook", system_push)
    second = await bot.deliver_gitlab(
        "System Hook", gitlab_payloads.repository_update(gitlab, push)
    )
    await bot.settle()

    assert (first[0], second) == (202, (200, {"message": "already received"}))
    assert len(gitlab.merge_requests(path, "opened")) == 1
    lock = json.loads(gitlab.file(path, LOCK_BRANCH, "Pipfile.lock") or "")
    assert sorted(lock["default"]) == ["flask", "six"]


async def test_rate_limits_and_outages_are_waited_out(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    """GitLab answering 429 with Retry-After, and 502, on the way: the bot waits as told and
    ends with the one merge request (python-gitlab's own retries, in the bot's thread pool)."""
    path = await onboarded_project(bot, gitlab)
    gitlab.fail("POST", r"/repository/commits$", 429, headers={"Retry-After": "1"})
    gitlab.fail("GET", r"/repository/branches/", 502)
    mark = len(gitlab.calls)

    started = time.monotonic()
    await push_and_settle(bot, gitlab, path, {"Pipfile": pipfile("flask", "six")})

    assert time.monotonic() - started >= 1.0  # Retry-After honoured
    statuses = [c.status for c in gitlab.calls_since(mark) if c.path.endswith("/commits")]
    assert statuses == [429, 201]
    assert len(gitlab.merge_requests(path, "opened")) == 1
