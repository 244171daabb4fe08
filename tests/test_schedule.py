"""Lock maintenance's schedule (`bot/maintenance/`): which repositories fall due, how many per
installation and tick, that a tick run twice queues nothing twice, that the list survives a
restart, and the advisory check against a fake OSV serving real advisories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from fakes.osv import FakeOsv, record

from bot.advisers.osv import OsvApi
from bot.jobs.store import Delivery
from bot.maintenance.cadence import Cadence
from bot.maintenance.registry import SqliteRegistry
from bot.maintenance.schedule import Maintainer, tick

DAY = 86400.0
START = 1_800_000_000.0


class Recorded:
    """A queue that keeps what it is given and refuses a key it holds, as both engines do."""

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}

    async def add_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        added = []
        for delivery in deliveries:
            added.append(delivery.key not in self.deliveries)
            self.deliveries.setdefault(delivery.key, delivery)
        return added

    def events(self) -> list[dict]:
        return [json.loads(d.payload) for d in self.deliveries.values()]


async def served(path: Path, names: Sequence[str], installation: int = 7) -> SqliteRegistry:
    registry = SqliteRegistry(path)
    for name in names:
        await registry.seen("github", name, installation, START)
    return registry


async def test_a_repository_falls_due_a_schedule_after_it_was_seen_and_once_per_period(
    tmp_path: Path,
) -> None:
    registry = await served(tmp_path / "served.sqlite3", ["octo-org/a", "octo-org/b"])
    await registry.note("github", "octo-org/b", schedule="daily", locked={})
    queue, cadence = Recorded(), Cadence()

    assert await tick(registry, queue, cadence, START + DAY - 1) == []
    daily = await tick(registry, queue, cadence, START + DAY)
    again = await tick(registry, queue, cadence, START + DAY + 60)
    weekly = await tick(registry, queue, cadence, START + 7 * DAY)

    assert daily == ["github:maintain:octo-org/b:1800086400"]
    assert again == []
    assert weekly == [  # a's first week; b's day after its last run, late but once
        "github:maintain:octo-org/a:1800604800",
        "github:maintain:octo-org/b:1800172800",
    ]
    [event, *_] = queue.events()
    assert event["kind"] == "maintain" and event["reason"] == "schedule"
    assert event["installation"] == 7


async def test_an_installation_of_many_repositories_is_spread_over_hours(tmp_path: Path) -> None:
    names = [f"octo-org/app-{number}" for number in range(50)]
    registry = await served(tmp_path / "served.sqlite3", names)
    queue, cadence = Recorded(), Cadence(per_installation=20)

    rounds = [
        len(await tick(registry, queue, cadence, START + 7 * DAY + minutes * 60))
        for minutes in (0, 1, 59, 60, 61, 120, 180)
    ]

    assert rounds == [20, 0, 0, 20, 0, 10, 0]
    assert len({e["full_name"] for e in queue.events()}) == 50


async def test_the_schedule_survives_a_restart_and_off_means_never(tmp_path: Path) -> None:
    path = tmp_path / "served.sqlite3"
    registry = await served(path, ["octo-org/a", "octo-org/quiet"])
    await registry.note("github", "octo-org/quiet", schedule="off", locked={})
    queue = Recorded()
    assert len(await tick(registry, queue, Cadence(), START + 7 * DAY)) == 1
    await registry.close()

    reopened = SqliteRegistry(path)  # the job process started again
    assert await tick(reopened, queue, Cadence(), START + 7 * DAY + 60) == []
    assert len(await tick(reopened, queue, Cadence(), START + 14 * DAY)) == 1
    assert {e["full_name"] for e in queue.events()} == {"octo-org/a"}


async def test_a_new_advisory_for_a_locked_release_queues_its_security_run_once(
    tmp_path: Path,
) -> None:
    registry = await served(tmp_path / "served.sqlite3", ["octo-org/web", "octo-org/safe"])
    await registry.note("github", "octo-org/web", schedule=None, locked={"flask": "2.3.1"})
    await registry.note("github", "octo-org/safe", schedule=None, locked={"flask": "2.3.2"})
    queue = Recorded()
    with FakeOsv() as osv:
        async with aiohttp.ClientSession() as session:
            maintainer = Maintainer(registry, queue, Cadence(), OsvApi(session, osv.url))
            assert await maintainer.run_once(START + 60) == []  # nothing published yet

            osv.publish(record("PYSEC-2023-62"))  # flask 2.3.1's, fixed in 2.3.2
            assert await maintainer.run_once(START + DAY + 120) == [
                "github:advisory:octo-org/web:PYSEC-2023-62"
            ]
            assert await maintainer.run_once(START + 2 * DAY + 180) == []  # acted on

    [event] = queue.events()
    assert event["reason"] == "advisory" and event["advisories"] == ["PYSEC-2023-62"]
