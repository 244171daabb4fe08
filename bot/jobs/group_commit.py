"""Group commit: deliveries that arrive while a write is in flight go together in the next one.

Both engines record a delivery durably before its webhook is answered; writing each alone
would make every answer wait for its own fsync (SQLite) or round trip (Redis). A `GroupCommit`
gathers what comes in meanwhile and hands it to its `write` as one batch, in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

Write = Callable[[list[T]], Awaitable[Sequence[bool]]]  # one flag per item: newly recorded


class GroupCommit(Generic[T]):
    def __init__(self, write: Write[T]) -> None:
        self._write = write
        self._pending: list[tuple[T, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add_all(self, items: Sequence[T]) -> list[bool]:
        """Record `items`, in this order, in one batch; False for those already recorded."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[bool]] = []
        for item in items:
            futures.append(loop.create_future())
            self._pending.append((item, futures[-1]))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        if len(futures) == 1:  # the usual case: one webhook, one delivery
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                written = await self._write([item for item, _ in batch])
            except Exception as error:  # the disk is full, Redis is gone: each one says so
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), new in zip(batch, written, strict=True):
                future.set_result(bool(new))

    async def drain(self) -> None:
        """Wait for the write in flight, if any."""
        if self._flusher is not None:
            await self._flusher
