"""The bot under test, wired to the fake GitHub and the fake Thoth over real HTTP on 127.0.0.1.

Shared by the end-to-end tests (`conftest.py`) and `bench/calls.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import IO, Any, Self

import aiohttp
import gitlab_payloads
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.github import FakeGitHub
from fakes.gitlab import FakeGitLab
from fakes.thoth import FakeThoth
from payloads import headers

from bot import logs
from bot.config import Settings, load_settings
from bot.runtime import Bot, Role
from bot.serve import build_app
from bot.web.state import BOT_KEY

APP_ID = 4242
SECRET = "It's a secret to everybody"
GITLAB_TOKEN = "glpat-thoth-bot-test-token"
GITLAB_SECRET = "gitlab hook secret"
LOCK_BRANCH = "thoth-bot/lock/main"

PIPFILE = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[packages]
{packages}

[dev-packages]
pytest = "*"

[requires]
python_version = "3.11"
"""


def pipfile(*packages: str) -> str:
    return PIPFILE.format(packages="\n".join(f'{name} = "*"' for name in packages))


@cache
def app_keys() -> tuple[str, str]:
    """(private, public) PEM of the test App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def start_fakes() -> tuple[FakeGitHub, FakeThoth]:
    github = FakeGitHub(app_id=APP_ID, public_key=app_keys()[1]).start()
    # Its advise results are ready at the first poll: the bot's first wait is half a second,
    # and the polls themselves are the Thoth client's tests (`test_thoth_adviser.py`).
    thoth = FakeThoth(pending_polls=0).start()
    return github, thoth


_names = itertools.count(1)


def new_repo_name(prefix: str = "app") -> tuple[str, int]:
    """A repository name and an installation id no other test uses."""
    number = next(_names)
    return f"octo-org/{prefix}-{number}", 9000 + number


def start_gitlab() -> FakeGitLab:
    return FakeGitLab(token=GITLAB_TOKEN).start()


def local_config(
    directory: Path, adviser: str = "", indexes: Sequence[str] = ("127.0.0.1",)
) -> Path:
    """The built-in configuration, its embedded adviser allowed the tests' indexes on 127.0.0.1
    (an operator must list loopback addresses by name, SPEC §10), plus `adviser` lines."""
    base = (Path(__file__).parent.parent / "bot/data/default-config.yaml").read_text()
    path = directory / "local-config.yaml"
    path.write_text(base + f"\nadviser:\n  indexes: {json.dumps(list(indexes))}\n" + adviser)
    return path


def bot_env(
    github: FakeGitHub,
    thoth: FakeThoth,
    state_dir: Path,
    *,
    ghes: bool = False,
    gitlab: FakeGitLab | None = None,
) -> dict[str, str]:
    forges = {}
    if gitlab is not None:
        forges = {
            "GITLAB_URL": gitlab.url,
            "GITLAB_TOKEN": GITLAB_TOKEN,
            "GITLAB_WEBHOOK_SECRET": GITLAB_SECRET,
        }
    return {
        **forges,
        "GITHUB_APP_ID": str(APP_ID),
        "GITHUB_PRIVATE_KEY": app_keys()[0],
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": github.url + ("/api/v3" if ghes else ""),
        "THOTH_HOST": thoth.url,
        "THOTH_BOT_STATE_DIR": str(state_dir),
        "THOTH_BOT_WORKERS": "2",
        # Fast for tests: retries after ~0.2 s, and jobs start as soon as they are queued
        # (tests of coalescing and of the retry policy set their own).
        "THOTH_BOT_RETRY_BASE": "0.2s",
        "THOTH_BOT_COALESCE_WINDOW": "0s",
        # No vulnerability data unless a test serves some (`fakes/osv.py`).
        "THOTH_BOT_OSV_URL": "off",
    }


class BotUnderTest:
    """`thoth-bot serve`'s app on a free port, and a client that delivers webhooks to it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server: TestServer | None = None
        self.session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls, env: dict[str, str]) -> BotUnderTest:
        return cls(load_settings(None, env))

    async def start(self) -> BotUnderTest:
        app = await build_app(self.settings, role=Role.ALL_IN_ONE)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self.session = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.server is not None:
            await self.server.close()

    @property
    def bot(self) -> Bot:
        assert self.server is not None
        return self.server.app[BOT_KEY]

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def post(
        self, path: str, body: bytes, request_headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        async with self.session.post(self.url + path, data=body, headers=request_headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else {})

    async def deliver(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        delivery: str | None = None,
        secret: str | None = SECRET,
    ) -> tuple[int, dict[str, Any]]:
        """POST a GitHub delivery, signed as GitHub signs it."""
        body = json.dumps(payload).encode()
        return await self.post(
            "/webhooks/github", body, headers(event, body, secret, delivery or str(uuid.uuid4()))
        )

    async def deliver_gitlab(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        token: str | None = GITLAB_SECRET,
        idempotency_key: str | None = None,
        signing_token: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST a GitLab hook delivery with the headers GitLab sends."""
        body = json.dumps(payload).encode()
        request_headers = gitlab_payloads.headers(
            event,
            body,
            token=token,
            idempotency_key=idempotency_key,
            signing_token=signing_token,
        )
        return await self.post("/webhooks/gitlab", body, request_headers)

    async def get(self, path: str) -> tuple[int, str]:
        assert self.session is not None
        async with self.session.get(self.url + path) as resp:
            return resp.status, await resp.text()

    async def settle(self, within: float = 60.0) -> None:
        """Wait until every queued job has run."""
        assert self.bot.runner is not None, "the embedded engine"
        await self.bot.runner.drain(within)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_ready(url: str, what: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(url + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready")


@contextlib.contextmanager
def bot_logs(stream: IO[str]) -> Iterator[None]:
    """Everything logged meanwhile, by every logger at DEBUG, written to `stream` by the bot's
    own handler (JSON, context fields, secrets scrubbed)."""
    handler = logs.make_handler(stream, json=True)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# The directory of the run's logs (conftest's `every_log_line`), for bots run as processes.
TEST_LOGS = "THOTH_BOT_TEST_LOGS"


class BotProcess:
    """`thoth-bot ARGS` as its own process, as the Procfile runs it; stderr to `log` (else, in a
    test run, to a file of the run's logs), in JSON at DEBUG unless `env` says otherwise."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        self.env = {
            **os.environ,
            "THOTH_BOT_LOG_FORMAT": "json",
            "THOTH_BOT_LOG_LEVEL": "DEBUG",
            **env,
        }
        if log is None and os.environ.get(TEST_LOGS):
            log = Path(os.environ[TEST_LOGS]) / f"{type(self).__name__}-{uuid.uuid4().hex}.log"
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    def arguments(self) -> list[str]:
        raise NotImplementedError

    async def start(self) -> Self:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.arguments(),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log.open("ab") if self.log else asyncio.subprocess.DEVNULL,
        )
        await self.ready()
        return self

    async def ready(self) -> None:
        """Return once the process serves (the default: at once)."""

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


class ServeProcess(BotProcess):
    """`thoth-bot serve` (the Procfile's `web:`) on a free port."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        super().__init__(env, log)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def arguments(self) -> list[str]:
        return ["serve", "--host", "127.0.0.1", "--port", str(self.port)]

    async def ready(self) -> None:
        await wait_until_ready(self.url, "thoth-bot serve")


class WorkerProcess(BotProcess):
    """`thoth-bot worker` (the distributed mode's Procfile `worker:`), its metrics on a free
    port."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__({**env, "METRICS_PORT": str(self.port), "METRICS_HOST": "127.0.0.1"}, log)

    def arguments(self) -> list[str]:
        return ["worker"]

    async def ready(self) -> None:
        await wait_until_ready(self.url, "thoth-bot worker")


class ResolverProcess(BotProcess):
    """`thoth-bot resolver` (the Procfile's `resolver:`): given only `env`, the variables of a
    process without credentials (PATH, HOME, the uv cache), as its Deployment starts it."""

    def __init__(self, env: dict[str, str], log: Path | None = None) -> None:
        super().__init__(env, log)
        self.env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "THOTH_BOT_LOG_FORMAT": "json",
            "THOTH_BOT_LOG_LEVEL": "DEBUG",
            **env,
        }

    def arguments(self) -> list[str]:
        return ["resolver"]


class RedisServer:
    """A redis-server of the test's own on a free port, keeping nothing on disk; `users` are
    ACL rules (`name on >password ~keys +commands`), one a string."""

    def __init__(self, directory: Path, users: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.users = users
        self.process: asyncio.subprocess.Process | None = None

    def url_of(self, user: str, password: str) -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.port}/0"

    async def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            *(item for user in self.users for item in ("--user", *user.split())),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.02)
        raise TimeoutError("redis-server did not start")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
