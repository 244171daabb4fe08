"""The embedded adviser (SPEC §8): uv resolving a Pipfile for a node class's Python and
platform against a package index on 127.0.0.1 that serves wheels and sdists the tests build."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import payloads
import pytest
from fakes.github import FakeGitHub
from fakes.index import PackageIndex
from harness import LOCK_BRANCH, BotUnderTest, local_config, new_repo_name
from tools import pipenv_verify

from bot.advisers.local import LocalAdviser
from bot.advisers.local.egress import Allowlist, EgressProxy
from bot.advisers.local.indexes import IndexPolicy
from bot.advisers.local.listing import Listings, every_hash
from bot.advisers.local.rules import Rule
from bot.advisers.local.uv_process import Index
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Hardware, NodeClass
from handlers.pipfile_lock import encode_lock

X86 = NodeClass(
    name="cpu-x86",
    hardware=Hardware(cpu_family=6, cpu_model=85, cpu_flags=("avx", "avx2")),
    python_version="3.11",
    platform="linux-x86_64",
    os_name="rhel",
    os_version="9",
)
ARM = NodeClass(
    name="arm-graviton",
    hardware=Hardware(cpu_flags=("neon",)),
    python_version="3.11",
    platform="linux-aarch64",
    os_name="rhel",
    os_version="9",
)


# The tests' indexes listen on 127.0.0.1, which an operator must allow by name (SPEC §10).
LOOPBACK = IndexPolicy(allowed=("127.0.0.1",))


@pytest.fixture(scope="module")
def index() -> Iterator[PackageIndex]:
    packages = PackageIndex().start()
    packages.add_wheel("purelib", "0.9")
    packages.add_wheel("purelib", "1.0")
    packages.add_wheel("accel", "1.0", requires=["purelib"])
    for machine in ("x86_64", "aarch64"):
        packages.add_wheel("accel", "1.0", tag=f"cp311-cp311-manylinux_2_17_{machine}")
    # 2.0 was built for x86_64 only, and for Python 3.11 only.
    packages.add_wheel(
        "accel", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64", requires=["purelib>=1"]
    )
    packages.add_wheel("accel", "2.0", tag="cp312-cp312-manylinux_2_17_x86_64")
    packages.add_sdist("slowpkg", "1.0", requires=["purelib"])
    packages.add_wheel("needs-old", "1.0", requires=["purelib<1"])
    packages.add_wheel("devtool", "1.0", requires=["purelib"])
    # Built for older Pythons only, up to 2.0 (as TensorFlow 2.1 was).
    packages.add_wheel("oldframe", "1.0", tag="cp37-cp37m-manylinux_2_17_x86_64")
    packages.add_wheel("oldframe", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    packages.add_wheel("oldframe", "3.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    packages.add_wheel("nextgen", "1.0")
    packages.add_wheel("nextgen", "2.0rc1")
    # 2.0 says it does not run on Python 3.11 (as PySide2 5.15.2.1 does): uv reads only the
    # lower bound of requires-python; pip, installing, refuses it.
    packages.add_wheel("gui", "1.0", requires_python=">=3.8")
    packages.add_wheel("gui", "2.0", requires_python=">=3.8,<3.11")
    packages.add_wheel("legacygui", "1.0", requires_python="<3.11")
    yield packages
    packages.stop()


@pytest.fixture(autouse=True)
def uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def pipfile(index: PackageIndex, packages: str, dev: str = "") -> str:
    return (
        f'[[source]]\nurl = "{index.simple_url}"\nverify_ssl = false\nname = "local"\n\n'
        f"[packages]\n{packages}\n\n[dev-packages]\n{dev}\n\n"
        '[requires]\npython_version = "3.11"\n'
    )


async def advise(
    text: str, node_class: NodeClass = X86, rules: Sequence[Rule] | None = None
) -> AdviseResult:
    """The embedded adviser's answer for runtime environment 'app' (the shipped rules)."""
    request = AdviseRequest(
        pipfile=text,
        pipfile_lock="",
        environment="app",
        node_class=node_class,
        python_version="3.11",
    )
    return await LocalAdviser(rules=rules, indexes=LOOPBACK).advise(request)


def verified(tmp_path: Path, name: str, text: str, result: AdviseResult) -> None:
    """Real `pipenv verify` on the lock, written byte for byte as the bot writes it."""
    project = tmp_path / name
    project.mkdir()
    (project / "Pipfile").write_text(text)
    (project / "Pipfile.lock").write_text(encode_lock(result.lock))
    outcome = pipenv_verify(project)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


