"""The distributed mode (SPEC §2): `thoth-bot serve` and `thoth-bot worker` processes sharing a
redis-server of the test's own, against the fake GitHub and Thoth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import payloads
import pytest
from fakes.github import FakeGitHub
from fakes.thoth import FakeThoth
from harness import (
    LOCK_BRANCH,
    SECRET,
    RedisServer,
    ServeProcess,
    WorkerProcess,
    new_repo_name,
    pipfile,
)
from test_durability import wait_for
from test_push import push_payload

pytestmark = pytest.mark.usefixtures("fakes")


class Cluster:
    """Processes started by a test, stopped at its end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[ServeProcess | WorkerProcess | RedisServer] = []

    async def redis(self) -> RedisServer:
        server = await RedisServer(self.logs / "redis").start()
        self.processes.append(server)
        self.env = {**self.env, "REDIS_URL": server.url}
        return server

    async def web(self) -> ServeProcess:
        process = await ServeProcess(self.env, self.logs / "web.log").start()
        self.processes.append(process)
        return process

    async def worker(self) -> WorkerProcess:
        process = await WorkerProcess(self.env, self.logs / "worker.log").start()
        self.processes.append(process)
        return process

    async def stop(self) -> None:
        for process in reversed(self.processes):
            await process.stop()


@pytest.fixture
async def cluster(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Cluster]:
    running = Cluster({**env, "THOTH_BOT_LEASE": "2s"}, tmp_path)
    yield running
    await running.stop()


async def deliver(web: ServeProcess, event: str, payload: dict, delivery: str | None = None):
    body = payloads.push_body(payload)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{web.url}/webhooks/github",
            data=body,
            headers=payloads.headers(event, body, SECRET, delivery),
        ) as response:
            return response.status, await response.json()


async def test_web_and_worker_make_one_pull_request_and_a_redelivery_does_nothing(
    cluster: Cluster, github: FakeGitHub
) -> None:
    await cluster.redis()
    web = await cluster.web()
    workers = [await cluster.worker(), await cluster.worker()]  # still one job per delivery
    repo, installation = new_repo_name("dist")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    payload = push_payload(push, installation)

    first = await deliver(web, "push", payload, delivery="dist-1")
    again = await deliver(web, "push", payload, delivery="dist-1")
    await wait_for(lambda: bool(github.comments_on_open_pulls(repo)))

    assert first[0] == 202 and again == (200, {"message": "already received"})
    [pull] = github.pulls(repo)
    assert github.commit(repo, github.head(repo, LOCK_BRANCH) or "").parents == (push.after,)
    assert len(github.comments(repo, pull.number)) == 1
    # Each worker serves its own metrics: the job ran on one of them, its advise with it.
    texts = []
    async with aiohttp.ClientSession() as session:
        for worker in workers:
            async with session.get(f"{worker.url}/metrics") as response:
                texts.append(await response.text())
    assert sum('thoth_bot_job_runs_total{outcome="done"} 1.0' in text for text in texts) == 1
    assert sum("thoth_bot_advise_duration_seconds_count{" in text for text in texts) == 1


async def test_a_worker_killed_mid_job_is_replaced_and_there_is_one_pull_request(
    cluster: Cluster, github: FakeGitHub
) -> None:
    await cluster.redis()
    web = await cluster.web()
    doomed = await cluster.worker()
    repo, installation = new_repo_name("dist")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    gate = github.hold("POST", rf"/repos/{repo}/git/trees$")
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})

    assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
    await wait_for(lambda: github.held("POST", rf"/repos/{repo}/git/trees$"))
    await doomed.kill()  # kill -9 in the middle of the job
    gate.set()
    await cluster.worker()
    await wait_for(lambda: bool(github.comments_on_open_pulls(repo)), within=60)
    await asyncio.sleep(1.0)  # let anything duplicated show up

    [pull] = github.pulls(repo)
    assert github.commit(repo, github.head(repo, LOCK_BRANCH) or "").parents == (push.after,)
    assert len(github.comments(repo, pull.number)) == 1


async def test_ten_pushes_in_a_second_make_one_advise(
    cluster: Cluster, github: FakeGitHub, thoth: FakeThoth
) -> None:
    cluster.env = {**cluster.env, "THOTH_BOT_COALESCE_WINDOW": "1.5s"}
    await cluster.redis()
    web = await cluster.web()
    await cluster.worker()
    await cluster.worker()
    repo, installation = new_repo_name("dist")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    advises = len(thoth.requests)
    extras = ["six", "numpy", "scipy", "pandas", "requests", "click", "jinja2", "attrs", "idna"]
    extras.append("markupsafe")
    for number in range(10):
        push = github.push(repo, {"Pipfile": pipfile("flask", *extras[: number + 1])})
        assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
        await asyncio.sleep(0.08)
    await wait_for(lambda: bool(github.comments_on_open_pulls(repo)), within=60)
    await asyncio.sleep(1.0)

    assert len(thoth.requests) == advises + 1
    [pull] = github.pulls(repo)
    lock = github.file(repo, LOCK_BRANCH, "Pipfile.lock") or ""
    assert all(f'"{name}"' in lock for name in extras)
    assert len(github.comments(repo, pull.number)) == 1


