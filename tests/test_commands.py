"""`/thoth` commands in pull request comments (SPEC §7.3): what each command does, in memory
(the handlers on `FakeForge`, milliseconds each); end to end through the webhook, what only the
wire shows (the delivery's answer, Thoth's cache and `--force`, forks, edited comments)."""

from __future__ import annotations

import payloads
import pytest
from fakes.forge import FakeForge
from fakes.github import FakeGitHub, Issue
from fakes.thoth import FakeThoth
from harness import BotUnderTest, new_repo_name, pipfile
from in_memory import (
    LOCK,
    MAINTAINER,
    PIPFILE,
    StubAdviser,
    commented,
    context,
    merge_request,
    pushed,
)
from in_memory import (
    replies as said,
)
from test_pull_requests import deliver_pull, open_pull

from bot.github.forge import WORDS as GITHUB
from handlers import dispatch
from handlers.commands import parse_commands
from handlers.events import CommentEvent
from handlers.forge import Repo

pytestmark = pytest.mark.usefixtures("fakes")


async def comment(
    bot: BotUnderTest,
    github: FakeGitHub,
    repo: str,
    installation: int,
    number: int,
    body: str,
    *,
    author: str = MAINTAINER,
    author_type: str = "User",
) -> tuple[int, int]:
    """A person comments; the delivery goes to the bot. (status, comment id)"""
    posted = github.add_comment(repo, number, body, author=author)
    payload = payloads.issue_comment(
        repo,
        number=number,
        body=body,
        comment_id=posted.id,
        author=author,
        author_type=author_type,
        installation_id=installation,
    )
    status, _ = await bot.deliver("issue_comment", payload)
    await bot.settle()
    return status, posted.id


def replies(github: FakeGitHub, repo: str, number: int) -> list[str]:
    """The bot's comments that are not its sticky guidance."""
    return [
        c.body
        for c in github.comments(repo, number)
        if c.user == github.bot_login and "<!-- thoth-bot:guidance" not in c.body
    ]


async def advised_pull(
    bot: BotUnderTest, github: FakeGitHub, *, grant: str = "write"
) -> tuple[str, int, Issue]:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    github.grant(repo, MAINTAINER, grant)
    pull, push = open_pull(github, repo, {"Pipfile": pipfile("flask", "numpy")})
    await deliver_pull(bot, repo, installation, pull, push.after)
    return repo, installation, pull


async def test_advise_from_a_writer_reacts_advises_and_replies(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation, pull = await advised_pull(bot, github)
    advises = len(thoth.requests)

    status, comment_id = await comment(
        bot, github, repo, installation, pull.number, "/thoth advise"
    )
    assert status == 202
    [reply] = replies(github, repo, pull.number)
    assert reply.startswith(f"@{MAINTAINER} Advised cpu-x86-64-v3")
    [posted] = [c for c in github.comments(repo, pull.number) if c.id == comment_id]
    assert posted.reactions == [(github.bot_login, "eyes")]
    assert len(thoth.requests) == advises  # the cached result, as SPEC §7.3 says

    await comment(bot, github, repo, installation, pull.number, "/thoth advise --force")
    assert len(thoth.requests) == advises + 1  # --force asks Thoth again
    assert thoth.requests[-1].query["force"] == "true"
    assert len(replies(github, repo, pull.number)) == 2
    guidance = [c for c in github.comments(repo, pull.number) if "thoth-bot:guidance" in c.body]
    assert len(guidance) == 1


async def test_bots_are_never_answered(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation, pull = await advised_pull(bot, github)
    advises, mark = len(thoth.requests), len(github.calls)
    before = len(github.comments(repo, pull.number))

    status, _ = await comment(
        bot,
        github,
        repo,
        installation,
        pull.number,
        "/thoth advise",
        author="renovate[bot]",
        author_type="Bot",
    )
    own, _ = await comment(
        bot,
        github,
        repo,
        installation,
        pull.number,
        "/thoth help",
        author=github.bot_login,
        author_type="Bot",
    )

    assert (status, own) == (200, 200)
    assert github.calls_since(mark) == [] and len(thoth.requests) == advises
    assert len(github.comments(repo, pull.number)) == before + 2  # only the two posted here


async def test_lock_on_a_fork_explains_why_not(bot: BotUnderTest, github: FakeGitHub) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    github.grant(repo, MAINTAINER, "maintain")
    fork = repo.replace("octo-org/", "contributor/")
    github.fork(repo, fork)
    pull, _ = open_pull(github, repo, {"Pipfile": pipfile("flask", "six")}, head_repo=fork)
    before = dict(github.repos[fork].refs)

    await comment(bot, github, repo, installation, pull.number, "/thoth lock")

    [reply] = replies(github, repo, pull.number)
    assert "lives in a fork, where thoth-bot cannot push" in reply
    assert github.repos[fork].refs == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/thoth advise", [("advise", ())]),
        (
            "/thoth advise training serving --force",
            [("advise", ("training", "serving", "--force"))],
        ),
        ("LGTM\n/thoth lock\n/thoth hooks\n", [("lock", ()), ("hooks", ())]),
        ("   /thoth help", [("help", ())]),
        ("/thoth", [("", ())]),
        ("> /thoth lock", []),
        ("    /thoth lock", []),
        ("```\n/thoth lock\n```", []),
        ("~~~~\n/thoth lock\n~~~\n/thoth help\n~~~~\n/thoth hooks", [("hooks", ())]),
        ("please /thoth lock", []),
        ("/thothlock", []),
        ("/THOTH LOCK", []),
        ("/thoth LOCK\r\n", [("lock", ())]),
    ],
)
def test_parse_commands(body: str, expected: list) -> None:
    assert [(c.name, c.args) for c in parse_commands(body)] == expected


