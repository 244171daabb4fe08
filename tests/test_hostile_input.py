"""Bounded under hostile input (SPEC §10): what a fork or a stranger's repository can hold is
refused before it costs the bot, with a Problem naming the file and the limit, and the bot
keeps serving. Each attack is built here and sent to a running bot or to the CLI; the test
reports what it cost (time, the bot process's memory) without asserting timings."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.github import FakeGitHub
from fakes.thoth import FakeThoth
from harness import LOCK_BRANCH, BotUnderTest, new_repo_name, pipfile
from test_push import push_and_settle
from test_push_failures import FAILURE_TITLE

from handlers import limits
from handlers.pipfile import parse_pipfile
from handlers.problems import Problem
from handlers.repo_config import load_repo_config

pytestmark = pytest.mark.usefixtures("fakes")


def alias_bomb(levels: int = 9) -> str:
    """A `.thoth.yaml` of a few hundred bytes whose aliases expand to 9**9 strings."""
    lines = ['a0: &a0 ["xxxxxxxx"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines += ["host: thoth.example.com", "runtime_environments:", "  - name: cpu-x86-64-v3"]
    return "\n".join(lines) + "\n"


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def test_an_alias_bomb_is_refused_before_it_expands(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 600
    repo, installation = new_repo_name("bomb")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    before, started = peak_kib(), time.monotonic()

    await push_and_settle(bot, github, repo, installation, {".thoth.yaml": bomb})

    print(
        f"alias bomb ({len(bomb)} bytes): refused in {time.monotonic() - started:.2f} s, "
        f"peak memory of the test process +{peak_kib() - before} KiB"
    )
    [issue] = github.issues(repo)
    assert issue.title == FAILURE_TITLE
    assert "**`.thoth.yaml:1`**" in issue.body
    assert "uses a YAML anchor or alias" in issue.body
    assert len(issue.body) < 3000
    assert github.head(repo, LOCK_BRANCH) is None
    assert (await bot.get("/healthz"))[0] == 200


async def test_an_oversized_configuration_is_refused_naming_the_limit(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    big = "host: thoth.example.com\nruntime_environments:\n  - name: cpu-x86-64-v3\n"
    big += "".join(f"# padding line {n:06d} of a file nobody needs\n" for n in range(2000))
    assert len(big) > limits.CONFIG_BYTES
    repo, installation = new_repo_name("big")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)

    await push_and_settle(bot, github, repo, installation, {".thoth.yaml": big})

    [issue] = github.issues(repo)
    assert f"over thoth-bot's limit of {limits.CONFIG_BYTES:,} bytes" in issue.body
    assert "`.thoth.yaml:1`" in issue.body




ENVIRONMENT = "  - name: env{}\n    labels: {{node_class: cpu-x86-64-v3}}\n"


def config(text: str):  # type: ignore[no-untyped-def]
    from bot.config import load_settings

    settings = load_settings(None, {})
    return load_repo_config(
        text,
        node_classes=settings.node_classes,
        default_node_class=settings.default_node_class,
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a: " + "[" * 5000 + "]" * 5000 + "\nhost: h\n", "levels deep"),
        (
            "host: h\nruntime_environments:\n"
            + "".join(ENVIRONMENT.format(n) for n in range(21))
            + "overlays_dir: overlays\n",
            "has 21 runtime environments, over thoth-bot's limit of 20",
        ),
        (
            "host: h\noverlays_dir: ../elsewhere\nruntime_environments:\n  - name: cpu-x86-64-v3\n",
            "overlays_dir '../elsewhere' is not a relative path inside the repository",
        ),
        (
            "host: h\noverlays_dir: /etc\nruntime_environments:\n  - name: cpu-x86-64-v3\n",
            "overlays_dir '/etc' is not a relative path",
        ),
    ],
)
def test_a_configuration_past_a_limit_is_one_problem(text: str, said: str) -> None:
    with pytest.raises(Problem) as caught:
        config(text)
    assert caught.value.path == ".thoth.yaml"
    assert said in caught.value.message
    assert caught.value.fix


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[packages]\nx = " + "[" * 5000 + "]" * 5000 + "\n", "levels deep"),
        ("".join(f"[cat{n}]\nflask = '*'\n" for n in range(21)), "21 package categories"),
        ("[packages]\n" + "".join(f"p{n} = '*'\n" for n in range(501)), "501 packages in"),
        ("[packages]\nflask = '*'\n" + "# " + "x" * limits.PIPFILE_BYTES + "\n", "bytes, over"),
    ],
)
def test_a_pipfile_past_a_limit_is_one_problem(text: str, said: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_pipfile("Pipfile", text)
    assert caught.value.path == "Pipfile"
    assert said in caught.value.message


def advise_cli(path: Path, thoth: FakeThoth, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THOTH_HOST": thoth.url, "THOTH_BOT_STATE_DIR": str(path / ".state")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "advise", str(path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_advise_write_never_writes_through_a_symlink(tmp_path: Path, thoth: FakeThoth) -> None:
    checkout, outside = tmp_path / "app", tmp_path / "outside"
    checkout.mkdir()
    outside.mkdir()
    (checkout / "Pipfile").write_text(pipfile("flask"))
    (outside / "target").write_text("precious\n")
    (checkout / "Pipfile.lock").symlink_to(outside / "target")

    written = advise_cli(checkout, thoth, "--write")

    assert written.returncode == 1
    assert "Pipfile.lock: is a symbolic link: thoth-bot reads and writes only" in written.stderr
    assert (outside / "target").read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["target"]


def test_advise_write_refuses_overlays_outside_the_checkout(
    tmp_path: Path, thoth: FakeThoth
) -> None:
    checkout = tmp_path / "app"
    checkout.mkdir()
    (checkout / ".thoth.yaml").write_text(
        "host: h\noverlays_dir: ../x\nruntime_environments:\n"
        "  - name: cpu-x86-64-v3\n"
    )
    (tmp_path / "x" / "cpu-x86-64-v3").mkdir(parents=True)
    (tmp_path / "x" / "cpu-x86-64-v3" / "Pipfile").write_text(pipfile("flask"))

    written = advise_cli(checkout, thoth, "--write")

    assert written.returncode == 1
    assert "overlays_dir '../x' is not a relative path inside the repository" in written.stderr
    assert sorted(p.name for p in (tmp_path / "x" / "cpu-x86-64-v3").iterdir()) == ["Pipfile"]


async def test_a_comment_runs_a_bounded_number_of_commands(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    from test_commands import advised_pull, comment, replies

    repo, installation, pull = await advised_pull(bot, github)
    body = "\n".join(["/thoth help"] * limits.COMMANDS + ["/thoth hooks"] * 200)

    await comment(bot, github, repo, installation, pull.number, body)

    [reply] = replies(github, repo, pull.number)
    assert reply.count("| `/thoth lock` |") == limits.COMMANDS  # the help, five times
    assert "nor the 199 `/thoth` line(s) after it" in reply
    assert f"at most {limits.COMMANDS} commands of one comment" in reply
    assert len(reply) < 65536
