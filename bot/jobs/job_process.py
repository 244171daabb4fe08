"""The embedded engine's jobs, in a process of their own.

`thoth-bot serve` answers webhooks in one process and runs its jobs in a child it starts,
`thoth-bot worker --embedded`, over the same SQLite store. Whatever a job does with what a
repository holds (parse a Pipfile, a `.thoth.yaml`, a lock; read index pages; start uv) costs
that process's CPU and memory, never the event loop that answers deliveries. A job that kills
its process (the kernel's OOM killer) leaves the webhook answering; `JobProcess` starts the
child again, whose runner counts the attempt and gives the job up after THOTH_BOT_MAX_ATTEMPTS.

The parent speaks to the child through the child's stdin: one byte per "a job is ready"
(written without blocking: a full pipe already wakes it), and end-of-file when the parent is
gone, on which the child stops (running jobs stay `running`, requeued at the next start); a
parent killed outright takes the child with it (Linux's parent-death signal), as one process
would have died. The child's side is `bot.embedded_worker`. The
child's first line on stdout is the port of its metrics on 127.0.0.1, which the parent's
`/metrics` includes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence

import aiohttp

log = logging.getLogger(__name__)

# A child that stopped is started again after this back-off (doubling to RESTART_CAP, and from
# the start again once a child ran for RESTART_RESET seconds).
RESTART_FIRST = 0.5
RESTART_CAP = 30.0
RESTART_RESET = 60.0
STOP_WITHIN = 10.0  # after end-of-file, then SIGKILL
STARTUP_WITHIN = 120.0  # the child's first line (its imports, its store, its recovery)


class JobProcess:
    """The web process's side: start the child, wake it, read its metrics, stop it."""

    def __init__(self, arguments: Sequence[str] = ()) -> None:
        self._arguments = ["-m", "bot", "worker", "--embedded", *arguments]
        self._stopped: Callable[[str], None] | None = None
        self._wakeup: int | None = None  # the write end of the child's stdin
        self._port: int | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self, *, stopped: Callable[[str], None] | None = None) -> None:
        """Start the child in the background: deliveries are taken meanwhile, and wait.
        `stopped("killed" | "exited")` is told each time the child stops unasked."""
        self._session = aiohttp.ClientSession()  # to read the child's metrics
        self._stopped = stopped
        self._supervisor = asyncio.create_task(self._supervise(), name="thoth-bot-job-process")

    def notify(self) -> None:
        """A job is ready: wake the child."""
        if self._wakeup is None:
            return
        try:
            os.write(self._wakeup, b".")
        except (BlockingIOError, BrokenPipeError):
            pass  # already woken, or stopped (its successor claims what is ready at start)

    async def metrics(self) -> bytes:
        """The child's metrics in the text exposition; empty while it is not running."""
        if self._port is None or self._session is None:
            return b""
        try:
            async with self._session.get(
                f"http://127.0.0.1:{self._port}/metrics", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                return await response.read() if response.status == 200 else b""
        except (aiohttp.ClientError, TimeoutError):
            return b""

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _supervise(self) -> None:
        delay = RESTART_FIRST
        while True:
            started = time.monotonic()
            status = await self._run_once()
            if time.monotonic() - started > RESTART_RESET:
                delay = RESTART_FIRST
            if self._stopped is not None:
                self._stopped("killed" if status is not None and status < 0 else "exited")
            log.error(
                "the job process stopped (%s); starting it again in %.1f s (the webhook "
                "keeps answering meanwhile)",
                _described(status),
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(RESTART_CAP, delay * 2)

    async def _run_once(self) -> int | None:
        """Run one child until it stops; its exit status. Cancelled: stop it first."""
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *self._arguments, stdin=read_end, stdout=asyncio.subprocess.PIPE
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        self._wakeup = write_end
        try:
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), STARTUP_WITHIN)
            except TimeoutError:
                log.error("the job process did not start within %d s", STARTUP_WITHIN)
                process.kill()
            else:
                if line.strip().isdigit():
                    self._port = int(line)
                    self.notify()  # what arrived while it started
            return await process.wait()
        finally:
            # End-of-file on its stdin: a child still running (cancelled: the web process
            # stops) stops its jobs and exits, or is killed.
            self._port = self._wakeup = None
            os.close(write_end)
            if process.returncode is None:
                try:
                    await asyncio.wait_for(asyncio.shield(process.wait()), STOP_WITHIN)
                except TimeoutError:
                    process.kill()
                    await process.wait()


def _described(status: int | None) -> str:
    if status is None:
        return "no status"
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"
