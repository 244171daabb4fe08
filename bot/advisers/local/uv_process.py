"""How uv runs: the process that touches repository-chosen packages holds nothing it does not need.

- **No inherited environment.** uv gets an allow-listed environment built here: its own
  temporary HOME and TMPDIR, the uv cache, the egress proxy as its only way out, and the
  credentials of the indexes this resolution may use (uv's `UV_INDEX_<NAME>_USERNAME` and
  `_PASSWORD`, for the named index only). Never the bot's tokens, keys or webhook secrets.
- **No build, outside the sandbox.** `--no-build`: uv resolves from wheels only and never
  downloads an sdist, so no package's `setup.py` or build backend runs (uv 0.13 refuses every
  sdist with it, even one whose metadata is static). Where the operator allows isolated builds,
  a resolution that needs one runs again inside the sandbox (`sandbox.py`), with a cache of its
  own, so that a build never writes what another repository's resolution reads.
- **Bounded in time and number.** uv runs in a process group of its own; on timeout or
  cancellation the whole group is killed, children included. At most `concurrency` uv
  processes run at once in this process, however many resolutions are asked for.
- **Bounded on disk.** The shared cache is measured every few minutes; over `cache_limit` it is
  pruned (`uv cache prune`), and emptied (`uv cache clean`) if that is not enough, while no
  other uv of this process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.advisers.local.egress import Allowlist, EgressProxy, Refusal
from bot.advisers.local.sandbox import Sandbox

log = logging.getLogger(__name__)

# From the bot's environment, only what TLS and locale need.
PASSED_THROUGH = ("SSL_CERT_FILE", "SSL_CERT_DIR", "LANG", "LC_ALL")
STDERR_LIMIT = 256 * 1024  # what is kept of uv's messages
CACHE_LIMIT = 10 * 1024**3  # bytes of uv cache kept (adviser.cache_size)
CACHE_CHECK_EVERY = 600.0  # seconds between two measures of the cache


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True)
class Index:
    """A package index one resolution may use; `credentials` go to it alone."""

    url: str  # without user information
    credentials: Credentials | None = None


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stderr: str
    refused: tuple[Refusal, ...]  # connections the egress proxy refused
    timed_out: bool = False


def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


class UvRunner:
    """Runs uv commands through one egress proxy, with one shared wheels-only cache; builds,
    when a `sandbox` is given, only inside it, each with a throw-away cache."""

    def __init__(
        self,
        *,
        cache_dir: Path,
        sandbox: Sandbox | None = None,
        concurrency: int = 2,
        cache_limit: int = CACHE_LIMIT,
    ) -> None:
        self.cache_dir = cache_dir
        self.sandbox = sandbox
        self.proxy = EgressProxy()
        self.concurrency = concurrency
        self.cache_limit = cache_limit
        self._slots = asyncio.Semaphore(concurrency)
        self._measured = -CACHE_CHECK_EVERY  # monotonic time of the last measure

    @property
    def may_build(self) -> bool:
        return self.sandbox is not None

    async def run(
        self,
        arguments: Sequence[str],
        *,
        cwd: Path,
        allowlist: Allowlist,
        credentials: Mapping[str, Credentials],
        limit: float,
        build: bool = False,
    ) -> Outcome:
        """`uv ARGUMENTS --no-build` in `cwd`; `credentials` by uv index name. With `build`,
        `uv ARGUMENTS` in the sandbox, with a cache of its own that dies with it."""
        await self.proxy.start()
        async with self._slots:
            outcome = await self._run(arguments, cwd, allowlist, credentials, limit, build)
        if time.monotonic() - self._measured >= CACHE_CHECK_EVERY:
            self._measured = time.monotonic()
            await self.keep_cache_small()
        return outcome

    async def keep_cache_small(self) -> int:
        """Prune the cache when it is over `cache_limit` bytes, empty it when pruning is not
        enough; its size afterwards."""
        size = await asyncio.to_thread(_size, self.cache_dir)
        for command in ("prune", "clean"):
            if size <= self.cache_limit:
                break
            for _ in range(self.concurrency):  # every slot: no uv of ours uses the cache
                await self._slots.acquire()
            try:
                process = await asyncio.create_subprocess_exec(
                    uv_binary(), "cache", command, "--quiet",
                    env={"PATH": "/usr/bin:/bin", "UV_CACHE_DIR": str(self.cache_dir)},
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                await process.wait()
            finally:
                for _ in range(self.concurrency):
                    self._slots.release()
            after = await asyncio.to_thread(_size, self.cache_dir)
            log.info("uv cache %s: %d MB -> %d MB", command, size >> 20, after >> 20)
            size = after
        return size

    async def _run(
        self,
        arguments: Sequence[str],
        cwd: Path,
        allowlist: Allowlist,
        credentials: Mapping[str, Credentials],
        limit: float,
        build: bool,
    ) -> Outcome:
        with (
            self.proxy.session(allowlist) as session,
            tempfile.TemporaryDirectory(prefix="thoth-bot-uv-home-") as home,
        ):
            proxy = self.proxy.url(session)
            env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
            env |= {
                "PATH": "/usr/bin:/bin",
                "HOME": home,
                "TMPDIR": home,
                "UV_CACHE_DIR": str(self.cache_dir),
                "UV_NO_PROGRESS": "1",
                "UV_PYTHON_DOWNLOADS": "never",
                "NO_COLOR": "1",
                "HTTP_PROXY": proxy,
                "HTTPS_PROXY": proxy,
                "ALL_PROXY": proxy,
                "NO_PROXY": "",
            }
            for name, secret in credentials.items():
                variable = "UV_INDEX_" + "".join(c if c.isalnum() else "_" for c in name).upper()
                env[f"{variable}_USERNAME"] = secret.username
                env[f"{variable}_PASSWORD"] = secret.password
            command = [uv_binary(), *arguments, "--no-build"]
            if build:
                if self.sandbox is None:
                    raise RuntimeError("builds run only in a sandbox")
                for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
                    env.pop(name)  # the relay inside the sandbox is its proxy
                env["UV_CACHE_DIR"] = str(Path(home) / "uv-cache")
                command = self.sandbox.wrap(
                    [uv_binary(), *arguments],
                    workdir=cwd,
                    home=Path(home),
                    socket_path=self.proxy.socket_path,
                    token=session.token,
                    env=env,
                )
                env = {"PATH": "/usr/bin:/bin"}  # bubblewrap's own; uv's is set inside
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group, killed whole
            )
            try:
                async with asyncio.timeout(limit):
                    stderr = await _bounded(process.stderr)
                    await process.wait()
            except TimeoutError:
                return Outcome(-9, "", tuple(session.refused), timed_out=True)
            finally:
                _kill_group(process)
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
            return Outcome(
                process.returncode or 0,
                stderr.decode(errors="replace"),
                tuple(session.refused),
            )

    async def close(self) -> None:
        await self.proxy.close()


def _size(directory: Path) -> int:
    """Bytes on disk under `directory`."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


async def _bounded(stream: asyncio.StreamReader | None) -> bytes:
    """The first STDERR_LIMIT bytes; the rest is read and dropped, so uv never blocks."""
    kept = b""
    while stream is not None and (chunk := await stream.read(65536)):
        kept += chunk[: max(0, STDERR_LIMIT - len(kept))]
    return kept


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