async def test_two_node_classes_get_the_locks_their_platforms_allow(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'accel = "*"')

    x86, arm = await advise(text, X86), await advise(text, ARM)

    assert x86.lock["default"]["accel"]["version"] == "==2.0"
    assert arm.lock["default"]["accel"]["version"] == "==1.0"  # 2.0 has no aarch64 wheel
    assert x86.lock["default"]["purelib"]["version"] == "==1.0"
    # As pipenv locks: the hash of every artifact of the version, for every platform.
    assert x86.lock["default"]["accel"]["hashes"] == sorted(index.hashes("accel", "2.0"))
    assert arm.lock["default"]["accel"]["hashes"] == sorted(index.hashes("accel", "1.0"))
    assert len(arm.lock["default"]["accel"]["hashes"]) == 3  # py3, x86_64 and aarch64 wheels
    assert x86.lock["default"]["accel"]["index"] == "local"
    assert "aarch64" in arm.justification[0].message
    verified(tmp_path, "x86", text, x86)
    verified(tmp_path, "arm", text, arm)


async def test_every_hash_comes_from_the_index_listing_json_or_html(index: PackageIndex) -> None:
    """pipenv's lock lists every file of a version: read from the index's own page, PEP 691
    JSON where it speaks it, else the HTML page; a page that cannot be read fails the advise
    (retryable), never a lock missing hashes."""
    proxy = await EgressProxy().start()
    wanted = {"accel": ("accel", "1.0", Index(index.simple_url))}
    try:
        with proxy.session(Allowlist.of(["127.0.0.1"])) as session:
            url = proxy.url(session)
            from_html = await every_hash(wanted, proxy=url, listings=Listings())
            index.json_pages = True
            listings = Listings()
            from_json = await every_hash(wanted, proxy=url, listings=listings)
            index.failing_pages = 1
            reused = await every_hash(wanted, proxy=url, listings=listings)  # max-age=600
            with pytest.raises(AdviseError) as caught:
                await every_hash(wanted, proxy=url, listings=Listings())
    finally:
        index.json_pages, index.failing_pages = False, 0
        await proxy.close()
    expected = tuple(sorted(index.hashes("accel", "1.0")))
    assert from_html == from_json == reused == {"accel": expected}
    assert len(expected) == 3  # py3-none-any, x86_64 and aarch64: every platform's
    assert caught.value.retryable and "503" in str(caught.value)


async def test_a_version_built_for_other_pythons_names_the_oldest_one_built_for_this_one(
    index: PackageIndex,
) -> None:
    with pytest.raises(AdviseError) as caught:
        await advise(pipfile(index, 'oldframe = "==1.0"'))
    assert str(caught.value) == (
        "oldframe 1.0 has no build for Python 3.11 on x86_64-manylinux_2_34: its wheels are for "
        "other Pythons or platforms"
    )
    assert caught.value.fix == (
        "Require oldframe>=2.0 (the oldest release with a wheel for Python 3.11 on "
        "x86_64-manylinux_2_34), or another version built for it."
    )
    assert not caught.value.retryable


async def test_a_package_with_only_an_sdist_is_refused_without_running_its_build(
    index: PackageIndex,
) -> None:
    text = pipfile(index, 'slowpkg = "*"')
    before = len(index.requests)

    with pytest.raises(AdviseError) as caught:
        await advise(text)

    assert str(caught.value).startswith(
        "slowpkg 1.0 has no wheel for Python 3.11 on x86_64-manylinux_2_34, and thoth-bot never "
        "runs a package's build code"
    )
    assert caught.value.fix and "publishes a wheel" in caught.value.fix
    assert not caught.value.retryable
    assert "files/slowpkg-1.0.tar.gz" not in index.requests[before:]  # not even downloaded


async def test_develop_is_resolved_within_what_default_got(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'purelib = "==0.9"', dev='devtool = "*"')

    result = await advise(text)

    assert result.lock["default"]["purelib"]["version"] == "==0.9"
    assert result.lock["develop"]["devtool"]["version"] == "==1.0"
    assert result.lock["develop"]["purelib"]["version"] == "==0.9"  # not the newer 1.0
    verified(tmp_path, "dev", text, result)


async def test_a_custom_category_is_locked_in_its_own_section(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'purelib = "==0.9"', dev='devtool = "*"') + '\n[docs]\ndevtool = "*"\n'

    result = await advise(text)

    assert result.lock["docs"]["devtool"]["version"] == "==1.0"
    assert result.lock["docs"]["purelib"]["version"] == "==0.9"  # within default, as develop
    verified(tmp_path, "docs", text, result)


