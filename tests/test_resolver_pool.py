"""The distributed mode's resolver pool (SPEC §2, §10): `thoth-bot serve` and `thoth-bot worker`
hold the forge's credentials and never run uv; `thoth-bot resolver` runs every resolution,
started without any credential, on a Redis user that reaches only its own keys."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from fakes.github import FakeGitHub
from fakes.index import PackageIndex
from harness import (
    LOCK_BRANCH,
    RedisServer,
    ResolverProcess,
    ServeProcess,
    WorkerProcess,
    local_config,
    new_repo_name,
)
from test_distributed import deliver
from test_durability import wait_for
from test_local_adviser import pipfile
from test_push import push_payload

from bot.advisers.local.remote import CREDENTIALS, RESOLVER_ACL, ResolutionService
from bot.advisers.local.resolve import LocalResolver
from bot.advisers.local.uv_process import UvRunner
from bot.config import load_settings

pytestmark = pytest.mark.usefixtures("fakes")

RESOLVER_PASSWORD = "resolver-redis-password"


@pytest.fixture(scope="module")
def index() -> Iterator[PackageIndex]:
    packages = PackageIndex().start()
    packages.add_wheel("purelib", "1.0")
    x86 = "cp311-cp311-manylinux_2_17_x86_64"
    packages.add_wheel("accel", "2.0", tag=x86, requires=["purelib"])
    yield packages
    packages.stop()


class Pool:
    """Redis (with the resolver's user), web, worker and resolver processes of one test."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env, self.directory = env, directory
        self.processes: list = []

    async def start(self, *, resolvers: int = 1) -> Pool:
        self.redis = await RedisServer(
            self.directory / "redis", users=[f"resolver on >{RESOLVER_PASSWORD} {RESOLVER_ACL}"]
        ).start()
        self.processes.append(self.redis)
        self.env = {**self.env, "REDIS_URL": self.redis.url}
        self.web = await ServeProcess(self.env, self.directory / "web.log").start()
        self.worker = await WorkerProcess(self.env, self.directory / "worker.log").start()
        self.processes += [self.web, self.worker]
        self.resolvers = [await self.resolver() for _ in range(resolvers)]
        return self

    async def resolver(self) -> ResolverProcess:
        process = ResolverProcess(
            {
                "REDIS_URL": self.redis.url_of("resolver", RESOLVER_PASSWORD),
                "THOTH_BOT_CONFIG": self.env["THOTH_BOT_CONFIG"],
                "UV_CACHE_DIR": str(self.directory / "resolver-uv-cache"),
            },
            self.directory / f"resolver-{len(self.processes)}.log",
        )
        await process.start()
        self.processes.append(process)
        return process

    async def stop(self) -> None:
        for process in reversed(self.processes):
            await process.stop()


@pytest.fixture
async def pool(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Pool]:
    local = {k: v for k, v in env.items() if k != "THOTH_HOST"} | {
        "THOTH_BOT_ADVISER": "local",
        "THOTH_BOT_CONFIG": str(local_config(tmp_path)),
        "THOTH_BOT_LEASE": "2s",
    }
    running = Pool(local, tmp_path)
    yield running
    await running.stop()


async def test_a_push_is_resolved_on_a_resolver_without_credentials(
    pool: Pool, github: FakeGitHub, index: PackageIndex
) -> None:
    await pool.start(resolvers=0)
    repo, installation = new_repo_name("pool")
    before = pipfile(index, 'purelib = "*"')
    github.create_repo(repo, {"Pipfile": before}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile(index, 'accel = "*"')})

    asked = len(index.requests)
    assert (await deliver(pool.web, "push", push_payload(push, installation)))[0] == 202
    await asyncio.sleep(3)
    assert github.pulls(repo) == [] and index.requests[asked:] == []  # the worker resolves none
    resolver = await pool.resolver()
    await wait_for(lambda: bool(github.comments_on_open_pulls(repo)), within=60)

    environ = (Path("/proc") / str(resolver.process.pid) / "environ").read_bytes()  # type: ignore[union-attr]
    held = {item.split(b"=", 1)[0].decode() for item in environ.split(b"\0") if b"=" in item}
    assert not held & {*CREDENTIALS, "GITHUB_APP_ID"}, "the resolver holds a credential"
    lock = json.loads(github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "{}")
    assert lock["default"]["accel"]["version"] == "==2.0"
    resolver_log = resolver.log.read_text()  # type: ignore[union-attr]
    assert "resolve-" in resolver_log and "resolve(" in resolver_log  # arq ran its jobs there


