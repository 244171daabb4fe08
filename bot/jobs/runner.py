"""The embedded engine's workers (in the job process `serve` starts): claim a job, run it,
retry or give up; `attempt` settles one start of a job for both engines.

Jobs of one repository never run at the same time; retryable failures (a forge's 5xx, an
unreachable Thoth) come back after an exponential back-off with jitter, up to `max_attempts`.
An attempt is counted when the job is claimed, durably: a job that stops the process (out of
memory, a crash) is requeued at the next start with its attempts, and one claimed more than
`max_attempts` times is not run again but given up, said to people once, and marked failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot import logs
from bot.jobs.store import Job, JobStore

log = logging.getLogger(__name__)


class Counter(Protocol):
    def inc(self) -> None: ...


class Execute(Protocol):
    def __call__(self, job: Job, last_attempt: bool, *, gave_up: bool = False) -> Awaitable[None]:
        ...


# GitHub redelivers for 3 days at most: a delivery key is kept a week, a failure a month.
KEEP_DONE = 7 * 86400.0
KEEP_FAILED = 30 * 86400.0
PRUNE_EVERY = 3600.0


def backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped, with full jitter."""
    return random.uniform(0.5, 1.0) * min(cap, base * 2 ** (attempt - 1))


def retry_delay(error: Exception, job: Job, *, last_attempt: bool, base: float) -> float | None:
    """Seconds until a failed job's next attempt, or None when it has failed for good (both
    said in the log). Both engines decide this way."""
    if not getattr(error, "retryable", False) or last_attempt:
        log.error("job %s (%s) failed for good", job.key, job.repo, exc_info=error)
        return None
    delay = backoff(job.attempts, base=base)
    # A forge's Retry-After or rate limit reset wins over our own back-off.
    delay = max(delay, float(getattr(error, "retry_after", None) or 0.0))
    log.warning("job %s (%s) failed, retrying in %.1f s: %s", job.key, job.repo, delay, error)
    return delay


@dataclass(frozen=True)
class Settled:
    """How one start of a job ended: "done", "retried" (after `delay` seconds) or "failed"."""

    outcome: str
    delay: float = 0.0
    reason: str = ""


async def attempt(job: Job, execute: Execute, *, max_attempts: int, backoff_base: float) -> Settled:
    """One start of a job, the same in both engines. A job started more than `max_attempts`
    times without finishing (it stopped its process each time) is not run but given up: said
    to people once, failed for good. A failure is retried after a back-off, or failed for good
    when it is not retryable or this was the last attempt (the handlers then said it)."""
    if job.attempts > max_attempts:
        try:
            await execute(job, True, gave_up=True)
        except Exception as error:  # saying it failed: the job stays given up
            log.error("job %s (%s): reporting it was given up failed: %s", job.key, job.repo, error)
        starts = job.attempts - 1
        return Settled("failed", reason=f"given up: started {starts} times, never finished")
    last_attempt = job.attempts >= max_attempts
    try:
        await execute(job, last_attempt)
    except asyncio.CancelledError:
        raise  # shutting down: the job is taken up again at the next start
    except Exception as error:
        delay = retry_delay(error, job, last_attempt=last_attempt, base=backoff_base)
        if delay is not None:
            return Settled("retried", delay, describe(error))
        return Settled("failed", reason=describe(error))
    return Settled("done")


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        execute: Execute,
        *,
        workers: int = 4,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        poll_interval: float = 1.0,
        count: Callable[[str], Counter] | None = None,
    ):
        self._store = store
        self._execute = execute
        self._workers = workers
        self.max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._poll = poll_interval
        self._count = count  # outcome -> its counter (the metrics' job runs)
        self._busy: set[str] = set()
        self._claiming = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        recovered = await self._store.recover()
        if recovered:
            log.warning("requeued %d job(s) left unfinished by the previous run", recovered)
        self._tasks = [
            asyncio.create_task(self._work(), name=f"thoth-bot-worker-{i}")
            for i in range(self._workers)
        ]
        self._tasks.append(asyncio.create_task(self._prune(), name="thoth-bot-prune"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def notify(self) -> None:
        """A job was queued: wake an idle worker."""
        self._wakeup.set()

    async def drain(self, within: float = 60.0) -> None:
        """Wait until no job is running or queued, retries included (tests, operators)."""
        deadline = time.monotonic() + within
        while True:
            counts = await self._store.counts()
            if not self._busy and counts["queued"] == 0 and counts["running"] == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still running after {within} s: {counts}")
            self.notify()
            await asyncio.sleep(0.02)

    async def _prune(self) -> None:
        while True:
            now = time.time()
            try:
                pruned = await self._store.prune(
                    done_before=now - KEEP_DONE, failed_before=now - KEEP_FAILED
                )
            except Exception:  # a full disk must not stop the workers
                log.exception("pruning finished jobs failed")
            else:
                if pruned:
                    log.info("forgot %d finished job(s)", pruned)
            await asyncio.sleep(PRUNE_EVERY)

    async def _work(self) -> None:
        while True:
            async with self._claiming:
                job = await self._store.claim(frozenset(self._busy))
                if job is not None:
                    self._busy.add(job.repo)
            if job is None:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll)
                except TimeoutError:
                    pass
                continue
            try:
                await self._run(job)
            finally:
                self._busy.discard(job.repo)
                self.notify()

    async def _run(self, job: Job) -> None:
        with logs.context(delivery=job.key, repo=job.repo, job=job.id):
            await self._attempt(job)

    async def _attempt(self, job: Job) -> None:
        settled = await attempt(
            job, self._execute, max_attempts=self.max_attempts, backoff_base=self._backoff_base
        )
        if settled.outcome == "retried":
            await self._store.retry(job.id, settled.delay, settled.reason)
        elif settled.outcome == "failed":
            await self._store.fail(job.id, settled.reason)
        else:
            await self._store.finish(job.id)
        self._counted(settled.outcome)

    def _counted(self, outcome: str) -> None:
        if self._count is not None:
            self._count(outcome).inc()


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]
