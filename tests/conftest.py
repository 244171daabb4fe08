"""One fake GitHub and one fake Thoth for the whole run; a fresh bot and repository per test.

Every lock the bot commits during a test is checked afterwards with the real `pipenv verify`.
Every line any bot logs during the run is kept (JSON, DEBUG) and, at the end, searched for the
run's secrets: one found fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fakes.github import FakeGitHub
from fakes.gitlab import FakeGitLab
from fakes.thoth import FakeThoth
from harness import (
    GITLAB_SECRET,
    GITLAB_TOKEN,
    SECRET,
    TEST_LOGS,
    BotUnderTest,
    app_keys,
    bot_env,
    bot_logs,
    start_fakes,
    start_gitlab,
)
from tools import pipenv_verify


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


@pytest.fixture(scope="session")
def gitlab() -> Iterator[FakeGitLab]:
    fake = start_gitlab()
    yield fake
    fake.stop()


@pytest.fixture(scope="session", autouse=True)
def every_log_line(github: FakeGitHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's logs as the bot writes them: in-process bots through the bot's own handler on
    the root logger, bots run as processes (`BotProcess`) through their stderr, into this
    directory. Afterwards, none may hold a secret of the run (a failure at teardown says where)."""
    directory = tmp_path_factory.mktemp("logs")
    os.environ[TEST_LOGS] = str(directory)
    with (directory / "in-process.log").open("w", encoding="utf-8") as stream, bot_logs(stream):
        yield directory
    secrets = {SECRET, GITLAB_TOKEN, GITLAB_SECRET, *github.tokens}
    secrets.update(line for line in app_keys()[0].splitlines() if "-----" not in line)
    leaks = [
        f"{path}:{number}: {name}"
        for path in sorted(tmp_path_factory.getbasetemp().rglob("*.log"))
        for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1)
        for name in [_leak(line, secrets)]
        if name
    ]
    assert not leaks, "secrets in the logs:\n" + "\n".join(leaks[:20])


def _leak(line: str, secrets: set[str]) -> str | None:
    for secret in secrets:
        if secret in line:
            return f"{secret[:6]}... (a configured secret or a minted token)"
    if "PRIVATE KEY-----" in line:
        return "a PEM private key"
    return None


@pytest.fixture
def env(github: FakeGitHub, gitlab: FakeGitLab, thoth: FakeThoth, tmp_path: Path) -> dict[str, str]:
    """The bot serves GitHub and GitLab at once, as an operator may configure it."""
    return bot_env(github, thoth, tmp_path / "state", gitlab=gitlab)


@pytest.fixture
async def bot(
    env: dict[str, str], github: FakeGitHub, gitlab: FakeGitLab, thoth: FakeThoth, tmp_path: Path
) -> AsyncIterator[BotUnderTest]:
    violations = len(thoth.violations)
    commits, gitlab_commits = len(github.bot_commits), len(gitlab.bot_commits)
    running = await BotUnderTest.from_env(env).start()
    yield running
    await running.close()
    assert thoth.violations[violations:] == [], "the bot broke Thoth's OpenAPI contract"
    written = github.locks_written(commits) + gitlab.locks_written(gitlab_commits)
    assert_pipenv_accepts(written, tmp_path / "pipenv-verify")


def assert_pipenv_accepts(locks: list[tuple[str, str, str]], directory: Path) -> None:
    """Real `pipenv verify` on each (where, Pipfile, Pipfile.lock)."""
    projects = []
    for number, (_, pipfile, lock) in enumerate(locks):
        project = directory / str(number)
        project.mkdir(parents=True)
        (project / "Pipfile").write_text(pipfile)
        (project / "Pipfile.lock").write_text(lock)
        projects.append(project)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(pipenv_verify, projects))
    rejected = [
        f"{where}: {result.stdout}{result.stderr}"
        for (where, _, _), result in zip(locks, results, strict=True)
        if result.returncode != 0
    ]
    assert rejected == [], "pipenv verify rejected locks the bot wrote"
