"""The bot's branch is never force-pushed over someone's commits, and a pull request whose
proposal the base already holds is closed (issue #3, SPEC §7.1). The handlers on the in-memory
forge (`in_memory.py`)."""

from __future__ import annotations

from fakes.forge import FakeForge
from harness import pipfile
from in_memory import LOCK, MAINTAINER, PIPFILE, StubAdviser, commented, context, pushed
from in_memory import replies as said

from bot.github.forge import WORDS as GITHUB
from handlers import dispatch
from handlers.forge import Repo

HUMAN_EDIT_MARKER = "<!-- thoth-bot:human-edit -->"


async def with_lock_request(forge: FakeForge, adviser: StubAdviser) -> tuple[Repo, int]:
    """A repository where a Pipfile push made the bot open its pull request."""
    repo = forge.create_repo("octo-org/app", {"Pipfile": PIPFILE})
    await push(forge, adviser, repo, {"Pipfile": pipfile("flask", "six")})
    [number] = forge.projects[repo.full_name].requests
    return repo, number


async def push(forge: FakeForge, adviser: StubAdviser, repo: Repo, files: dict) -> None:
    await dispatch.handle(pushed(forge, repo, files), context(forge, adviser))


async def test_a_human_commit_on_the_bots_branch_is_not_overwritten() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = await with_lock_request(forge, adviser)
    project = forge.projects[repo.full_name]
    forge.grant(repo.full_name, MAINTAINER, "write")
    human = forge.push(repo.full_name, {"NOTES.md": "pinned on purpose\n"}, branch=LOCK)

    await push(forge, adviser, repo, {"Pipfile": pipfile("flask", "numpy")})
    await push(forge, adviser, repo, {"Pipfile": pipfile("flask", "torch")})

    assert project.git.refs[f"heads/{LOCK}"] == human
    notices = [c for c in project.requests[number].comments if HUMAN_EDIT_MARKER in c.body]
    assert len(notices) == 1 and "`/thoth refresh`" in notices[0].body
    # A person must choose: the report on main's head says so (GitHub: action_required).
    report = project.statuses[project.git.refs["heads/main"]]["thoth-bot/advise"]
    assert report.state == "action_required" and "`/thoth refresh` on #" in report.description

    event = commented(forge, repo, number, "/thoth refresh", MAINTAINER)
    await dispatch.handle(event, context(forge, adviser))

    head = project.git.commits[project.git.refs[f"heads/{LOCK}"]]
    assert head.parents == (project.git.refs["heads/main"],)
    assert "Thoth-Bot-Digest:" in head.message
    assert project.git.text(LOCK, "NOTES.md") is None
    assert '"torch"' in (project.git.text(LOCK, "Pipfile.lock") or "")
    assert said(forge, repo, number)[-1].startswith(f"@{MAINTAINER} Rebuilt this pull request")


async def test_the_pull_request_is_closed_once_the_base_holds_what_it_proposes() -> None:
    forge, adviser = FakeForge(words=GITHUB), StubAdviser()
    repo, number = await with_lock_request(forge, adviser)
    git = forge.projects[repo.full_name].git
    main = git.files_at(git.refs["heads/main"])
    proposed = {
        path: ((git.text(LOCK, path) or ""), mode)
        for path, (mode, sha) in git.files_at(git.refs[f"heads/{LOCK}"]).items()
        if main.get(path) != (mode, sha)
    }

    # Someone copies the proposal onto main by hand: the push touches locks and hooks only.
    await push(forge, adviser, repo, proposed)

    request = forge.projects[repo.full_name].requests[number]
    assert request.state == "closed"
    assert request.comments[-1].body.startswith(
        "`main` already holds everything this pull request proposed"
    )
