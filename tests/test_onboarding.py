"""Installing the App (SPEC §7.4): each repository with a Pipfile gets one onboarding pull
request with its lock(s), the hooks and, where missing, a `.thoth.yaml` that `thamos` accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import payloads
import pytest
from fakes.github import FakeGitHub
from harness import LOCK_BRANCH, BotUnderTest, new_repo_name, pipfile
from test_push import push_and_settle
from tools import tool_bin

pytestmark = pytest.mark.usefixtures("fakes")


def thamos_accepts(config_text: str, tmp_path: Path) -> None:
    """The file passes the schema check of the real `thamos check` (thamos's own schema)."""
    config = tmp_path / ".thoth.yaml"
    config.write_text(config_text)
    script = (
        "import sys, yaml, jsonschema\n"
        "from thamos.config import _CONFIG_SCHEMA\n"
        "jsonschema.validate(yaml.safe_load(open(sys.argv[1])), _CONFIG_SCHEMA)\n"
    )
    result = subprocess.run(
        [str(tool_bin("thamos", "python")), "-c", script, str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


async def test_an_install_on_two_repositories_opens_one_onboarding_pull_request(
    bot: BotUnderTest, github: FakeGitHub, tmp_path: Path
) -> None:
    with_pipfile, installation = new_repo_name("service")
    without = with_pipfile.replace("service", "website")
    github.create_repo(with_pipfile, {"Pipfile": pipfile("flask")}, installation=installation)
    github.create_repo(without, {"index.html": "<p>hi</p>\n"}, installation=installation)
    payload = payloads.installation_created(installation, [with_pipfile, without])

    status, _ = await bot.deliver("installation", payload, delivery="install-1")
    await bot.settle()
    again, _ = await bot.deliver("installation", payload, delivery="install-1")
    await bot.settle()

    assert (status, again) == (202, 200)
    assert github.pulls(without) == [] and github.head(without, LOCK_BRANCH) is None
    [pull] = github.pulls(with_pipfile)
    assert pull.title.startswith("Set up thoth-bot")
    assert "Adds `.thoth.yaml`" in pull.body
    files = github.files(with_pipfile, LOCK_BRANCH)
    added = sorted(p for p in files if p not in github.files(with_pipfile, "main"))
    assert added == [".s2i/bin/assemble", ".s2i/environment", ".thoth.yaml", "Pipfile.lock"]
    config = files[".thoth.yaml"]
    assert "node_class: cpu-x86-64-v3" in config and "#   gpu-a100: NVIDIA A100" in config
    thamos_accepts(config, tmp_path)
    assert json.loads(files["Pipfile.lock"])["default"]["flask"]["version"] == "==3.0.3"
    assert len(github.comments(with_pipfile, pull.number)) == 1  # the guidance


async def test_repositories_added_later_are_onboarded(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("six")}, installation=installation)

    status, _ = await bot.deliver(
        "installation_repositories", payloads.installation_repositories_added(installation, [repo])
    )
    await bot.settle()

    assert status == 202
    assert len(github.pulls(repo)) == 1


async def test_an_install_on_all_repositories_asks_github_which_they_are(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("six")}, installation=installation)
    payload = payloads.installation_created(installation, [], selection="all")

    await bot.deliver("installation", payload)
    await bot.settle()

    assert any(c.path.startswith("/installation/repositories") for c in github.calls)
    assert len(github.pulls(repo)) == 1


async def test_an_existing_configuration_is_kept_and_overlays_are_onboarded(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    config = (
        "host: thoth.example.com\noverlays_dir: envs\nruntime_environments:\n"
        "  - name: gpu-a100\n  - name: cpu-x86-64-v3\n"
    )
    github.create_repo(
        repo,
        {".thoth.yaml": config, "envs/gpu-a100/Pipfile": pipfile("torch")},
        installation=installation,
    )

    await bot.deliver("installation", payloads.installation_created(installation, [repo]))
    await bot.settle()

    [pull] = github.pulls(repo)
    assert not pull.title.startswith("Set up")
    files = github.files(repo, LOCK_BRANCH)
    assert files[".thoth.yaml"] == config
    lock = json.loads(files["envs/gpu-a100/Pipfile.lock"])
    assert lock["default"]["torch"]["version"] == "==2.3.1+cu122"
    assert "envs/cpu-x86-64-v3/Pipfile.lock" not in files  # it has no Pipfile yet


async def test_a_push_while_onboarding_is_open_keeps_the_configuration_in_it(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    await bot.deliver("installation", payloads.installation_created(installation, [repo]))
    await bot.settle()
    [pull] = github.pulls(repo)

    push = await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("six")})

    assert [p.number for p in github.pulls(repo, "open")] == [pull.number]
    head = github.commit(repo, github.head(repo, LOCK_BRANCH) or "")
    assert head.parents == (push.after,)
    assert ".thoth.yaml" in github.files(repo, LOCK_BRANCH)
    assert github.pulls(repo)[0].title.startswith("Set up thoth-bot")


async def test_uninstalling_forgets_the_installation_token(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    mints = f"/app/installations/{installation}/access_tokens"
    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("six")})
    deleted = payloads.fixture("installation/deleted.payload.json")
    deleted["installation"]["id"] = installation

    assert (await bot.deliver("installation", deleted))[0] == 202
    await bot.settle()
    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("numpy")})

    assert len([c for c in github.calls if c.path == mints]) == 2


async def test_a_broken_pipfile_at_install_is_said_in_the_failure_issue(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": "[packages\n"}, installation=installation)

    await bot.deliver("installation", payloads.installation_created(installation, [repo]))
    await bot.settle()

    assert github.pulls(repo) == []
    [issue] = github.issues(repo)
    assert issue.title == "thoth-bot: cannot lock dependencies"
    assert "**`Pipfile:1`**: invalid TOML" in issue.body
    assert (await bot.get("/healthz"))[0] == 200


async def test_removing_repositories_forgets_the_token_and_onboards_nothing(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    removed = payloads.fixture("installation_repositories/removed.payload.json")
    removed["installation"]["id"] = installation
    mark = len(github.calls)

    status, _ = await bot.deliver("installation_repositories", removed)
    await bot.settle()

    assert status == 202
    assert github.calls_since(mark) == [] and github.pulls(repo) == []
