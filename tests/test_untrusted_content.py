"""Attacks from a repository the bot serves (SPEC §10): a fork's pull request, a push, a CLI run
on a checkout. Each builds what an attacker would (a package whose build writes a marker and
prints the environment, a source on loopback, a redirect, a URL smuggled into a requirement)
against the real bot with fake secrets in its environment, and looks for what the attacker
wants to find: the marker, a secret in a comment, a request that reached the target."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tarfile
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fakes.github import FakeGitHub
from fakes.index import PackageIndex
from harness import (
    GITLAB_TOKEN,
    SECRET,
    BotUnderTest,
    app_keys,
    local_config,
    new_repo_name,
)
from test_local_adviser import LOOPBACK, X86, advise, pipfile
from test_pull_requests import advise_statuses, deliver_pull, open_pull
from test_push import push_and_settle

from bot.advisers.local import LocalAdviser
from bot.advisers.local.egress import Allowlist
from bot.advisers.local.indexes import IndexPolicy
from bot.advisers.local.rules import parse_rules
from bot.advisers.local.sdists import member_names
from bot.outgoing import outgoing_text
from handlers.adviser import AdviseError, AdviseRequest

FAILURE_TITLE = "thoth-bot: cannot lock dependencies"


@pytest.fixture
def uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    packages = PackageIndex().start()
    packages.add_wheel("purelib", "1.0")
    packages.marker = tmp_path_factory.mktemp("attack") / "MARKER"  # type: ignore[attr-defined]
    packages.add_hostile_sdist("evilpkg", "1.0", packages.marker)  # type: ignore[attr-defined]
    yield packages
    packages.stop()


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The bot's secrets, in the environment of the process that runs the adviser."""
    secrets = {
        "GITHUB_PRIVATE_KEY": app_keys()[0],
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITLAB_TOKEN": GITLAB_TOKEN,
        "THOTH_TOKEN": "thoth-token-for-the-attack-tests",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    return secrets


@pytest.fixture
async def local_bot(
    env: dict[str, str], tmp_path: Path, uv_cache: None
) -> AsyncIterator[BotUnderTest]:
    """The bot with the embedded adviser, allowed the tests' indexes on 127.0.0.1."""
    local = {k: v for k, v in env.items() if k != "THOTH_HOST"} | {
        "THOTH_BOT_ADVISER": "local",
        "THOTH_BOT_CONFIG": str(local_config(tmp_path)),
        "THOTH_TOKEN": "thoth-token-for-the-attack-tests",
    }
    bot = await BotUnderTest.from_env(local).start()
    yield bot
    await bot.close()


@pytest.fixture
async def local_bot_with_builds(
    env: dict[str, str], tmp_path: Path, uv_cache: None
) -> AsyncIterator[BotUnderTest]:
    """The embedded adviser, with `adviser.builds: isolated`."""
    key = tmp_path / "app-key.pem"  # the App's key as a file: a build must not read it
    key.write_text(app_keys()[0])
    local = {k: v for k, v in env.items() if k not in ("THOTH_HOST", "GITHUB_PRIVATE_KEY")} | {
        "THOTH_BOT_ADVISER": "local",
        "THOTH_BOT_CONFIG": str(local_config(tmp_path, "  builds: isolated\n")),
        "GITHUB_PRIVATE_KEY_PATH": str(key),
    }
    bot = await BotUnderTest.from_env(local).start()
    yield bot
    await bot.close()


def assert_no_secret(texts: list[str], secrets: dict[str, str]) -> None:
    for text in texts:
        for name, value in secrets.items():
            for line in value.strip().splitlines():
                if len(line) >= 8 and "-----" not in line:
                    assert line not in text, f"{name} leaked into: {text[:200]}"


# ---- no repository code runs ------------------------------------------------------------


async def test_a_fork_pull_request_cannot_make_the_bot_build_its_package(
    local_bot: BotUnderTest,
    github: FakeGitHub,
    index: PackageIndex,
    secrets_in_env: dict[str, str],
) -> None:
    marker: Path = index.marker  # type: ignore[attr-defined]
    repo, installation = new_repo_name("attack")
    github.create_repo(
        repo, {"Pipfile": pipfile(index, 'purelib = "*"')}, installation=installation
    )
    fork = repo.replace("octo-org/", "mallory/")
    github.fork(repo, fork)
    attack = pipfile(index, 'purelib = "*"\nevilpkg = "*"')
    pull, push = open_pull(github, repo, {"Pipfile": attack}, head_repo=fork)

    await deliver_pull(local_bot, repo, installation, pull, push.after)

    assert not marker.exists(), "the build code ran on the bot's host"  # noqa: ASYNC240
    assert "files/evilpkg-1.0.tar.gz" not in index.requests  # not even downloaded
    [comment] = github.comments(repo, pull.number)
    assert "evilpkg 1.0 has no wheel for Python 3.11 on x86\\_64-manylinux\\_2\\_34" in comment.body
    assert "thoth-bot never runs a package's build code" in comment.body
    assert "**Fix:** Require a version that publishes a wheel" in comment.body
    [status] = advise_statuses(github, repo, push.after)[:1]
    assert status["state"] == "failure"
    assert status["description"].startswith("Pipfile: the local adviser could not lock")
    assert len(status["description"]) <= 140
    assert_no_secret([comment.body, status["description"]], secrets_in_env)


def test_the_cli_does_not_build_a_checkout_s_package_either(
    index: PackageIndex, tmp_path: Path, secrets_in_env: dict[str, str]
) -> None:
    marker: Path = index.marker  # type: ignore[attr-defined]
    checkout = tmp_path / "app"
    checkout.mkdir()
    (checkout / "Pipfile").write_text(pipfile(index, 'evilpkg = "*"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOTH_HOST", "THOTH_BOT_"))}
    env |= {
        "THOTH_BOT_STATE_DIR": str(tmp_path / "state"),
        "THOTH_BOT_CONFIG": str(local_config(tmp_path)),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
    }

    result = subprocess.run(
        [sys.executable, "-m", "bot", "advise", str(checkout), "--write"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "evilpkg 1.0 has no wheel" in result.stdout + result.stderr
    assert not marker.exists()
    assert not (checkout / "Pipfile.lock").exists()
    assert_no_secret([result.stdout, result.stderr], secrets_in_env)


async def test_uv_runs_without_the_bots_environment(
    index: PackageIndex, secrets_in_env: dict[str, str], uv_cache: None
) -> None:
    """Caught mid-resolution, the live uv process's environment holds none of the secrets."""
    slow = PackageIndex().start()
    slow.add_wheel("purelib", "1.0")
    slow.delay = 3.0
    seen: list[dict[str, str]] = []

    async def watch() -> None:
        while not seen:
            await asyncio.sleep(0.05)
            for environ in _children_environments("uv"):
                seen.append(environ)

    try:
        text = pipfile(slow, 'purelib = "*"')
        watcher = asyncio.create_task(watch())
        await LocalAdviser(indexes=LOOPBACK).advise(request(text))
        watcher.cancel()
    finally:
        slow.stop()
    assert seen, "no uv process was caught running"
    environ = seen[0]
    assert not set(secrets_in_env) & set(environ)
    assert_no_secret(["\n".join(f"{k}={v}" for k, v in environ.items())], secrets_in_env)
    assert environ["HTTPS_PROXY"].startswith("http://") and "127.0.0.1" in environ["HTTPS_PROXY"]
    assert set(environ) <= ALLOWED_UV_ENVIRONMENT | {
        name for name in environ if name.startswith("UV_INDEX_")
    }


ALLOWED_UV_ENVIRONMENT = {
    "PATH", "HOME", "TMPDIR", "UV_CACHE_DIR", "UV_NO_PROGRESS", "UV_PYTHON_DOWNLOADS",
    "NO_COLOR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE",
    "SSL_CERT_DIR", "LANG", "LC_ALL",
}  # fmt: skip


def _children_environments(name: str) -> list[dict[str, str]]:
    """The environments of this process's children called `name`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            parent = int(status.split("PPid:", 1)[1].split()[0])
            command = (entry / "comm").read_text().strip()
            if parent != os.getpid() or command != name:
                continue
            raw = (entry / "environ").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        pairs = [item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item]
        found.append({k.decode(): v.decode(errors="replace") for k, v in pairs})
    return found


# ---- builds, where the operator allows them, only in the sandbox ----------------------------

SANDBOX_BUILD_ENVIRONMENT = {"PWD", "VIRTUAL_ENV", "UV", "PYTHONIOENCODING", "http_proxy",
                             "https_proxy", "UV_INTERNAL__BUILD_DIR"}  # fmt: skip


def assert_sandboxed(report: dict, secrets: dict[str, str], hidden: list[Path]) -> None:
    """What a build saw: no secret, the hidden files empty or absent, no bot process, and no
    way to the host's loopback services."""
    environ = report["env"]
    assert not set(secrets) & set(environ)
    assert_no_secret([json.dumps(environ)], secrets)
    assert set(environ) <= ALLOWED_UV_ENVIRONMENT | SANDBOX_BUILD_ENVIRONMENT, environ
    for path in hidden:  # absent, unreadable or empty: never its content
        assert report["files"][str(path)] in ("FileNotFoundError", "PermissionError", 0), path
    assert all(code != 0 for code in report["connect"].values()), report["connect"]
    assert len(report["processes"]) < 10 and os.getpid() not in report["processes"]


async def test_an_allowed_build_runs_in_the_sandbox_and_sees_no_secret(
    local_bot_with_builds: BotUnderTest,
    github: FakeGitHub,
    index: PackageIndex,
    secrets_in_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """`adviser.builds: isolated`: the package with no wheel is built, and its build saw none
    of the bot's secrets, could not read the state directory or reach the host's services."""
    jobs = local_bot_with_builds.settings.state_dir / "jobs.sqlite3"  # every delivery held
    key = tmp_path / "app-key.pem"
    port = int(index.url.rsplit(":", 1)[1])
    index.add_buildable_sdist(
        "nosy",
        "1.0",
        files=[str(jobs), str(key)],
        connect=[port],
        sources={"nosy/_speedups.c": b"int speedup(void) { return 1; }\n"},
    )
    repo, installation = new_repo_name("builds")
    before = pipfile(index, 'purelib = "*"')
    github.create_repo(repo, {"Pipfile": before}, installation=installation)
    reports = len(index.reports)

    after = pipfile(index, 'purelib = "*"\nnosy = "*"')
    await push_and_settle(local_bot_with_builds, github, repo, installation, {"Pipfile": after})

    lock = json.loads(github.file(repo, "thoth-bot/lock/main", "Pipfile.lock") or "{}")
    assert lock["default"]["nosy"]["version"] == "==1.0"
    [pull] = github.pulls(repo)
    [comment] = github.comments(repo, pull.number)
    assert "nosy 1.0 has no wheel for Python 3.11" in comment.body
    assert "the s2i build will compile it from source" in comment.body
    seen = index.reports[reports:]
    assert seen, "the build did not run"
    for report in seen:
        assert_sandboxed(report, secrets_in_env, [jobs, key])


async def test_a_pure_python_sdist_is_not_warned_as_one_to_compile(
    index: PackageIndex, uv_cache: None, tmp_path: Path
) -> None:
    index.add_buildable_sdist("plainpy", "1.0", sources={"plainpy/util.py": b"X = 1\n"})
    index.add_buildable_sdist("cython-ext", "1.0", sources={"cython_ext/fast.pyx": b"# cy\n"})
    adviser = LocalAdviser(indexes=LOOPBACK, builds="isolated", hidden=[tmp_path])
    try:
        result = await adviser.advise(request(pipfile(index, 'plainpy = "*"\ncython-ext = "*"')))
    finally:
        await adviser.close()

    said = {g.message.split(" has no wheel")[0]: g for g in result.justification}
    assert said["plainpy 1.0"].type == "INFO"
    assert "pure Python (no compiler needed)" in said["plainpy 1.0"].message
    assert said["cython-ext 1.0"].type == "WARNING"
    assert "will compile it from source" in said["cython-ext 1.0"].message


async def test_a_failing_build_in_the_sandbox_leaks_nothing_it_printed(
    index: PackageIndex, secrets_in_env: dict[str, str], uv_cache: None, tmp_path: Path
) -> None:
    marker: Path = index.marker  # type: ignore[attr-defined]
    adviser = LocalAdviser(indexes=LOOPBACK, builds="isolated", hidden=[tmp_path])
    with pytest.raises(AdviseError) as caught:
        await adviser.advise(request(pipfile(index, 'evilpkg = "*"')))
    await adviser.close()
    assert str(caught.value).startswith("a package has no wheel for this Python and platform, "
                                        "and building it from source failed")  # fmt: skip
    detail = caught.value.detail or ""
    assert "Read-only file system" in detail and len(detail) <= 1600  # the marker's write
    assert_no_secret([str(caught.value), detail], secrets_in_env)
    assert not marker.exists()  # noqa: ASYNC240


async def test_a_failing_build_that_prints_its_environment_leaks_nothing_to_the_forge(
    local_bot_with_builds: BotUnderTest,
    github: FakeGitHub,
    index: PackageIndex,
    secrets_in_env: dict[str, str],
) -> None:
    repo, installation = new_repo_name("printenv")
    before = pipfile(index, 'purelib = "*"')
    github.create_repo(repo, {"Pipfile": before}, installation=installation)
    after = pipfile(index, 'purelib = "*"\nevilpkg = "*"')
    push = await push_and_settle(
        local_bot_with_builds, github, repo, installation, {"Pipfile": after}
    )

    [issue] = github.issues(repo)
    assert "building it from source failed" in issue.body
    assert "```text" in issue.body  # the build's words, quoted as an excerpt
    statuses = [s["description"] for s in github.reports(repo, push.after)]
    statuses += [run["output"]["summary"] for run in github.check_runs(repo, push.after)]
    statuses += [
        note["message"]
        for run in github.check_runs(repo, push.after)
        for note in run["output"]["annotations"]
    ]
    posted = [issue.body, issue.title, *statuses]
    posted += [c.body for c in github.comments(repo, issue.number)]
    assert_no_secret(posted, secrets_in_env)
    assert github.pulls(repo) == []


# ---- only allowed indexes -----------------------------------------------------------------


async def test_an_unlisted_source_is_refused_in_the_issue_naming_it_and_the_setting(
    env: dict[str, str], github: FakeGitHub, index: PackageIndex, tmp_path: Path, uv_cache: None
) -> None:
    target = PackageIndex().start()  # another service on the bot's host
    local = {k: v for k, v in env.items() if k != "THOTH_HOST"} | {
        "THOTH_BOT_ADVISER": "local",
        "THOTH_BOT_CONFIG": str(local_config(tmp_path, indexes=[index.simple_url])),
    }
    bot = await BotUnderTest.from_env(local).start()
    try:
        repo, installation = new_repo_name("source")
        before = pipfile(index, 'purelib = "*"')
        github.create_repo(repo, {"Pipfile": before}, installation=installation)
        elsewhere = before.replace(index.url, target.url)
        await push_and_settle(bot, github, repo, installation, {"Pipfile": elsewhere})
    finally:
        await bot.close()
        target.stop()

    assert target.requests == [] and target.authorizations == []
    [issue] = github.issues(repo)
    assert "\\[\\[source\\]\\] 'local' (http\u200b://127.0.0.1" in issue.body  # not a link
    assert "is not a package index thoth-bot may use" in issue.body
    assert "`adviser.indexes`" in issue.body


async def test_a_source_on_loopback_that_is_not_listed_is_refused_and_never_reached(
    index: PackageIndex, uv_cache: None
) -> None:
    target = PackageIndex().start()  # a service on the bot's host, not an allowed index
    target.add_wheel("purelib", "1.0")
    try:
        listed = IndexPolicy(allowed=(index.simple_url,))
        text = pipfile(index, 'purelib = "*"').replace(index.url, target.url)
        with pytest.raises(AdviseError) as caught:
            await LocalAdviser(indexes=listed).advise(request(text))
    finally:
        target.stop()
    assert str(caught.value) == (
        f"[[source]] 'local' ({target.simple_url}) is not a package index thoth-bot may use"
    )
    assert caught.value.fix and "`adviser.indexes`" in caught.value.fix
    assert target.requests == [] and target.authorizations == []


async def test_a_listed_name_that_resolves_to_loopback_is_refused_after_dns(
    index: PackageIndex, uv_cache: None
) -> None:
    """`localhost` is on the list by name, but its address is not public and not listed."""
    by_name = index.simple_url.replace("127.0.0.1", "localhost")
    before = len(index.requests)
    with pytest.raises(AdviseError) as caught:
        await LocalAdviser(indexes=IndexPolicy(allowed=(by_name,))).advise(
            request(pipfile(index, 'purelib = "*"').replace(index.simple_url, by_name))
        )
    port = index.url.rsplit(":", 1)[1]
    assert f"connection to localhost:{port} (it resolves to " in str(caught.value)
    assert "not a public address" in str(caught.value)
    assert index.requests[before:] == []


async def test_a_redirect_to_an_address_not_on_the_list_is_not_followed(
    index: PackageIndex, uv_cache: None
) -> None:
    target = PackageIndex().start("127.0.0.2")
    target.add_wheel("purelib", "1.0")
    redirector = PackageIndex(redirect_to=target.url).start()
    try:
        text = pipfile(index, 'purelib = "*"').replace(index.url, redirector.url)
        with pytest.raises(AdviseError) as caught:
            await LocalAdviser(indexes=IndexPolicy(allowed=(redirector.simple_url,))).advise(
                request(text)
            )
    finally:
        target.stop()
        redirector.stop()
    assert redirector.requests == ["302 /simple/purelib/"] * len(redirector.requests)
    assert target.requests == [] and target.authorizations == []
    assert f"connection to {target.host} (not on the index allow-list)" in str(caught.value)
    assert not caught.value.retryable


def test_private_link_local_and_loopback_addresses_need_listing() -> None:
    """The address rules alone (no traffic is sent to these addresses from tests)."""
    import ipaddress

    default = Allowlist.of(("https://pypi.org/simple",))
    for address in ("10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "127.0.0.1",
                    "::1", "fd00::1", "::ffff:10.0.0.1"):  # fmt: skip
        assert not default.allows_address("pypi.org", ipaddress.ip_address(address)), address
    assert default.allows_address("pypi.org", ipaddress.ip_address("151.101.0.223"))
    assert not default.allows_url("http://169.254.169.254/latest/meta-data")
    assert not default.allows_url("https://pypi.org.evil.example/simple")
    assert not default.allows_url("https://pypi.org/simplex")
    assert default.allows_url("https://pypi.org/simple/")
    # Dot segments are resolved as uv resolves them: no way out of an allowed prefix.
    assert not default.allows_url("https://pypi.org/simple/../private/simple")
    assert not default.allows_url("https://pypi.org/simple/%2E%2E/private/simple")
    assert default.allows_url("https://pypi.org/other/../simple")
    listed = Allowlist.of(("https://nexus.corp.example/simple", "10.20.0.0/16"))
    assert listed.allows_address("nexus.corp.example", ipaddress.ip_address("10.20.3.4"))
    assert not listed.allows_address("nexus.corp.example", ipaddress.ip_address("10.21.3.4"))
    assert not listed.allows_host("nexus.corp.example", 6379)
    assert listed.allows_host("nexus.corp.example", 443)


# ---- requirements are names and versions ----------------------------------------------------


async def test_urls_smuggled_through_names_and_versions_are_refused_at_their_lines(
    local_bot: BotUnderTest, github: FakeGitHub, index: PackageIndex
) -> None:
    target = PackageIndex().start()
    try:
        repo, installation = new_repo_name("smuggle")
        github.create_repo(
            repo, {"Pipfile": pipfile(index, 'purelib = "*"')}, installation=installation
        )
        smuggled = pipfile(
            index,
            f'"x @ {target.url}/files/x-1.0-py3-none-any.whl" = "*"\n'
            f'y = "@ {target.url}/files/y.whl"\n'
            f'z = {{version = "*", file = "{target.url}/files/z.whl"}}\n'
            'purelib = "*"',
        )
        await push_and_settle(local_bot, github, repo, installation, {"Pipfile": smuggled})
    finally:
        target.stop()

    assert target.requests == []
    [issue] = github.issues(repo)
    assert issue.title == FAILURE_TITLE
    for line, name in ((7, "x @ http"), (8, "y:"), (9, "z:")):
        assert f"**`Pipfile:{line}`**: \\[packages\\] {name}" in issue.body, issue.body
    assert "is a file requirement" in issue.body
    assert issue.body.count("**Fix:**") == 3  # every refused requirement, at once


# ---- credentials stay with their index ------------------------------------------------------


async def test_a_rule_index_gets_its_credentials_and_the_lock_holds_none(
    index: PackageIndex, uv_cache: None, tmp_path: Path
) -> None:
    private = PackageIndex(credentials=("deploy", "s3cr3t-index-token")).start()
    private.add_wheel("inhouse", "2.0", requires=["purelib"])
    try:
        rules = parse_rules(
            [
                {
                    "id": "inhouse-mirror",
                    "when": {"packages": ["inhouse"]},
                    "index": {
                        "name": "corp",
                        "url": private.simple_url.replace("://", "://deploy:s3cr3t-index-token@"),
                    },
                }
            ]
        )
        text = pipfile(index, 'inhouse = "*"')
        result = await LocalAdviser(rules=rules, indexes=LOOPBACK).advise(request(text))
    finally:
        private.stop()

    lock = json.dumps(result.lock)
    assert "s3cr3t-index-token" not in lock and "deploy@" not in lock
    assert result.lock["default"]["inhouse"]["index"] == "corp"
    assert {"name": "corp", "url": private.simple_url, "verify_ssl": True} in result.lock["_meta"][
        "sources"
    ]
    assert "simple/inhouse" in private.requests
    assert any(auth.startswith("Basic ") for auth in private.authorizations)
    assert not any("purelib" in r for r in private.requests)  # only the rule's package


async def test_a_source_with_placeholders_keeps_them_and_gets_the_operators_credentials(
    index: PackageIndex, uv_cache: None
) -> None:
    private = PackageIndex(credentials=("ci", "operator-given")).start()
    private.add_wheel("purelib", "1.0")
    try:
        written = private.simple_url.replace("://", "://${INDEX_USER}:${INDEX_PASSWORD}@")
        text = pipfile(index, 'purelib = "*"').replace(index.simple_url, written)
        from bot.advisers.local.indexes import IndexCredentials
        from bot.advisers.local.uv_process import Credentials

        policy = IndexPolicy(
            allowed=("127.0.0.1",),
            credentials=(IndexCredentials(private.url, Credentials("ci", "operator-given")),),
        )
        result = await LocalAdviser(indexes=policy).advise(request(text))
    finally:
        private.stop()
    assert result.lock["_meta"]["sources"][0]["url"] == written  # as pipenv writes it
    assert "operator-given" not in json.dumps(result.lock)
    assert result.lock["default"]["purelib"]["version"] == "==1.0"


# ---- what the bot posts -------------------------------------------------------------------


def test_an_operators_credentials_do_not_follow_dot_segments_out_of_their_prefix() -> None:
    from bot.advisers.local.indexes import IndexCredentials
    from bot.advisers.local.uv_process import Credentials

    secret = Credentials("ci", "for-the-public-repository-only")
    policy = IndexPolicy(
        credentials=(IndexCredentials("https://nexus.example/repository/public/", secret),)
    )
    assert policy.credentials_for("https://nexus.example/repository/public/simple") == secret
    escaped = "https://nexus.example/repository/public/../private/simple"
    assert policy.credentials_for(escaped) is None


def test_posted_text_is_scrubbed_and_inert_to_gitlab_quick_actions() -> None:
    from bot import logs

    logs.never_log(["a-configured-secret-value"])
    text = "x a-configured-secret-value y\n/merge\n  /approve\n> /label ~x\nghs_" + "a" * 36
    posted = outgoing_text(text, quick_actions=True)
    assert "a-configured-secret-value" not in posted and "ghs_aaaa" not in posted
    assert [line for line in posted.splitlines() if line.lstrip(" >").startswith("/")] == []
    assert outgoing_text(posted, quick_actions=True) == posted  # once is enough
    assert outgoing_text("/merge", quick_actions=False) == "/merge"  # GitHub has no such thing


def request(text: str) -> AdviseRequest:
    return AdviseRequest(
        pipfile=text, pipfile_lock="", environment="app", node_class=X86, python_version="3.11"
    )


__all__ = ["advise"]


# ---- reading what an index serves --------------------------------------------------------


def _tar_gz(members: dict[str, int]) -> bytes:
    """A .tar.gz whose members are runs of zero bytes of the given sizes, made in chunks (a
    decompression bomb of hundreds of MiB is a few hundred KiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    out = [compressor.compress(b"")]
    for name, size in members.items():
        header = tarfile.TarInfo(name)
        header.size = size
        out.append(compressor.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
        zeros = bytes(1 << 20)
        left = size
        while left:
            out.append(compressor.compress(zeros[: min(left, len(zeros))]))
            left -= min(left, len(zeros))
        out.append(compressor.compress(bytes(-size % 512)))
    out.append(compressor.compress(bytes(1024)))
    out.append(compressor.flush())
    return b"".join(out)


def test_an_sdist_is_read_for_its_file_names_within_bounds() -> None:
    plain = _tar_gz({"pkg-1.0/pkg/__init__.py": 10, "pkg-1.0/PKG-INFO": 10})
    assert member_names(plain, "pkg-1.0.tar.gz") == ["pkg-1.0/pkg/__init__.py", "pkg-1.0/PKG-INFO"]

    bomb = _tar_gz({"bomb-1.0/zeros.py": 300 * 1024 * 1024, "bomb-1.0/after.c": 1})
    assert len(bomb) < 1024 * 1024
    assert member_names(bomb, "bomb-1.0.tar.gz") is None  # not unpacked past 256 MiB

    many = _tar_gz({f"many-1.0/m{n}.py": 0 for n in range(20_001)})
    assert member_names(many, "many-1.0.tar.gz") is None
    assert member_names(b"not an archive", "x-1.0.tar.gz") is None
    assert member_names(b"PK\x05\x06" + bytes(18), "empty-1.0.zip") == []
