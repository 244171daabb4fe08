"""`thoth-bot serve` runs the embedded engine's jobs in a process of its own (SPEC §10): the
webhook answers whatever that process does, and `/metrics` says what its jobs counted. Real
processes: `serve` and the job process it starts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fakes.github import FakeGitHub
from harness import ServeProcess, new_repo_name, pipfile
from prometheus_client.parser import text_string_to_metric_families
from test_crash_loops import JobProcessOf
from test_distributed import deliver
from test_durability import wait_for
from test_push import push_payload

pytestmark = pytest.mark.usefixtures("fakes")


@pytest.fixture
async def web(env: dict[str, str], tmp_path: Path) -> AsyncIterator[ServeProcess]:
    process = await ServeProcess(env, tmp_path / "serve.log").start()
    yield process
    await process.stop()


async def test_deliveries_are_answered_while_the_job_process_cannot_run(
    web: ServeProcess, github: FakeGitHub
) -> None:
    jobs = await JobProcessOf.find(web)
    repos = []
    os.kill(jobs.pid, signal.SIGSTOP)  # as busy as a job can make it: not at all on a CPU
    try:
        for _ in range(5):
            repo, installation = new_repo_name()
            github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
            push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
            started = time.perf_counter()
            status, _ = await deliver(web, "push", push_payload(push, installation))
            assert status == 202
            assert time.perf_counter() - started < 5  # answered without the job process
            repos.append(repo)
        assert all(github.pulls(repo) == [] for repo in repos)
    finally:
        os.kill(jobs.pid, signal.SIGCONT)
    for repo in repos:  # recorded: run once it can
        await wait_for(lambda repo=repo: len(github.pulls(repo)) == 1, within=60)


async def test_metrics_include_what_the_job_process_counted(
    web: ServeProcess, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
    await wait_for(lambda: len(github.pulls(repo)) == 1, within=60)

    samples: dict[str, float] = {}

    async def scraped() -> bool:
        async with aiohttp.ClientSession() as session:
            async with session.get(web.url + "/metrics") as response:
                assert response.status == 200
                text = await response.text()
        names = [family.name for family in text_string_to_metric_families(text)]
        assert len(names) == len(set(names)), "each family once"
        samples.clear()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        # The queue's counts are read before the job process's metrics: both, once settled.
        done = ("thoth_bot_job_runs_total{outcome=done}", "thoth_bot_jobs{state=done}")
        return all(samples.get(name) == 1.0 for name in done)

    for _ in range(100):  # the job is counted once it is marked done, just after its last write
        if await scraped():
            break
        await asyncio.sleep(0.05)
    assert samples["thoth_bot_job_runs_total{outcome=done}"] == 1.0
    assert samples["thoth_bot_deliveries_total{event=push,forge=github,outcome=accepted}"] == 1.0
    assert samples["thoth_bot_jobs{state=done}"] == 1.0
    assert samples["thoth_bot_advise_duration_seconds_count{backend=thoth,outcome=ok}"] == 1.0
    assert any(name.startswith("thoth_bot_forge_api_calls_total{") for name in samples)


async def test_deliveries_after_the_first_are_run_too(
    web: ServeProcess, github: FakeGitHub
) -> None:
    """The job process moves what the web process records, delivery after delivery (not only
    what was waiting when it started)."""
    for _ in range(3):
        repo, installation = new_repo_name()
        github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
        push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
        assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202
        await wait_for(lambda repo=repo: len(github.pulls(repo)) == 1, within=30)
