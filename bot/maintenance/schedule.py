"""When the bot re-advises the repositories it serves, with their Pipfiles unchanged.

`tick` runs every `maintenance.tick` (embedded: in the job process `serve` starts; distributed:
an arq cron job, which one worker runs per tick). It queues a maintenance job
(`handlers.events.MaintainEvent`) for each repository whose schedule came (its `.thoth.yaml`'s
`schedule`, else the operators' `maintenance.schedule`), the oldest first, at most
`maintenance.per_installation` per installation and hour (counted from when each was queued):
an installation of thousands of repositories is spread over many hours, within the forge's
limits on content-creating requests (GitHub's pacer, `bot/github/polite.py`, keeps to them).
Each job's key names the repository and the moment it fell due, so that a tick run twice (two
workers, a restart) queues it once.

Between scheduled runs, every `maintenance.advisories` the versions each repository's locks
hold are checked against the vulnerability data, one query for all (no resolution): a lock with
an advisory published since, that a release fixes, gets its maintenance job now, naming it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace

from bot.advisers.osv import Vulnerabilities, VulnerabilitiesUnavailable
from bot.clock import REAL, Clock
from bot.jobs import records
from bot.jobs.queue import Queue
from bot.jobs.store import Delivery
from bot.maintenance.cadence import Cadence
from bot.maintenance.registry import Registry, ServedRepository
from handlers.events import MaintainEvent
from handlers.repo_config import SCHEDULES

log = logging.getLogger(__name__)
HOUR = 3600.0


def interval(repository: ServedRepository, cadence: Cadence) -> float | None:
    """Seconds between its scheduled runs; None: never."""
    if repository.schedule is None:
        return cadence.schedule
    return SCHEDULES.get(repository.schedule, cadence.schedule)


async def tick(
    registry: Registry,
    queue: Queue,
    cadence: Cadence,
    now: float,
    vulnerabilities: Vulnerabilities | None = None,
    check_advisories: bool = False,
) -> list[str]:
    """Queue what is due; the keys of the jobs queued."""
    current = {repository.key: repository for repository in await registry.all()}
    changed: set[str] = set()
    deliveries: list[Delivery] = []
    per_installation: dict[str, int] = defaultdict(int)  # runs within the last hour
    for repository in current.values():
        if repository.maintained > now - HOUR:
            per_installation[f"{repository.forge}:{repository.installation}"] += 1
    if check_advisories and vulnerabilities is not None:
        deliveries += await _advisory_runs(current, changed, vulnerabilities)
    due = []
    for repository in current.values():
        every = interval(repository, cadence)
        if every is None:
            continue
        since = max(repository.maintained, repository.added)
        if since + every <= now:
            due.append((since, since + every, repository))
    for _, at, repository in sorted(due, key=lambda item: item[0]):
        group = f"{repository.forge}:{repository.installation}"
        if per_installation[group] >= cadence.per_installation:
            continue
        per_installation[group] += 1
        delivery = records.delivery(
            f"{repository.forge}:maintain:{repository.full_name}:{int(at)}",
            repository.forge,
            MaintainEvent(repository.full_name),
            installation=repository.installation,
        )
        deliveries.append(delivery)
        current[repository.key] = replace(current[repository.key], maintained=now)
        changed.add(repository.key)
    for key in sorted(changed):
        await registry.update(current[key])
    if not deliveries:
        return []
    added = await queue.add_all(deliveries)
    queued = [delivery.key for delivery, new in zip(deliveries, added, strict=True) if new]
    if queued:
        log.info("queued %d maintenance jobs", len(queued))
    return queued


async def _advisory_runs(
    current: dict[str, ServedRepository], changed: set[str], vulnerabilities: Vulnerabilities
) -> list[Delivery]:
    """A maintenance job for each repository whose locks hold a release with an advisory not
    acted on yet, that a release fixes (`current` and `changed` updated)."""
    served = list(current.values())
    packages = {name for repository in served for name in repository.locked}
    if not packages:
        return []
    try:
        known = await vulnerabilities.advisories(packages, fresh=True)
    except VulnerabilitiesUnavailable as error:
        log.warning("the advisory check is skipped this time: %s", error)
        return []
    deliveries = []
    for repository in served:
        found = sorted(
            {
                advisory.id
                for name, version in repository.locked.items()
                for advisory in known.get(name, ())
                if advisory.affects(version) and advisory.fixed_after(version)
            }
        )
        new = [advisory for advisory in found if advisory not in repository.advisories]
        if not new:
            continue
        deliveries.append(
            records.delivery(
                f"{repository.forge}:advisory:{repository.full_name}:{','.join(new)}",
                repository.forge,
                MaintainEvent(repository.full_name, reason="advisory", advisories=tuple(new)),
                installation=repository.installation,
            )
        )
        current[repository.key] = replace(repository, advisories=(*repository.advisories, *new))
        changed.add(repository.key)
    return deliveries


class Maintainer:
    """Ticks in the process that runs jobs (the embedded mode's job process; a worker's cron
    job calls `run_once`)."""

    def __init__(
        self,
        registry: Registry,
        queue: Queue,
        cadence: Cadence,
        vulnerabilities: Vulnerabilities | None,
        clock: Clock = REAL,
    ) -> None:
        self.clock = clock
        self.registry = registry
        self.queue = queue
        self.cadence = cadence
        self.vulnerabilities = vulnerabilities
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: float) -> list[str]:
        every = self.cadence.advisories
        check = (
            every is not None
            and self.vulnerabilities is not None
            and await self.registry.claim_check(every, now)
        )
        return await tick(
            self.registry,
            self.queue,
            self.cadence,
            now,
            self.vulnerabilities,
            check_advisories=check,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="thoth-bot-maintenance")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.cadence.tick)
            try:
                await self.run_once(self.clock.now())
            except Exception:  # the next tick tries again; the jobs are not stopped by it
                log.exception("lock maintenance could not queue its jobs this time")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
