"""The embedded engine's durable queue (SQLite under THOTH_BOT_STATE_DIR)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.jobs.store import SETTLE_CHUNK, Delivery, JobStore


def delivery(key: str, repo: str = "octo/app") -> Delivery:
    return Delivery(key=key, forge="github", event="push", repo=repo, payload="{}")


async def test_a_key_is_recorded_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    await store.open()
    try:
        assert await store.add(delivery("github:1")) is True
        assert await store.add(delivery("github:1")) is False
        assert (await store.counts())["queued"] == 1  # counted: moved into jobs
        batch = [delivery("github:1"), delivery("github:2"), delivery("github:2")]
        assert await store.add_all(batch) == [False, True, False]
        assert (await store.counts())["queued"] == 2
    finally:
        await store.close()


async def test_jobs_of_a_busy_repository_wait(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    await store.open()
    try:
        await store.add(delivery("github:1", "octo/a"))
        await store.add(delivery("github:2", "octo/a"))
        await store.add(delivery("github:3", "octo/b"))
        first = await store.claim(frozenset())
        assert first is not None and first.key == "github:1"
        second = await store.claim(frozenset({"octo/a"}))
        assert second is not None and second.key == "github:3"
        assert await store.claim(frozenset({"octo/a", "octo/b"})) is None
    finally:
        await store.close()


async def test_finished_jobs_are_pruned_and_running_ones_survive_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    await store.open()
    for key in ("github:done", "github:failed", "github:running"):
        await store.add(delivery(key, repo=key))
    done = await store.claim(frozenset())
    failed = await store.claim(frozenset())
    running = await store.claim(frozenset())
    assert done and failed and running
    await store.finish(done.id)
    await store.fail(failed.id, "boom")
    await store.close()  # as if the process died with one job running

    store = JobStore(path)
    await store.open()
    try:
        assert await store.recover() == 1
        later = time.time() + 1
        assert await store.prune(done_before=later, failed_before=0) == 1
        assert await store.job("github:done") is None
        assert (await store.job("github:failed"))["last_error"] == "boom"  # type: ignore[index]
        assert (await store.job("github:running"))["state"] == "queued"  # type: ignore[index]
        assert await store.add(delivery("github:done")) is True  # forgotten: new again
    finally:
        await store.close()


async def test_deliveries_recorded_before_a_crash_are_jobs_after_it(tmp_path: Path) -> None:
    """A delivery is answered once it is in `arrivals`; a process that dies before moving it
    into `jobs` loses nothing: the next one moves it at open, and still knows its key."""
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    await store.open()
    assert await store.add_all([delivery("github:1", "octo/a"), delivery("github:2", "octo/b")])
    assert await store.add(delivery("github:1", "octo/a")) is False  # not moved yet, still known
    store._executor.shutdown(wait=True)  # as if killed: no close, nothing moved
    assert store._db is not None
    store._db.close()

    store = JobStore(path)
    await store.open()
    try:
        assert await store.add(delivery("github:2", "octo/b")) is False
        first = await store.claim(frozenset())
        second = await store.claim(frozenset())
        assert [first and first.key, second and second.key] == ["github:1", "github:2"]
    finally:
        await store.close()


async def test_a_burst_waits_for_its_last_delivery_not_for_when_it_was_moved(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3", coalesce_window=0.3)
    await store.open()

    async def push(key: str) -> None:
        burst = "github:push:octo/a:refs/heads/main"
        await store.add(
            Delivery(
                key=key, forge="github", event="push", repo="octo/a", payload="{}", coalesce=burst
            )
        )

    try:
        await push("github:1")
        assert await store.claim(frozenset()) is None  # within the window
        await push("github:2")  # holds the burst back 0.3 s from now
        await asyncio.sleep(0.2)
        assert await store.claim(frozenset()) is None  # moved now, but it came 0.2 s ago
        assert (await store.counts())["queued"] == 2
        await asyncio.sleep(0.15)
        job = await store.claim(frozenset())
        assert job is not None and job.key == "github:2" and len(job.deliveries) == 2
    finally:
        await store.close()


async def test_arrivals_are_moved_a_chunk_at_a_time_and_in_order(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    await store.open()
    try:
        count = SETTLE_CHUNK * 2 + 50
        await store.add_all([delivery(f"github:{n}", f"octo/{n}") for n in range(count)])
        assert (await store.counts())["queued"] == count
        job = await store.claim(frozenset())
        assert job is not None and job.key == "github:0"
        assert await store.add(delivery(f"github:{count - 1}")) is False
    finally:
        await store.close()


async def test_two_processes_share_one_store(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`serve`'s web process records, its job process claims: each delivery is claimed once,
    in order, a key already recorded is refused whichever process moved it, and the web
    process's memory of recorded keys stays bounded while the other process moves them."""
    import bot.jobs.store as store_module

    monkeypatch.setattr(store_module, "SETTLE_AT", 20)
    web = JobStore(tmp_path / "jobs.sqlite3", shared=True)
    jobs = JobStore(tmp_path / "jobs.sqlite3", shared=True, fsync=False)
    await web.open()
    await jobs.open()
    try:
        claimed = []
        for number in range(60):
            assert await web.add(delivery(f"github:{number}", f"octo/r{number}")) is True
            if number % 3 == 2:  # the job process keeps up, a few at a time
                while (job := await jobs.claim(frozenset())) is not None:
                    claimed.append(job.key)
                    await jobs.finish(job.id)
        assert claimed == [f"github:{number}" for number in range(60)]
        assert await web.add(delivery("github:7", "octo/r7")) is False  # moved by the other
        assert await web.add(delivery("github:59", "octo/r59")) is False
        assert len(web._arrived) < 20  # forgotten once moved, not kept for ever
        assert (await web.counts())["done"] == 60
    finally:
        await jobs.close()
        await web.close()
