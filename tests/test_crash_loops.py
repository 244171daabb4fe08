"""A job that kills the process running it (SPEC §10): attempts are counted when a job
starts, so after THOTH_BOT_MAX_ATTEMPTS starts it is given up, said once in the repository's
failure issue, and never started again, while other repositories' jobs go on. Real processes,
both engines: the job is held at its first write and the process is killed there, as the
kernel's OOM killer would."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest
from fakes.github import FakeGitHub
from harness import BotProcess, ServeProcess, new_repo_name, pipfile
from test_distributed import Cluster, deliver
from test_durability import wait_for
from test_push import push_payload
from test_push_failures import FAILURE_TITLE

pytestmark = pytest.mark.usefixtures("fakes")

ATTEMPTS = 3


async def crash_three_times_then_serve(
    github: FakeGitHub, web: ServeProcess, start: object, first: BotProcess
) -> tuple[str, str]:
    """Deliver a push whose job is killed at every start; a second repository's push once the
    bot gives the first up. (the doomed repository, the other one)"""
    doomed, installation = new_repo_name("doomed")
    github.create_repo(doomed, {"Pipfile": pipfile("flask")}, installation=installation)
    other, _ = new_repo_name("other")
    github.create_repo(other, {"Pipfile": pipfile("flask")}, installation=installation)
    writes = rf"/repos/{doomed}/git/trees$"
    gate = github.hold("POST", writes)  # the job gets this far, then its process dies
    push = github.push(doomed, {"Pipfile": pipfile("flask", "six")})
    assert (await deliver(web, "push", push_payload(push, installation)))[0] == 202

    process = first
    for start_number in range(1, ATTEMPTS + 1):
        await wait_for(lambda n=start_number: github.held("POST", writes) == n, within=60)
        await process.kill()
        process = await start()  # type: ignore[operator]
    served = github.push(other, {"Pipfile": pipfile("flask", "numpy")})
    assert (await deliver(web, "push", push_payload(served, installation)))[0] == 202
    await wait_for(lambda: bool(github.issues(doomed)), within=60)
    await wait_for(lambda: bool(github.pulls(other)), within=60)
    assert_given_up_once(github, doomed, other)
    gate.set()  # the killed processes' requests end (each held one of the fake's threads)
    return doomed, other


def assert_given_up_once(github: FakeGitHub, doomed: str, other: str) -> None:
    [issue] = github.issues(doomed)
    assert issue.title == FAILURE_TITLE
    assert f"started this work {ATTEMPTS} times and it never finished" in issue.body
    assert github.pulls(doomed) == []
    writes = f"/repos/{doomed}/git/trees"
    trees = [c for c in github.calls if c.method == "POST" and c.path.endswith(writes)]
    assert len(trees) == ATTEMPTS  # not started again
    assert len(github.pulls(other)) == 1


async def test_embedded_a_job_that_kills_the_bot_is_given_up_after_its_attempts(
    env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    bot_env = {**env, "THOTH_BOT_MAX_ATTEMPTS": str(ATTEMPTS)}
    running: list[ServeProcess] = []

    async def start() -> ServeProcess:
        process = await ServeProcess(bot_env, tmp_path / "serve.log").start()
        running.append(process)
        return process

    try:
        first = await start()

        class Web:  # every process serves on its own port: deliver to the newest
            @property
            def url(self) -> str:
                return running[-1].url

        doomed, other = await crash_three_times_then_serve(github, Web(), start, first)  # type: ignore[arg-type]
        # Another start: the job is failed, nothing runs it again.
        await running[-1].kill()
        await start()
        await asyncio.sleep(2.0)
        assert_given_up_once(github, doomed, other)
    finally:
        for process in running:
            await process.stop()


async def test_distributed_a_job_that_kills_its_worker_is_given_up_after_its_attempts(
    env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    cluster = Cluster(
        {**env, "THOTH_BOT_LEASE": "2s", "THOTH_BOT_MAX_ATTEMPTS": str(ATTEMPTS)}, tmp_path
    )
    try:
        await cluster.redis()
        web = await cluster.web()
        worker = await cluster.worker()
        doomed, other = await crash_three_times_then_serve(github, web, cluster.worker, worker)
        assert_given_up_once(github, doomed, other)
    finally:
        await cluster.stop()


class JobProcessOf:
    """The job process `serve` runs its jobs in (its only child), killed as the OOM killer
    would: the web process stays."""

    def __init__(self, web: ServeProcess, pid: int) -> None:
        self.web = web
        self.pid = pid

    @classmethod
    async def find(cls, web: ServeProcess, other_than: int = 0) -> JobProcessOf:
        assert web.process is not None
        children = Path(f"/proc/{web.process.pid}/task/{web.process.pid}/children")
        pids: list[int] = []

        def started() -> bool:
            pids[:] = [int(pid) for pid in children.read_text().split() if int(pid) != other_than]
            return bool(pids)

        await wait_for(started, within=30)
        return cls(web, pids[0])

    async def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


async def test_embedded_a_job_that_kills_its_job_process_is_given_up_while_the_webhook_answers(
    env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    web = await ServeProcess(
        {**env, "THOTH_BOT_MAX_ATTEMPTS": str(ATTEMPTS)}, tmp_path / "serve.log"
    ).start()
    try:
        first = await JobProcessOf.find(web)
        killed = [first]

        async def start() -> JobProcessOf:
            async with aiohttp.ClientSession() as session:  # answering while it has no jobs
                async with session.get(web.url + "/healthz") as response:
                    assert response.status == 200
            process = await JobProcessOf.find(web, other_than=killed[-1].pid)
            killed.append(process)
            return process

        doomed, other = await crash_three_times_then_serve(github, web, start, first)  # type: ignore[arg-type]
        assert web.process is not None and web.process.returncode is None  # never restarted
        log = (tmp_path / "serve.log").read_text()
        assert log.count("the job process stopped (killed by SIGKILL)") == ATTEMPTS
        async with aiohttp.ClientSession() as session:
            async with session.get(web.url + "/metrics") as response:
                metrics = await response.text()
        assert f'thoth_bot_job_process_stops_total{{how="killed"}} {ATTEMPTS}.0' in metrics
        assert_given_up_once(github, doomed, other)
    finally:
        await web.stop()
