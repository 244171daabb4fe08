"""Deliveries survive a crash, GitHub outages are retried, tokens are reused (SPEC §4, §6.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import payloads
import pytest
from fakes.github import FakeGitHub
from harness import LOCK_BRANCH, SECRET, BotUnderTest, ServeProcess, new_repo_name, pipfile
from test_push import push_and_settle, push_payload

pytestmark = pytest.mark.usefixtures("fakes")


@pytest.fixture
async def served(env: dict[str, str]) -> AsyncIterator[list[ServeProcess]]:
    processes: list[ServeProcess] = []
    yield processes
    for process in processes:
        await process.stop()


async def wait_for(condition, within: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_delivery_cut_off_by_a_crash_is_processed_after_restart(
    env: dict[str, str], github: FakeGitHub, served: list[ServeProcess]
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    tree_write = rf"/repos/{repo}/git/trees$"
    gate = github.hold("POST", tree_write)
    first = await ServeProcess(env).start()
    served.append(first)

    body = payloads.push_body(push_payload(push, installation))
    async with aiohttp.ClientSession() as session:
        async with session.post(
            first.url + "/webhooks/github",
            data=body,
            headers=payloads.headers("push", body, SECRET),
        ) as response:
            assert response.status == 202
    await wait_for(lambda: github.held("POST", tree_write))
    await first.kill()  # mid-job: the delivery is recorded, its work is not done
    gate.set()
    assert github.pulls(repo) == []

    second = await ServeProcess(env).start()
    served.append(second)
    await wait_for(lambda: bool(github.comments_on_open_pulls(repo)))

    [pull] = github.pulls(repo)
    head = github.commit(repo, github.head(repo, LOCK_BRANCH) or "")
    assert head.parents == (push.after,)
    assert len(github.comments(repo, pull.number)) == 1


async def test_a_github_outage_is_retried(bot: BotUnderTest, github: FakeGitHub) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    github.fail("POST", rf"/repos/{repo}/pulls$", status=502)

    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "six")})

    failed = [c for c in github.calls if c.path.endswith(f"{repo}/pulls") and c.status == 502]
    assert len(failed) == 1
    [pull] = github.pulls(repo)
    assert len(github.comments(repo, pull.number)) == 1


async def test_installation_tokens_are_minted_once_and_reused(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    for extra in ("six", "numpy", "scipy"):
        await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", extra)})

    mints = [
        c for c in github.calls if c.path == f"/app/installations/{installation}/access_tokens"
    ]
    assert len(mints) == 1


async def test_github_enterprise_server_urls(github: FakeGitHub, thoth, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from harness import bot_env

    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    ghes = await BotUnderTest.from_env(bot_env(github, thoth, tmp_path, ghes=True)).start()
    mark = len(github.calls)
    try:
        await push_and_settle(ghes, github, repo, installation, {"Pipfile": pipfile("six")})
    finally:
        await ghes.close()

    paths = [call.path for call in github.calls_since(mark)]
    assert "/api/graphql" in paths
    assert all(path.startswith(("/api/v3/", "/api/graphql")) for path in paths), paths
    assert len(github.pulls(repo)) == 1
