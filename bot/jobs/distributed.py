"""The distributed engine (REDIS_URL): arq on Redis, any number of web and worker processes.

- A delivery becomes ONE arq job whose id is the delivery key: like arq's own `enqueue_job`,
  the web side refuses a second job with an id arq holds (queued, running, or finished within
  `KEEP_DELIVERY`), so a redelivery is a no-op. It writes the jobs of concurrent deliveries in
  one atomic script (group commit). Coalescable deliveries wait `coalesce_window` and are also
  listed in their group.
- A worker runs a job only under its repository's lease (a Redis key with a token and a short
  expiry, renewed while the job runs): never two jobs of one repository at once, across every
  worker. A repository that is busy sends the job back for a moment.
- While a job runs, its worker renews the lease and arq's own in-progress key every few
  seconds. Killed with -9, it renews nothing: both expire within `lease` seconds, and another
  worker takes the job (arq leaves a job in its queue until it finishes).
- Of a group of coalescable jobs, the newest runs, standing for the older ones still listed;
  those older ones, when their turn comes first, see a newer one waiting and step aside.
- Attempts are counted by the bot (not by arq, whose tries also count "repository busy"), when
  a job starts: retryable failures come back after the same back-off as the embedded engine's,
  up to `max_attempts`; the last attempt reports to people instead of raising. A job started
  more than `max_attempts` times (it killed its worker each time) is given up: said to people
  once, never run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import orjson
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import (
    default_queue_name,
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)
from arq.jobs import serialize_job
from arq.worker import Retry

from bot import logs
from bot.config import Settings
from bot.jobs.group_commit import GroupCommit
from bot.jobs.runner import attempt
from bot.jobs.store import Delivery, Job
from bot.metrics import Metrics

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


def _group_key(coalesce: str) -> str:
    return f"{PREFIX}group:{coalesce}"


def _payloads_key(coalesce: str) -> str:
    return f"{PREFIX}group-deliveries:{coalesce}"


# Enqueue a batch of arq jobs atomically, as `ArqRedis.enqueue_job` would one by one: a job is
# refused when arq holds its id (queued, running, or its result kept); a first-sighting
# delivery when its sighting is known. 11 arguments per job, after the queue's name.
_ENQUEUE = """
local queue = ARGV[1]
local added = {}
for b = 1, #ARGV - 1, 11 do
  local id, job_key, result_key, job = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local score, expires, now = ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  local group, deliveries, entry, sighting = ARGV[b + 8], ARGV[b + 9], ARGV[b + 10], ARGV[b + 11]
  local new = redis.call('EXISTS', job_key, result_key) == 0
  if new and sighting ~= '' then new = redis.call('EXISTS', sighting) == 0 end
  if new then
    redis.call('PSETEX', job_key, expires, job)
    redis.call('ZADD', queue, score, id)
    if group ~= '' then
      redis.call('ZADD', group, now, id)
      redis.call('HSET', deliveries, id, entry)
    end
    if sighting ~= '' then redis.call('SET', sighting, '1') end
  end
  added[#added + 1] = new and 1 or 0
end
return added
"""


class RedisQueue:
    """The web side: record deliveries as arq jobs. Deliveries that arrive while a batch is
    being written go together in the next one (one round trip, one script, atomic)."""

    def __init__(self, pool: ArqRedis, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self._enqueue = pool.register_script(_ENQUEUE)
        self._commits: GroupCommit[Delivery] = GroupCommit(self._write)

    @classmethod
    async def connect(cls, settings: Settings) -> RedisQueue:
        assert settings.redis_url
        return cls(await create_pool(RedisSettings.from_dsn(settings.redis_url)), settings)

    async def add_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        return await self._commits.add_all(deliveries)

    async def _write(self, deliveries: list[Delivery]) -> list[bool]:
        now = int(time.time() * 1000)
        window = int(self.settings.coalesce_window * 1000)
        args: list[Any] = [default_queue_name]
        for d in deliveries:
            score = now + (window if d.coalesce else 0)
            job = serialize_job(FUNCTION, (dict(vars(d)),), {}, None, now)  # plain strings
            args += [
                d.key,
                job_key_prefix + d.key,
                result_key_prefix + d.key,
                job,
                score,
                score - now + expires_extra_ms,
                now / 1000,
                _group_key(d.coalesce) if d.coalesce else "",
                _payloads_key(d.coalesce) if d.coalesce else "",
                orjson.dumps([d.event, d.payload]) if d.coalesce else "",
                f"{PREFIX}sighting:{d.first_sighting}" if d.first_sighting else "",
            ]
        return [bool(new) for new in await self._enqueue(args=args)]

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
        await self._commits.drain()
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


class Executor(Protocol):
    """What runs a job (`bot.executor.Executor`, in the worker's arq context)."""

    settings: Settings
    metrics: Metrics

    async def execute(self, job: Job, last_attempt: bool, *, gave_up: bool = False) -> None: ...


async def thoth_bot_job(ctx: dict[str, Any], delivery: dict[str, Any]) -> str:
    """arq's job function: one delivery (and the older ones of its group) run by the
    executor."""
    executor: Executor = ctx["executor"]
    redis: ArqRedis = ctx["redis"]
    job_id: str = ctx["job_id"]
    own = Delivery(**delivery)
    with logs.context(delivery=own.key, repo=own.repo, job=job_id):
        return await _run_job(executor, redis, job_id, own)


async def _run_job(executor: Executor, redis: ArqRedis, job_id: str, own: Delivery) -> str:
    settings = executor.settings
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
            settled = await attempt(
                job,
                executor.execute,
                max_attempts=settings.max_attempts,
                backoff_base=settings.retry_base,
            )
            executor.metrics.job_runs.labels(settled.outcome).inc()
            if settled.outcome == "retried":
                raise Retry(defer=settled.delay)
            if settled.outcome == "failed":
                await redis.incr(f"{PREFIX}jobs:failed")
                return f"failed: {settled.reason}"
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
