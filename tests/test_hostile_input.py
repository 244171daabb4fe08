"""Bounded under hostile input (SPEC §10): what a fork or a stranger's repository can hold is
refused before it costs the bot, with a Problem naming the file and the limit, and the bot
keeps serving. Each attack is built here and sent to a running bot or to the CLI; the test
reports what it cost (time, the bot process's memory) without asserting timings."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

import pytest
from fakes.github import FakeGitHub
from fakes.thoth import FakeThoth
from harness import LOCK_BRANCH, SECRET, BotUnderTest, new_repo_name, pipfile
from test_cli_advise import advise as advise_cli
from test_push import push_and_settle
from test_push_failures import FAILURE_TITLE

from handlers import limits
from handlers.pipfile import parse_pipfile
from handlers.problems import Problem
from handlers.repo_config import load_repo_config

pytestmark = pytest.mark.usefixtures("fakes")

# What a CLI subprocess gets of this process's environment (which holds the tests' secrets).
PASSED = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}


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


# ---- replayed and malformed deliveries ------------------------------------------------------


async def test_a_signed_body_sent_again_with_a_new_delivery_id_runs_once(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    from payloads import headers
    from test_push import push_payload

    repo, installation = new_repo_name("replay")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    body = json.dumps(push_payload(push, installation)).encode()
    asked = len(thoth.requests)

    first = await bot.post("/webhooks/github", body, headers("push", body, SECRET, "id-1"))
    await bot.settle()
    again = await bot.post("/webhooks/github", body, headers("push", body, SECRET, "id-2"))
    await bot.settle()

    assert first[0] == 202 and again == (200, {"message": "already received"})
    assert len(thoth.requests) == asked + 1
    assert len(github.pulls(repo)) == 1


@pytest.mark.parametrize("signature", ["sha256=\u00e9\u00e9", "sha256=" + "\u00ff" * 64, "\u00e9"])
async def test_a_malformed_signature_header_is_401(bot: BotUnderTest, signature: str) -> None:
    body = b'{"zen": "x"}'
    sent = {"Content-Type": "application/json", "X-GitHub-Event": "push"}
    sent |= {"X-GitHub-Delivery": "x-1", "X-Hub-Signature-256": signature}
    status, _ = await bot.post("/webhooks/github", body, sent)
    assert status == 401


async def test_replay_again_sends_a_marked_copy_that_runs(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth, tmp_path: Path
) -> None:
    """`thoth-bot replay` holds the secret: a body the bot ran is refused as a duplicate, and
    `--again` sends a marked, re-signed copy that runs."""
    from test_push import push_payload

    repo, installation = new_repo_name("again")
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    recorded = tmp_path / "push.json"
    recorded.write_text(json.dumps(push_payload(push, installation)))

    async def replay(*more: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "replay", str(recorded), "--event", "push",
            "--url", bot.url, *more,
            env={**PASSED, "GITHUB_WEBHOOK_SECRET": SECRET},
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate()
        await bot.settle()
        return process.returncode or 0, out.decode()

    first, duplicate, again = await replay(), await replay(), await replay("--again")

    assert first[1].startswith("202 ") and duplicate[1].startswith("200 ")
    assert "already received" in duplicate[1]
    assert again[1].startswith("202 ")
    assert len(github.pulls(repo)) == 1  # the second run refreshed the same pull request


# ---- resolutions bounded ----------------------------------------------------------------------


def uv_children() -> set[int]:
    """The uv processes this test process started (its children named uv)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if name == "uv" and parent == os.getpid():
            found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


@pytest.fixture
def slow_index():  # type: ignore[no-untyped-def]
    from fakes.index import PackageIndex

    packages = PackageIndex().start()
    packages.add_wheel("purelib", "1.0")
    yield packages
    packages.stop()


