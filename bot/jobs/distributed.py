"""The distributed engine (REDIS_URL): arq on Redis, any number of web and worker processes.

- A delivery becomes ONE arq job whose id is the delivery key: arq refuses a second job with
  an id it holds (queued, running, or finished within `KEEP_DELIVERY`), so a redelivery is a
  no-op. Coalescable deliveries wait `coalesce_window` and are also listed in their group.
- A worker runs a job only under its repository's lease (a Redis key with a token and a short
  expiry, renewed while the job runs): never two jobs of one repository at once, across every
  worker. A repository that is busy sends the job back for a moment.
- While a job runs, its worker renews the lease and arq's own in-progress key every few
  seconds. Killed with -9, it renews nothing: both expire within `lease` seconds, and another
  worker takes the job (arq leaves a job in its queue until it finishes).
- Of a group of coalescable jobs, the newest runs, standing for the older ones still listed;
  those older ones, when their turn comes first, see a newer one waiting and step aside.
- Attempts are counted by the bot (not by arq, whose tries also count "repository busy"):
  retryable failures come back after the same back-off as the embedded engine's, up to
  `max_attempts`; the last attempt reports to people instead of raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from arq import Worker, create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, in_progress_key_prefix
from arq.worker import Retry, func

from bot.config import Settings
from bot.jobs.runner import backoff, describe
from bot.jobs.store import Delivery, Job

if TYPE_CHECKING:
    from bot.runtime import Bot

log = logging.getLogger(__name__)

FUNCTION = "thoth_bot_job"
KEEP_DELIVERY = 7 * 86400  # a delivery key (arq's job result) is kept a week, as embedded
PREFIX = "thoth-bot:"
RUN_BUDGET = 900.0  # a job's own work beyond the adviser's timeout

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


def _group_key(coalesce: str) -> str:
    return f"{PREFIX}group:{coalesce}"


def _payloads_key(coalesce: str) -> str:
    return f"{PREFIX}group-deliveries:{coalesce}"


class RedisQueue:
    """The web side: record deliveries as arq jobs."""

    def __init__(self, pool: ArqRedis, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    @classmethod
    async def connect(cls, settings: Settings) -> RedisQueue:
        assert settings.redis_url
        return cls(await create_pool(redis_settings(settings.redis_url)), settings)

    async def add_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        return [await self._add(delivery) for delivery in deliveries]

    async def _add(self, delivery: Delivery) -> bool:
        sighting = f"{PREFIX}sighting:{delivery.first_sighting}"
        if delivery.first_sighting and await self.pool.exists(sighting):
            return False
        job = await self.pool.enqueue_job(
            FUNCTION,
            dataclasses.asdict(delivery),
            _job_id=delivery.key,
            _defer_by=self.settings.coalesce_window if delivery.coalesce else None,
        )
        if job is None:
            return False  # arq holds a job with this id: a redelivery
        if delivery.coalesce:
            async with self.pool.pipeline(transaction=True) as pipe:
                pipe.zadd(_group_key(delivery.coalesce), {delivery.key: time.time()})
                pipe.hset(
                    _payloads_key(delivery.coalesce),
                    delivery.key,
                    json.dumps([delivery.event, delivery.payload]),
                )
                await pipe.execute()
        if delivery.first_sighting:
            await self.pool.set(sighting, b"1")
        return True

    async def counts(self) -> dict[str, int]:
        queued = await self.pool.zcard(default_queue_name)
        running = 0
        async for _ in self.pool.scan_iter(match=f"{in_progress_key_prefix}*", count=1000):
            running += 1
        done, failed = await self.pool.mget(f"{PREFIX}jobs:done", f"{PREFIX}jobs:failed")
        return {
            "queued": max(0, queued - running),
            "running": running,
            "done": int(done or 0),
            "failed": int(failed or 0),
        }

    async def ping(self) -> None:
        await self.pool.ping()

    async def close(self) -> None:
        await self.pool.aclose()


class Lease:
    """A Redis key held with a random token: acquired with NX, renewed and released only by
    its holder, gone by itself `seconds` after its holder stops renewing it."""

    def __init__(self, redis: ArqRedis, key: str, seconds: float) -> None:
        self.redis, self.key, self.ms = redis, key, int(seconds * 1000)
        self.token = secrets.token_hex(16)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ms))

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.token, self.ms))

    async def release(self) -> None:
        await self.redis.eval(_RELEASE, 1, self.key, self.token)

    @contextlib.asynccontextmanager
    async def kept_alive(self, *also: str) -> AsyncIterator[None]:
        """Renew this lease, and set the expiry of the keys `also`, until the block ends."""

        async def renew() -> None:
            while True:
                await self.renew()
                for key in also:
                    await self.redis.pexpire(key, self.ms)
                await asyncio.sleep(self.ms / 3000)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def thoth_bot_job(ctx: dict[str, Any], delivery: dict[str, Any]) -> str:
    """arq's job function: one delivery (and the older ones of its group) run by `Bot`."""
    bot: Bot = ctx["bot"]
    redis: ArqRedis = ctx["redis"]
    job_id: str = ctx["job_id"]
    settings = bot.settings
    own = Delivery(**delivery)
    lease = Lease(redis, f"{PREFIX}repo:{own.repo}", settings.lease)
    if not await lease.acquire():
        raise Retry(defer=random.uniform(0.2, 1.0))  # the repository is busy elsewhere
    try:
        async with lease.kept_alive(in_progress_key_prefix + job_id):
            older = await _older_in_group(redis, own)
            if older is None:
                return "coalesced into a newer delivery of its group"
            attempts = await redis.incr(f"{PREFIX}attempts:{job_id}")
            await redis.expire(f"{PREFIX}attempts:{job_id}", KEEP_DELIVERY)
            job = Job(
                id=0,
                key=own.key,
                forge=own.forge,
                event=own.event,
                repo=own.repo,
                payload=own.payload,
                attempts=attempts,
                absorbed=tuple((event, payload) for _, event, payload in older),
            )
            last_attempt = attempts >= settings.max_attempts
            try:
                await bot.execute(job, last_attempt)
            except Exception as error:
                if getattr(error, "retryable", False) and not last_attempt:
                    delay = backoff(attempts, base=settings.retry_base)
                    delay = max(delay, float(getattr(error, "retry_after", None) or 0.0))
                    log.warning(
                        "job %s (%s) failed, retrying in %.1f s: %s",
                        own.key,
                        own.repo,
                        delay,
                        error,
                    )
                    raise Retry(defer=delay) from error
                log.exception("job %s (%s) failed for good", own.key, own.repo)
                await redis.incr(f"{PREFIX}jobs:failed")
                return f"failed: {describe(error)}"
            if own.coalesce:
                keys = [key for key, _, _ in older] + [own.key]
                await redis.zrem(_group_key(own.coalesce), *keys)
                await redis.hdel(_payloads_key(own.coalesce), *keys)
            await redis.incr(f"{PREFIX}jobs:done")
            return "done"
    finally:
        await lease.release()


