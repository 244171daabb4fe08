"""The GitLab forge's own edges, against the fake GitLab over HTTP."""

from __future__ import annotations

import pytest
from fakes.gitlab import FakeGitLab
from gitlab_projects import new_project
from harness import GITLAB_TOKEN, LOCK_BRANCH

from bot.gitlab.client import GitLabClient
from bot.gitlab.forge import GitLabForge
from handlers.forge import FileContent

pytestmark = pytest.mark.usefixtures("fakes")


async def test_the_bots_branch_found_existing_after_the_snapshot_is_rebuilt(
    gitlab: FakeGitLab,
) -> None:
    """A crash or a race left `thoth-bot/lock/main` behind though the snapshot saw none."""
    path = new_project(gitlab)
    head = gitlab.head(path, "main") or ""
    client = GitLabClient(gitlab.url, GITLAB_TOKEN)
    try:
        forge = GitLabForge(client)
        repo = await forge.repository(path)
        seen = await forge.snapshot(repo, branch="main", paths=[], lock_branch=LOCK_BRANCH)
        assert seen.lock_branch is None
        gitlab.push(path, {"stale.txt": "left behind\n"}, branch=LOCK_BRANCH)
        sha = await forge.commit_files(
            repo,
            branch=LOCK_BRANCH,
            parent=head,
            files={".s2i/bin/assemble": FileContent("#!/bin/sh\n", executable=True)},
            message="Lock",
        )
    finally:
        client.close()

    assert gitlab.head(path, LOCK_BRANCH) == sha
    assert gitlab.commit(path, sha).parents == (head,)
    assert gitlab.file(path, LOCK_BRANCH, "stale.txt") is None
    assert gitlab.mode(path, LOCK_BRANCH, ".s2i/bin/assemble") == "100755"