async def test_extras_markers_and_versions_as_pipenv_writes_them(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(
        index,
        'accel = {version = "<2", markers = "sys_platform == \'linux\'"}\npurelib = "1.0"',
    )
    result = await advise(text)
    verified(tmp_path, "markers", text, result)
    assert result.lock["default"]["accel"]["version"] == "==1.0"
    assert result.lock["default"]["accel"]["markers"] == "(sys_platform == 'linux')"
    assert result.lock["default"]["purelib"]["version"] == "==1.0"  # a bare version is ==


async def test_a_package_comes_from_the_index_it_names_and_the_others_from_the_first(
    index: PackageIndex, tmp_path: Path
) -> None:
    other = PackageIndex().start()
    try:
        other.add_wheel("accel", "9.0")  # newer, but accel does not name this index
        other.add_wheel("inhouse", "3.0", requires=["purelib"])
        text = pipfile(index, 'accel = "*"\ninhouse = {version = "*", index = "other"}')
        text = text.replace(
            "[packages]",
            f'[[source]]\nurl = "{other.simple_url}"\nverify_ssl = false\n'
            'name = "other"\n\n[packages]',
        )

        result = await advise(text)
    finally:
        other.stop()

    default = result.lock["default"]
    assert (default["inhouse"]["version"], default["inhouse"]["index"]) == ("==3.0", "other")
    assert (default["accel"]["version"], default["accel"]["index"]) == ("==2.0", "local")
    assert default["purelib"]["index"] == "local"
    assert [s["name"] for s in result.lock["_meta"]["sources"]] == ["local", "other"]
    verified(tmp_path, "two-sources", text, result)
    with pytest.raises(AdviseError, match=r"accel: asks for index 'elsewhere'") as caught:
        await advise(pipfile(index, 'accel = {version = "*", index = "elsewhere"}'))
    assert caught.value.fix == "Add a [[source]] named 'elsewhere', or use one of local."


async def test_a_conflict_is_a_clear_error_naming_the_packages(index: PackageIndex) -> None:
    with pytest.raises(AdviseError) as caught:
        await advise(pipfile(index, 'needs-old = "*"\npurelib = ">=1"'))
    message = str(caught.value)
    assert message.startswith("the Pipfile's packages cannot be resolved")
    detail = caught.value.detail or ""  # uv's own words, quoted in a code block
    assert "needs-old" in detail and "purelib" in detail
    assert "thoth-bot-lock-target" not in detail and "the Pipfile" in detail  # not our internals
    assert not caught.value.retryable


async def test_a_release_that_refuses_the_python_is_not_locked(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'gui = "*"')
    result = await advise(text)

    assert result.lock["default"]["gui"]["version"] == "==1.0"
    assert any(
        g.message.startswith("gui 2.0 requires Python >=3.8,<3.11, so the lock for Python 3.11")
        for g in result.justification
    )
    verified(tmp_path, "gui", text, result)
    with pytest.raises(AdviseError) as caught:
        await advise(pipfile(index, 'legacygui = "*"'))
    assert str(caught.value).startswith("legacygui 1.0 requires Python <3.11, not 3.11")
    assert "supports Python 3.11" in (caught.value.fix or "")


async def test_pre_releases_only_where_the_pipfile_allows_them(index: PackageIndex) -> None:
    text = pipfile(index, 'nextgen = "*"')
    allowing = text + "\n[pipenv]\nallow_prereleases = true\n"

    assert (await advise(text)).lock["default"]["nextgen"]["version"] == "==1.0"
    assert (await advise(allowing)).lock["default"]["nextgen"]["version"] == "==2.0rc1"


async def test_requirements_it_cannot_lock_are_refused_with_the_fix(index: PackageIndex) -> None:
    text = pipfile(index, 'mylib = {git = "https://example.com/mylib.git", ref = "main"}')
    with pytest.raises(AdviseError, match=r"\[packages\] mylib: is a git requirement") as caught:
        await advise(text)
    assert caught.value.fix and caught.value.fix.startswith("Publish it to a package index")


async def test_an_unreachable_index_is_worth_another_try(index: PackageIndex) -> None:
    text = pipfile(index, 'accel = "*"').replace(index.url, "http://127.0.0.1:9")
    with pytest.raises(AdviseError) as caught:
        await advise(text)
    assert caught.value.retryable
    assert str(caught.value) == (
        "the Pipfile's [[source]] 'local' (http://127.0.0.1:9/simple) could not be reached"
    )


@pytest.fixture
def local_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The bot as it runs without a Thoth deployment: the embedded adviser."""
    return {k: v for k, v in env.items() if k != "THOTH_HOST"} | {
        "THOTH_BOT_ADVISER": "local",
        "THOTH_BOT_CONFIG": str(local_config(tmp_path)),
    }


async def test_a_push_gets_its_lock_from_the_embedded_adviser(
    local_env: dict[str, str], github: FakeGitHub, index: PackageIndex, tmp_path: Path
) -> None:
    bot = await BotUnderTest.from_env(local_env).start()
    try:
        repo, installation = new_repo_name("local")
        github.create_repo(
            repo, {"Pipfile": pipfile(index, 'purelib = "*"')}, installation=installation
        )
        push = github.push(repo, {"Pipfile": pipfile(index, 'accel = "*"')})
        payload = payloads.push(
            repo, before=push.before, after=push.after, commits=[push], installation_id=installation
        )
        assert (await bot.deliver("push", payload))[0] == 202
        await bot.settle()
    finally:
        await bot.close()

    [pull] = github.pulls(repo)
    lock = json.loads(github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "")
    assert lock["default"]["accel"]["version"] == "==2.0"  # the default node class: x86_64
    [comment] = github.comments(repo, pull.number)
    assert "by thoth-bot's embedded adviser" in comment.body
    project = tmp_path / "checkout"
    project.mkdir()
    for name in ("Pipfile", "Pipfile.lock"):
        (project / name).write_text(github.file(repo, LOCK_BRANCH, name) or "")
    assert pipenv_verify(project).returncode == 0


def test_thoth_bot_advise_uses_the_embedded_adviser_by_default(
    index: PackageIndex, tmp_path: Path
) -> None:
    """`thoth-bot advise PATH --node-class NAME --write` without THOTH_HOST: embedded adviser."""
    checkout = tmp_path / "app"
    checkout.mkdir()
    (checkout / "Pipfile").write_text(pipfile(index, 'accel = "*"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THOTH_HOST", "THOTH_BOT_"))}
    env["THOTH_BOT_STATE_DIR"] = str(tmp_path / "state")
    env["THOTH_BOT_CONFIG"] = str(local_config(tmp_path))

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "advise",
            str(checkout),
            "--node-class",
            "gpu-a100",
            "--write",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "by thoth-bot's embedded adviser" in result.stdout
    lock = json.loads((checkout / "Pipfile.lock").read_text())
    assert lock["default"]["accel"]["version"] == "==2.0"
    assert pipenv_verify(checkout).returncode == 0


async def test_each_refusal_says_its_one_fix_apart_from_the_message(index: PackageIndex) -> None:
    s390x = dataclasses.replace(X86, name="mainframe", platform="linux-s390x")
    undeclared = pipfile(index, 'accel = {version = "*", index = "mirror"}')
    for text, node_class, fix in (
        (pipfile(index, 'accel = "*"'), s390x, "Correct the node class, or set THOTH_HOST"),
        (undeclared, X86, "Add a [[source]] named 'mirror', or use one of local."),
        ("[packages\n", X86, None),
    ):
        with pytest.raises(AdviseError) as caught:
            await advise(text, node_class)
        assert "Fix:" not in str(caught.value) and "fix:" not in str(caught.value)
        assert caught.value.fix and caught.value.fix.startswith(fix or "")


def test_the_listing_cache_holds_a_bounded_number_of_files() -> None:
    from bot.advisers.local.listing import File, Listings, Page

    def page(name: str, count: int) -> Page:
        files = [File(f"{name}-1.0.{n}-py3-none-any.whl", "0" * 64, "") for n in range(count)]
        return Page(name, files)

    listings = Listings(files=1000)
    listings.put(("a", ""), page("a", 600), "max-age=600")
    listings.put(("b", ""), page("b", 300), "max-age=600")
    listings.put(("c", ""), page("c", 300), "max-age=600")  # a goes: 1200 > 1000
    listings.put(("huge", ""), page("huge", 5000), "max-age=600")  # never held

    assert listings.get(("a", "")) is None and listings.get(("huge", "")) is None
    assert listings.get(("b", "")) is not None and listings.get(("c", "")) is not None


async def test_the_same_advise_again_soon_reads_no_page_again_from_a_mirror_without_cache_headers(
    tmp_path: Path,
) -> None:
    """A mirror that says nothing of caching has uv revalidate every page on every run; the
    same resolution within a minute reads the pages its online run fetched from uv's cache."""
    mirror = PackageIndex().start()
    mirror.cache_headers = False
    mirror.add_wheel("purelib", "1.0")
    mirror.add_wheel("accel", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64", requires=["purelib"])
    text = pipfile(mirror, 'accel = "*"')
    adviser = LocalAdviser(indexes=LOOPBACK)
    try:
        first = await adviser.advise(AdviseRequest(text, "", "app", X86, "3.11"))
        asked = len(mirror.requests)
        again = await adviser.advise(AdviseRequest(text, "", "app", X86, "3.11"))
    finally:
        await adviser.close()
        mirror.stop()
    assert first.lock == again.lock
    assert asked > 0 and mirror.requests[asked:] == []