async def test_many_categories_run_at_most_the_configured_resolutions_at_once(
    slow_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from test_local_adviser import X86

    from bot.advisers.local import LocalAdviser
    from bot.advisers.local.indexes import IndexPolicy
    from handlers.adviser import AdviseRequest

    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    slow_index.delay = 0.3  # each project page: the resolutions overlap
    source = f'[[source]]\nurl = "{slow_index.simple_url}"\nverify_ssl = false\nname = "local"\n'
    categories = "".join(f"\n[group{n}]\npurelib = '*'\n" for n in range(limits.CATEGORIES - 2))
    text = source + "\n[packages]\npurelib = '*'\n\n[dev-packages]\npurelib = '*'\n" + categories
    adviser = LocalAdviser(indexes=IndexPolicy(allowed=("127.0.0.1",)), resolutions=2)
    request = AdviseRequest(
        pipfile=text, pipfile_lock="", environment="app", node_class=X86, python_version="3.11"
    )
    seen: list[int] = []

    async def watch() -> None:
        while True:
            seen.append(len(uv_children()))
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    try:
        result = await adviser.advise(request)
    finally:
        watcher.cancel()
        await adviser.close()
    assert len([k for k in result.lock if k != "_meta"]) == limits.CATEGORIES
    print(f"{limits.CATEGORIES} categories: at most {max(seen)} uv processes at once")
    assert max(seen) == 2


async def test_an_advise_out_of_time_is_a_problem_and_leaves_no_process(
    slow_index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from test_local_adviser import X86
    from test_local_adviser import pipfile as index_pipfile

    from bot.advisers.local import LocalAdviser
    from bot.advisers.local.indexes import IndexPolicy
    from handlers.adviser import AdviseError, AdviseRequest

    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    slow_index.delay = 4.0  # an index that does not answer in time
    adviser = LocalAdviser(indexes=IndexPolicy(allowed=("127.0.0.1",)), budget=1.5)
    request = AdviseRequest(
        pipfile=index_pipfile(slow_index, "purelib = '*'", dev="purelib = '*'"),
        pipfile_lock="",
        environment="app",
        node_class=X86,
        python_version="3.11",
    )
    started: set[int] = set()

    async def watch() -> None:
        while True:
            started.update(uv_children())
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    try:
        with pytest.raises(AdviseError) as caught:
            await adviser.advise(request)
    finally:
        watcher.cancel()
        await adviser.close()
    assert str(caught.value) == "the embedded adviser did not finish within 2 s"
    assert not caught.value.retryable and caught.value.fix
    assert started, "no uv process ran"
    assert alive(started) == set()


async def test_uvs_cache_is_kept_under_its_size(
    slow_index, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Every repository's resolutions fill one cache: over its limit, it is pruned, then
    emptied, between resolutions."""
    from test_local_adviser import X86
    from test_local_adviser import pipfile as index_pipfile

    from bot.advisers.local import LocalAdviser
    from bot.advisers.local.indexes import IndexPolicy
    from bot.advisers.local.uv_process import _size
    from handlers.adviser import AdviseRequest

    cache = tmp_path / "uv-cache"
    request = AdviseRequest(
        pipfile=index_pipfile(slow_index, "purelib = '*'"),
        pipfile_lock="",
        environment="app",
        node_class=X86,
        python_version="3.11",
    )
    roomy = LocalAdviser(indexes=IndexPolicy(allowed=("127.0.0.1",)), cache_dir=cache)
    await roomy.advise(request)
    await roomy.close()
    filled = _size(cache)
    small = LocalAdviser(
        indexes=IndexPolicy(allowed=("127.0.0.1",)), cache_dir=cache, cache_limit=filled // 2
    )
    try:
        result = await small.advise(request)
    finally:
        await small.close()

    assert result.lock["default"]["purelib"]["version"] == "==1.0"
    print(f"uv cache: {filled} bytes, then {_size(cache)} bytes under a {filled // 2}-byte limit")
    assert _size(cache) <= filled // 2