async def test_edited_comments_do_not_run_commands_again(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation, pull = await advised_pull(bot, github)
    posted = github.add_comment(repo, pull.number, "/thoth lock", author=MAINTAINER)
    payload = payloads.issue_comment(
        repo,
        number=pull.number,
        body=posted.body,
        comment_id=posted.id,
        author=MAINTAINER,
        installation_id=installation,
        action="edited",
    )
    status, answer = await bot.deliver("issue_comment", payload)
    assert (status, answer["message"]) == (200, "ignored: issue_comment")


# ---- the commands' behaviour, in memory (`in_memory.py`) ------------------------------------


async def command(
    forge: FakeForge,
    adviser: StubAdviser,
    repo: Repo,
    number: int,
    body: str,
    author: str = MAINTAINER,
) -> CommentEvent:
    """`author` comments `body` on merge request `number`, and the bot handles it."""
    event = commented(forge, repo, number, body, author)
    await dispatch.handle(event, context(forge, adviser))
    return event


async def test_a_reader_is_refused_and_nothing_is_advised() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"), role="triage")

    await command(forge, adviser, repo, number, "/thoth advise")

    [reply] = said(forge, repo, number)
    assert reply.startswith(f"@{MAINTAINER}, thoth-bot's commands are for people with write")
    assert adviser.requests == []
    request = forge.projects[repo.full_name].requests[number]
    assert request.reactions == []

    # Once per person and pull request: the next ones get a reaction only.
    for _ in range(3):
        again = await command(forge, adviser, repo, number, "/thoth lock")
    assert said(forge, repo, number) == [reply]
    assert request.reactions[-1] == (again.comment_id, "confused")
    assert adviser.requests == []


async def test_help_and_unknown_commands_get_the_help_text() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"))

    await command(forge, adviser, repo, number, "/thoth help")
    await command(forge, adviser, repo, number, "Please\n/thoth frobnicate")
    await command(forge, adviser, repo, number, "/thoth lock now")

    helped, unknown, bad = said(forge, repo, number)
    assert "| `/thoth lock` |" in helped
    assert "`/thoth frobnicate` is not a thoth-bot command." in unknown
    assert "| `/thoth advise [ENV...] [--force] [--type TYPE]` |" in unknown
    assert "`/thoth lock` takes no arguments (got `now`)." in bad


async def test_quoted_and_fenced_commands_are_not_run() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"))
    body = "> /thoth lock\n\nTry:\n```\n/thoth lock\n```\n    /thoth lock\n"

    event = await command(forge, adviser, repo, number, body)

    assert not dispatch.wants(event)  # the webhook answers 200 "ignored" and queues nothing
    assert said(forge, repo, number) == [] and adviser.requests == []


async def test_lock_commits_the_refreshed_lock_to_the_pull_requests_branch() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"))
    git = forge.projects[repo.full_name].git
    head = git.refs["heads/feature"]

    await command(forge, adviser, repo, number, "/thoth lock")

    new_head = git.refs["heads/feature"]
    commit = git.commits[new_head]
    assert commit.parents == (head,)
    changed = [
        path
        for path, entry in git.files_at(new_head).items()
        if git.files_at(head).get(path) != entry
    ]
    assert changed == ["Pipfile.lock"]
    assert "Requested by @maintainer" in commit.message
    [reply] = said(forge, repo, number)
    assert f"Committed `Pipfile.lock` to `feature` ({new_head[:12]})." in reply

    await command(forge, adviser, repo, number, "/thoth lock")
    assert git.refs["heads/feature"] == new_head
    assert "already up to date" in said(forge, repo, number)[-1]


async def test_hooks_adds_only_the_hooks() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"))
    git = forge.projects[repo.full_name].git
    head = git.refs["heads/feature"]

    await command(forge, adviser, repo, number, "/thoth hooks")

    files, before = git.files_at(git.refs["heads/feature"]), git.files_at(head)
    assert sorted(p for p in files if before.get(p) != files[p]) == [
        ".s2i/bin/assemble",
        ".s2i/environment",
    ]
    assert git.mode("feature", ".s2i/bin/assemble") == "100755"


async def test_refresh_rebuilds_the_bots_pull_request_from_its_base() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo = forge.create_repo("octo-org/app", {"Pipfile": PIPFILE})
    await dispatch.handle(
        pushed(forge, repo, {"Pipfile": pipfile("flask", "numpy")}), context(forge, adviser)
    )
    project = forge.projects[repo.full_name]
    [number] = project.requests
    forge.grant(repo.full_name, MAINTAINER, "admin")
    moved = forge.push(repo.full_name, {"README.md": "news\n"}, branch="main")  # no Pipfile

    await command(forge, adviser, repo, number, "/thoth refresh")

    assert project.git.commits[project.git.refs[f"heads/{LOCK}"]].parents == (moved,)
    assert [n for n, r in project.requests.items() if r.state == "open"] == [number]
    assert (
        "Rebuilt this pull request as one commit on top of `main`" in said(forge, repo, number)[-1]
    )


async def test_refresh_elsewhere_says_what_it_is_for() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"))
    await command(forge, adviser, repo, number, "/thoth refresh")
    assert "rebuilds thoth-bot's own pull request; this one is not" in said(forge, repo, number)[-1]


async def test_advise_with_a_type_says_what_it_would_lock_and_changes_nothing() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask", "numpy"))
    project = forge.projects[repo.full_name]
    head = project.git.refs["heads/feature"]

    await command(forge, adviser, repo, number, "/thoth advise --type security")
    await command(forge, adviser, repo, number, "/thoth advise --type=fastest")

    [request] = adviser.requests
    assert request.recommendation_type == "security"
    preview, refused = said(forge, repo, number)
    assert f"What recommendation type `security` would lock at {head[:12]}" in preview
    assert "flask 3.0.0 suits the node class." in preview
    assert "`--type` takes one of `latest`, `stable`" in refused and "not `fastest`" in refused
    assert project.statuses == {} and project.git.refs["heads/feature"] == head
    assert not any("thoth-bot:guidance" in c.body for c in project.requests[number].comments)


async def test_a_type_with_backticks_stays_inside_its_code_span() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = merge_request(forge, pipfile("flask"))

    await command(forge, adviser, repo, number, "/thoth advise --type=x`[a](https://evil.test)`")

    [reply] = said(forge, repo, number)
    assert "not `` x`[a](https://evil.test)` ``." in reply  # a longer fence: shown, not a link
    assert adviser.requests == []
