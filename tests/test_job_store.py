"""The embedded engine's durable queue (SQLite under THOTH_BOT_STATE_DIR)."""

from __future__ import annotations

import time
from pathlib import Path

from bot.jobs.store import Delivery, JobStore


def delivery(key: str, repo: str = "octo/app") -> Delivery:
    return Delivery(key=key, forge="github", event="push", repo=repo, payload="{}")


async def test_a_key_is_recorded_once(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    await store.open()
    try:
        assert await store.add(delivery("github:1")) is True
        assert await store.add(delivery("github:1")) is False
        assert (await store.counts())["queued"] == 1
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
