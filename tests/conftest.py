"""One fake GitHub and one fake Thoth for the whole run; a fresh bot and repository per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fakes.github import FakeGitHub
from fakes.thoth import FakeThoth
from harness import BotUnderTest, bot_env, start_fakes


@pytest.fixture(scope="session")
def fakes() -> Iterator[tuple[FakeGitHub, FakeThoth]]:
    github, thoth = start_fakes()
    yield github, thoth
    github.stop()
    thoth.stop()


@pytest.fixture(scope="session")
def github(fakes: tuple[FakeGitHub, FakeThoth]) -> FakeGitHub:
    return fakes[0]


@pytest.fixture(scope="session")
def thoth(fakes: tuple[FakeGitHub, FakeThoth]) -> FakeThoth:
    return fakes[1]


@pytest.fixture
def env(github: FakeGitHub, thoth: FakeThoth, tmp_path: Path) -> dict[str, str]:
    return bot_env(github, thoth, tmp_path / "state")


@pytest.fixture
async def bot(env: dict[str, str], thoth: FakeThoth) -> AsyncIterator[BotUnderTest]:
    violations = len(thoth.violations)
    running = await BotUnderTest.from_env(env).start()
    yield running
    await running.close()
    assert thoth.violations[violations:] == [], "the bot broke Thoth's OpenAPI contract"
