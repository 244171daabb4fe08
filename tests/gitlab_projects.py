"""GitLab projects in the states the end-to-end tests start from."""

from __future__ import annotations

import itertools

import gitlab_payloads
from fakes.git import Push
from fakes.gitlab import FakeGitLab
from harness import BotUnderTest, pipfile

_names = itertools.count(1)


def new_project(gitlab: FakeGitLab, files: dict | None = None) -> str:
    """A project the bot has never heard of, with a Pipfile (unless `files` say otherwise)."""
    path = f"ml-team/service-{next(_names)}"
    gitlab.create_project(path, files or {"Pipfile": pipfile("flask")})
    return path


async def push_and_settle(bot: BotUnderTest, gitlab: FakeGitLab, path: str, files: dict) -> Push:
    """A person's push to the default branch, delivered as a `Push Hook`, and its jobs run."""
    push = gitlab.push(path, files)
    status, answer = await bot.deliver_gitlab("Push Hook", gitlab_payloads.push(gitlab, [push]))
    assert status == 202, answer
    await bot.settle()
    return push


async def onboarded_project(bot: BotUnderTest, gitlab: FakeGitLab) -> str:
    """A project the bot was given (system hook `project_create`) and whose onboarding merge
    request was merged: the steady state, with lock, hooks and `.thoth.yaml` on `main`."""
    path = new_project(gitlab)
    status, answer = await bot.deliver_gitlab(
        "System Hook", gitlab_payloads.project_create(gitlab, path)
    )
    assert status == 202, answer
    await bot.settle()
    [onboarding] = gitlab.merge_requests(path, "opened")
    gitlab.merge(path, onboarding.iid)
    assert {".thoth.yaml", "Pipfile.lock", ".s2i/bin/assemble"} <= set(gitlab.files(path, "main"))
    return path