async def test_the_resolvers_redis_user_reaches_only_its_own_keys(pool: Pool) -> None:
    await pool.start(resolvers=0)
    client = aioredis.from_url(pool.redis.url_of("resolver", RESOLVER_PASSWORD))
    admin = aioredis.from_url(pool.redis.url)
    try:
        await admin.set("thoth-bot:repo:octo-org/app", "a lease")
        await client.set("thoth-bot:resolve:queue:health-check", "ok")  # its own: allowed
        await client.set("arq:result:resolve-abc", "ok")
        for denied in (
            client.get("thoth-bot:repo:octo-org/app"),  # a worker's lease
            client.zrange("arq:queue", 0, -1),  # the jobs of deliveries
            client.set("arq:result:github:some-delivery", "forged"),
            client.flushall(),
            client.keys("*"),
        ):
            with pytest.raises(aioredis.ResponseError, match=r"NOPERM|no permissions"):
                await denied
    finally:
        await client.aclose()
        await admin.aclose()


def test_the_documented_redis_rule_is_the_one_tested() -> None:
    security = (Path(__file__).parent.parent / "docs" / "security.md").read_text()
    assert f"user resolver on ><its password> {RESOLVER_ACL}" in security


def test_a_resolver_refuses_to_start_with_a_credential(tmp_path: Path) -> None:
    for name in ("GITLAB_TOKEN", "GITHUB_PRIVATE_KEY_PATH", "THOTH_TOKEN"):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "resolver"],
            env={"PATH": os.environ["PATH"], "REDIS_URL": "redis://127.0.0.1:1/0", name: "x"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert f"its environment has {name}. Fix: start it without" in result.stderr


async def test_a_resolver_answers_the_listing_and_sdist_questions_of_an_advise(
    index: PackageIndex, tmp_path: Path
) -> None:
    """The requests besides resolutions (the releases a direct package could take; whether an
    sdist holds code to compile), answered as a resolver answers them, with its own allow-list."""
    index.add_buildable_sdist("cext", "1.0", sources={"cext/fast.c": b"int f(void);\n"})
    settings = load_settings(local_config(tmp_path), {})
    service = ResolutionService(settings, LocalResolver(UvRunner(cache_dir=tmp_path / "uv")))
    target = {
        "requirements": [],
        "constraints": [],
        "python_version": "3.11",
        "python_platform": "x86_64-manylinux_2_34",
        "indexes": [index.simple_url],
        "pinned": {},
        "limit": 60,
    }
    sdist = f"{index.url}/files/cext-1.0.tar.gz"
    try:
        releases = await service.handle({"id": "a", **target, "releases": {"accel": ["accel", 0]}})
        compiled = await service.handle({"id": "b", **target, "compiled": {"cext": [sdist, 0]}})
        elsewhere = {**target, "compiled": {"cext": ["http://127.0.0.2:9/x-1.0.tar.gz", 0]}}
        refused = await service.handle({"id": "c", **elsewhere})
    finally:
        await service.resolver.close()

    assert releases["releases"] == {"accel": ["2.0"]} and releases["id"] == "a"
    assert compiled["compiled"] == {"cext": True}
    assert refused["compiled"] == {"cext": True}  # not fetched: said as the cautious answer
