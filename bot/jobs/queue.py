"""Where the web process puts deliveries: one `Queue` protocol, two engines.

- `EmbeddedQueue` (the default): the SQLite `JobStore` in THOTH_BOT_STATE_DIR, run by a
  `JobRunner` in the job process `serve` starts (`bot.jobs.job_process`), or in this process.
- `bot.jobs.distributed.RedisQueue` (REDIS_URL set): arq on Redis, run by `thoth-bot worker`
  processes.

Both record a delivery durably before the webhook is answered 202, refuse a delivery key they
already hold, and run the same `Executor.execute` (`bot/executor.py`) on the same `Job`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bot.jobs.store import Delivery, JobStore


class Queue(Protocol):
    async def add_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Record deliveries, in order; False for each whose key was already recorded."""

    async def counts(self) -> dict[str, int]:
        """Jobs by state ("queued", "running", "done", "failed"), for /metrics."""

    async def ping(self) -> None:
        """Raise if the queue cannot take deliveries (for /readyz)."""

    async def close(self) -> None:
        """Stop: what is recorded stays recorded; running jobs are taken up again later."""


class EmbeddedQueue:
    def __init__(
        self, store: JobStore, *, wake: Callable[[], None], stop: Callable[[], Awaitable[None]]
    ) -> None:
        """`wake`: a job is ready; `stop`: stop what runs the jobs."""
        self.store = store
        self._wake = wake
        self._stop = stop

    async def add_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        added = await self.store.add_all(deliveries)
        window = self.store.coalesce_window
        if any(
            new and not (d.coalesce and window) for d, new in zip(deliveries, added, strict=True)
        ):
            self._wake()  # runnable now; a burst waits for its window (workers poll)
        return added

    async def counts(self) -> dict[str, int]:
        return await self.store.counts()

    async def ping(self) -> None:
        await self.store.ping()

    async def close(self) -> None:
        await self._stop()
        await self.store.close()
