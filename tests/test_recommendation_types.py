"""Recommendation types in the embedded adviser (SPEC §8): what `latest`, `stable`, `security`
and `testing` let into a lock, judged with real advisories from a fake OSV server and the
upload times (PEP 700) of a package index on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import payloads
import pytest
from fakes.github import FakeGitHub
from fakes.index import PackageIndex
from fakes.osv import FakeOsv, record
from harness import LOCK_BRANCH, BotUnderTest, local_config, new_repo_name
from test_local_adviser import LOOPBACK, X86, pipfile

from bot.advisers.local import LocalAdviser
from bot.advisers.local.rules import Rule, parse_rules
from bot.advisers.osv import OsvApi
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult
from handlers.pipfile import parse_pipfile
from handlers.pipfile_lock import render_lock

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
LONG_AGO = "2023-04-25T18:00:00.000000Z"


@pytest.fixture(scope="module")
def index() -> Iterator[PackageIndex]:
    packages = PackageIndex().start()
    packages.json_pages = True  # PEP 691 JSON, with upload times
    # flask 2.3.1 has PYSEC-2023-62 (fixed in 2.3.2, which this mirror lacks, and in 2.2.5).
    for version in ("2.2.5", "2.3.1"):
        packages.add_wheel("flask", version).upload_time = LONG_AGO
    # requests 2.32.0 was uploaded yesterday: within a week's cool-down.
    packages.add_wheel("requests", "2.31.0").upload_time = LONG_AGO
    packages.add_wheel("requests", "2.32.0").upload_time = YESTERDAY
    # urllib3 2.0.7, uploaded yesterday, fixes PYSEC-2023-212 of 2.0.6.
    packages.add_wheel("urllib3", "2.0.6").upload_time = LONG_AGO
    packages.add_wheel("urllib3", "2.0.7").upload_time = YESTERDAY
    packages.add_wheel("six", "1.16.0")  # its index says nothing of when
    packages.add_wheel("nextgen", "1.0").upload_time = LONG_AGO
    packages.add_wheel("nextgen", "2.0rc1").upload_time = LONG_AGO
    yield packages
    packages.stop()


@pytest.fixture(scope="module")
def osv() -> Iterator[FakeOsv]:
    fake = FakeOsv().start()
    fake.publish(record("PYSEC-2023-62"), record("PYSEC-2023-212"), record("PYSEC-2023-74"))
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def uv_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


async def advise(
    text: str,
    kind: str,
    osv_url: str,
    lock: dict[str, str] | None = None,
    rules: Sequence[Rule] | None = None,
) -> AdviseResult:
    current = (
        json.dumps({"default": {name: {"version": f"=={v}"} for name, v in lock.items()}})
        if lock
        else ""
    )
    request = AdviseRequest(
        pipfile=text,
        pipfile_lock=current,
        environment="app",
        node_class=X86,
        python_version="3.11",
        recommendation_type=kind,
    )
    async with aiohttp.ClientSession() as session:
        adviser = LocalAdviser(
            indexes=LOOPBACK, vulnerabilities=OsvApi(session, osv_url), rules=rules
        )
        try:
            return await adviser.advise(request)
        finally:
            await adviser.close()


def version(result: AdviseResult, name: str) -> str:
    return result.lock["default"][name]["version"].removeprefix("==")


def said(result: AdviseResult, kind: str = "") -> list[str]:
    return [g.message for g in result.justification if not kind or g.type == kind]


async def test_latest_takes_the_vulnerable_release_and_says_so(
    index: PackageIndex, osv: FakeOsv
) -> None:
    result = await advise(pipfile(index, 'flask = "*"'), "latest", osv.url)

    assert version(result, "flask") == "2.3.1"
    [warning] = [g for g in result.justification if g.type == "WARNING"]
    assert warning.message.startswith(
        "flask 2.3.1 has a known vulnerability, PYSEC-2023-62 (CVE-2023-30861)"
    )
    assert "fixed in 2.3.2" in warning.message
    assert warning.link == "https://osv.dev/vulnerability/PYSEC-2023-62"


@pytest.mark.parametrize("kind", ["stable", "security"])
async def test_stable_and_security_avoid_the_vulnerable_release(
    index: PackageIndex, osv: FakeOsv, kind: str
) -> None:
    result = await advise(pipfile(index, 'flask = "*"'), kind, osv.url)

    assert version(result, "flask") == "2.2.5"
    assert (
        f"{kind}: avoided flask 2.3.1 for known vulnerability PYSEC-2023-62 (CVE-2023-30861); "
        "the lock holds flask 2.2.5." in said(result, "INFO")
    )
    assert said(result, "WARNING") == []


async def test_stable_holds_back_a_release_uploaded_yesterday_and_latest_takes_it(
    index: PackageIndex, osv: FakeOsv
) -> None:
    text = pipfile(index, 'requests = "*"\nsix = "*"')
    stable = await advise(text, "stable", osv.url)
    latest = await advise(text, "latest", osv.url)

    assert (version(stable, "requests"), version(latest, "requests")) == ("2.31.0", "2.32.0")
    assert (
        "stable: releases uploaded less than 7 days ago were held back (the cool-down): "
        "requests 2.32.0." in said(stable)
    )
    assert (
        "stable: the cool-down could not be judged for six: their index publishes no upload "
        "times." in said(stable)
    )


async def test_the_pipfiles_cool_down_period_wins(index: PackageIndex, osv: FakeOsv) -> None:
    text = pipfile(index, 'requests = "*"') + '\n[pipenv]\ncool-down-period = "0d"\n'
    assert version(await advise(text, "stable", osv.url), "requests") == "2.32.0"


async def test_a_fix_for_the_current_locks_vulnerability_skips_the_cool_down(
    index: PackageIndex, osv: FakeOsv
) -> None:
    text = pipfile(index, 'urllib3 = "*"')
    result = await advise(text, "stable", osv.url, lock={"urllib3": "2.0.6"})
    assert version(result, "urllib3") == "2.0.7"


async def test_testing_takes_pre_releases_and_latest_does_not(
    index: PackageIndex, osv: FakeOsv
) -> None:
    text = pipfile(index, 'nextgen = "*"')
    assert version(await advise(text, "testing", osv.url), "nextgen") == "2.0rc1"
    assert version(await advise(text, "latest", osv.url), "nextgen") == "1.0"


async def test_without_vulnerability_data_stable_warns_and_security_fails(
    index: PackageIndex,
) -> None:
    with FakeOsv() as down:
        down.unavailable = True
        stable = await advise(pipfile(index, 'flask = "*"'), "stable", down.url)
        with pytest.raises(AdviseError) as failed:
            await advise(pipfile(index, 'flask = "*"'), "security", down.url)

    assert any(m.startswith("Known vulnerabilities were not checked:") for m in said(stable))
    assert failed.value.retryable
    assert "could not be checked" in str(failed.value)


async def test_performance_applies_the_rules_kept_for_it(index: PackageIndex, osv: FakeOsv) -> None:
    [rule] = parse_rules(
        [
            {
                "id": "flask-optimised-build",
                "when": {"recommendation_types": ["performance"], "packages": ["flask"]},
                "constrain": {"flask": "==2.2.5"},
                "guidance": {"type": "INFO", "message": "flask's optimised build."},
            }
        ]
    )
    text = pipfile(index, 'flask = "*"')
    performance = await advise(text, "performance", osv.url, rules=[rule])
    latest = await advise(text, "latest", osv.url, rules=[rule])

    assert (version(performance, "flask"), version(latest, "flask")) == ("2.2.5", "2.3.1")
    assert "flask's optimised build." in said(performance)
    assert "flask's optimised build." not in said(latest)


async def test_a_newly_published_advisory_brings_the_security_pull_request_at_the_next_check(
    index: PackageIndex, env: dict[str, str], github: FakeGitHub, tmp_path: Path
) -> None:
    with FakeOsv() as osv:
        text = pipfile(index, 'flask = "*"')
        locked = await advise(text, "latest", osv.url)  # 2.3.1: nothing known against it yet
        lock = render_lock(locked.lock, parse_pipfile("Pipfile", text)).text
        repo, installation = new_repo_name("advised")
        github.create_repo(repo, {"Pipfile": pipfile(index, "")}, installation=installation)
        push = github.push(repo, {"Pipfile": text, "Pipfile.lock": lock})
        local = {k: v for k, v in env.items() if k != "THOTH_HOST"} | {
            "THOTH_BOT_ADVISER": "local",
            "THOTH_BOT_CONFIG": str(local_config(tmp_path)),
            "THOTH_BOT_OSV_URL": osv.url,
        }
        bot = await BotUnderTest.from_env(local).start()
        try:
            payload = payloads.push(
                repo,
                before=push.before,
                after=push.after,
                commits=[push],
                installation_id=installation,
            )
            assert (await bot.deliver("push", payload))[0] == 202
            await bot.settle()
            [before] = github.pulls(repo)  # the .s2i hooks; the lock is what stable takes
            assert "flask" not in before.body

            osv.publish(record("PYSEC-2023-62"))
            maintainer = bot.bot.maintainer
            assert maintainer is not None
            queued = await maintainer.run_once(time.time())
            await bot.settle()
        finally:
            await bot.close()

    assert queued == [f"github:advisory:{repo}:PYSEC-2023-62"]
    [pull] = github.pulls(repo)  # the same one, retitled
    assert pull.number == before.number
    assert pull.title == "Security update: fix PYSEC-2023-62 (CVE-2023-30861) (main)"
    assert "security" in pull.labels
    assert "| flask | default | 2.3.1 | 2.2.5 | fixes PYSEC-2023-62 (CVE-2023-30861) |" in pull.body
    new_lock = json.loads(github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "")
    assert new_lock["default"]["flask"]["version"] == "==2.2.5"
