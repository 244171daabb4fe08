"""An installation of many repositories, all due for maintenance at once, re-advised without a
single secondary-rate-limit error from the fake GitHub, which enforces GitHub's documented limits
on content-creating requests (80 a minute, 500 an hour). The fake, the bot's pacer and its
schedule read one clock, which the test moves on: hours of schedule pass in seconds.

The suite runs 500 repositories (THOTH_BOT_TEST_REPOSITORIES sets how many); `bench/maintenance.py`
runs 2,000 and reports the figures."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path

from fakes.github import FakeGitHub
from fakes.thoth import FakeThoth
from harness import APP_ID, app_keys, bot_env, pipfile

from bot.clock import Clock
from bot.config import load_settings
from bot.runtime import Role, open_bot

REPOSITORIES = int(os.environ.get("THOTH_BOT_TEST_REPOSITORIES", "500"))
INSTALLATION = 777_001
START = 1_800_000_000.0
WEEK = 7 * 86400.0
TICK = 600.0  # the test looks at the schedule every ten minutes of the clock
OUTDATED = json.dumps(
    {"_meta": {"hash": {"sha256": "0" * 64}}, "default": {"flask": {"version": "==2.0.0"}}}
)


class MovingClock:
    """One clock for the fake and the bot: a sleep moves it on at once."""

    def __init__(self, start: float) -> None:
        self.time = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.time += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


async def maintain_all(
    github: FakeGitHub, thoth: FakeThoth, state: Path, count: int = REPOSITORIES
) -> dict[str, float]:
    """`count` repositories of one installation maintained once each; the run's figures."""
    clock = MovingClock(START)
    github.clock, github.content_limits = clock.now, ((80, 60.0), (500, 3600.0))
    names = [f"paced-org/app-{number}" for number in range(count)]
    for name in names:
        github.create_repo(
            name,
            {"Pipfile": pipfile("flask"), "Pipfile.lock": OUTDATED},
            installation=INSTALLATION,
        )
    settings = load_settings(None, {**bot_env(github, thoth, state), "THOTH_BOT_WORKERS": "4"})
    bot = await open_bot(
        settings, Role.ALL_IN_ONE, clock=Clock(clock.now, clock.now, clock.sleep)
    )
    assert bot.executor is not None and bot.maintainer is not None and bot.runner is not None
    await bot.maintainer.stop()  # the test ticks it, on its clock
    try:
        for name in names:
            await bot.executor.registry.seen("github", name, INSTALLATION, clock.now())
        clock.advance(WEEK)
        writes_before = sum(call.method != "GET" for call in github.calls)
        while sum(bool(github.pulls(name)) for name in names) < len(names):
            await bot.maintainer.run_once(clock.now())
            await bot.runner.drain(120)
            clock.advance(TICK)
            assert clock.now() - START - WEEK < 30 * 86400, "not done within a month"
        writes = sum(call.method != "GET" for call in github.calls) - writes_before
        return {
            "repositories": len(names),
            "hours": (clock.now() - START - WEEK) / 3600,
            "writes": writes,
            "secondary_limit_errors": github.secondary_limit_errors,
        }
    finally:
        await bot.stop()
        github.content_limits = ()


async def test_thousands_of_repositories_are_maintained_within_githubs_secondary_limits(
    thoth: FakeThoth, tmp_path: Path
) -> None:
    # A GitHub of its own: thousands of calls would use up the shared one's rate limit.
    github = FakeGitHub(app_id=APP_ID, public_key=app_keys()[1]).start()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # thousands of jobs: their INFO lines say nothing new here
    try:
        figures = await maintain_all(github, thoth, tmp_path / "state")
    finally:
        root.setLevel(level)
        github.stop()

    assert figures["secondary_limit_errors"] == 0
    assert figures["writes"] >= 6 * REPOSITORIES  # each a commit, a pull request, a comment...
    assert figures["hours"] >= REPOSITORIES / 60 - 1  # spread as the schedule says: 60 an hour