async def _older_in_group(redis: ArqRedis, own: Delivery) -> list[tuple[str, str, str]] | None:
    """The older deliveries this job stands for, oldest first: (key, event, payload); None when
    a newer delivery of the group is waiting (it will stand for this one)."""
    if not own.coalesce:
        return []
    members = [m.decode() for m in await redis.zrange(_group_key(own.coalesce), 0, -1)]
    if own.key not in members:
        return []  # not listed (its web process died in between): it runs alone
    if members[-1] != own.key:
        return None
    older = members[:-1]
    if not older:
        return []
    stored = await redis.hmget(_payloads_key(own.coalesce), older)
    return [
        (key, *json.loads(value))
        for key, value in zip(older, stored, strict=True)
        if value is not None
    ]


async def run_worker(settings: Settings) -> None:
    """`thoth-bot worker`: run jobs until SIGINT/SIGTERM (running jobs go back to the queue)."""
    from bot.runtime import Bot

    assert settings.redis_url
    bot = Bot(settings)
    await bot.start()
    worker = Worker(
        functions=[func(thoth_bot_job, name=FUNCTION)],
        redis_settings=redis_settings(settings.redis_url),
        ctx={"bot": bot},
        max_jobs=settings.workers,
        job_timeout=settings.advise_timeout + RUN_BUDGET,
        keep_result=KEEP_DELIVERY,
        max_tries=1_000_000,  # the bot counts attempts itself (busy repositories retry freely)
        poll_delay=0.2,
        handle_signals=True,
    )
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass  # SIGINT/SIGTERM: arq has put the running jobs back
    finally:
        await worker.close()
        await bot.stop()