async def test_readyz_reports_redis_and_metrics_show_the_queue(
    cluster: Cluster, github: FakeGitHub
) -> None:
    redis = await cluster.redis()
    web = await cluster.web()  # and no worker: what is queued stays queued
    repo, installation = new_repo_name("dist")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{web.url}/metrics") as response:
            metrics = await response.text()
        async with session.get(f"{web.url}/readyz") as response:
            ready = response.status
        await redis.stop()
        async with session.get(f"{web.url}/readyz") as response:
            status, answer = response.status, await response.json()
    assert "thoth_bot_queue_depth 1.0" in metrics
    assert 'thoth_bot_jobs{state="queued"} 1.0' in metrics
    assert 'thoth_bot_queue_engine{engine="redis"} 1.0' in metrics
    assert ready == 200
    assert status == 503 and "unavailable" in answer["message"]


async def test_outages_rate_limits_and_a_thoth_down_then_up_end_in_success(
    cluster: Cluster, github: FakeGitHub, thoth: FakeThoth
) -> None:
    """In worker processes: GitHub answers 502 once and 403 with Retry-After once; Thoth is
    down for the first attempts. The push still ends in one pull request, the wait honoured."""
    cluster.env = {**cluster.env, "THOTH_BOT_RETRY_BASE": "0.3s"}
    await cluster.redis()
    web = await cluster.web()
    await cluster.worker()
    repo, installation = new_repo_name("dist")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    github.fail("POST", rf"/repos/{repo}/git/trees$", 502)
    github.fail(
        "POST",
        rf"/repos/{repo}/pulls$",
        403,
        headers={"Retry-After": "2"},
        message="You have exceeded a secondary rate limit.",
    )
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    thoth.unavailable = True
    try:
        assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
        await asyncio.sleep(1.5)  # a few attempts meet a Thoth that answers 503
    finally:
        thoth.unavailable = False
    await wait_for(lambda: bool(github.comments_on_open_pulls(repo)), within=60)

    pulls = [t for method, path, t in github.request_times if path == f"/repos/{repo}/pulls"]
    assert len(pulls) == 2 and pulls[1] - pulls[0] >= 2.0
    assert [c.status for c in github.calls if c.path.endswith(f"{repo}/git/trees")][:1] == [502]
    [pull] = github.pulls(repo)
    assert len(github.comments(repo, pull.number)) == 1
    retries = [
        line
        for line in (cluster.logs / "worker.log").read_text().splitlines()
        if "retrying in" in line
    ]
    assert any("503" in line for line in retries)  # Thoth's outage was met, and retried


async def test_thoth_down_for_good_ends_in_one_failure_issue(
    cluster: Cluster, github: FakeGitHub, thoth: FakeThoth
) -> None:
    cluster.env = {**cluster.env, "THOTH_BOT_RETRY_BASE": "0.1s", "THOTH_BOT_MAX_ATTEMPTS": "3"}
    await cluster.redis()
    web = await cluster.web()
    await cluster.worker()
    repo, installation = new_repo_name("dist")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    thoth.unavailable = True
    try:
        assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
        await wait_for(lambda: bool(github.issues(repo)), within=60)
        await asyncio.sleep(1.0)  # nothing more comes
    finally:
        thoth.unavailable = False

    [issue] = github.issues(repo)
    assert "503" in issue.body and "Pipfile" in issue.body
    assert github.pulls(repo) == []


async def test_two_workers_run_each_repositorys_scheduled_maintenance_once(
    cluster: Cluster, github: FakeGitHub, thoth: FakeThoth, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    default = (Path(__file__).parent.parent / "bot/data/default-config.yaml").read_text()
    config.write_text(default + "\nmaintenance:\n  schedule: 4s\n  tick: 1s\n")
    cluster.env = {**cluster.env, "THOTH_BOT_CONFIG": str(config)}
    await cluster.redis()
    web = await cluster.web()
    await cluster.worker()
    await cluster.worker()
    repos, installation = [], 0
    for _ in range(3):
        repo, installation = (new_repo_name("kept")[0], installation or new_repo_name()[1])
        github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
        repos.append(repo)
    payload = payloads.installation_created(installation, repos)

    assert (await deliver(web, "installation", payload))[0] == 202
    await wait_for(lambda: all(github.pulls(repo) for repo in repos), within=30)

    def forced(repo: str) -> int:  # maintenance never takes a cached result
        return sum(
            call.query.get("origin", "").endswith(repo) and call.query.get("force") == "true"
            for call in thoth.requests
        )

    await wait_for(lambda: all(forced(repo) >= 1 for repo in repos), within=30)
    await asyncio.sleep(1.5)  # the next period starts 4 s after each run
    assert [forced(repo) for repo in repos] == [1, 1, 1]
    assert all(len(github.pulls(repo)) == 1 for repo in repos)  # the same one, kept
