"""Direct requirements first (the locks-that-deploy issue, point 2): on the same Pipfile and
Python, a package the Pipfile names is never older than `pipenv lock`'s choice, unless the
guidance says why. The index on 127.0.0.1 serves the shape of `numpy` + `tensorflow<2.14`,
on which uv alone takes the newest NumPy first and leaves an old TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.index import PackageIndex
from test_local_adviser import advise, pipfile
from tools import pipenv_lock

from bot.advisers.local.egress import Allowlist
from bot.advisers.local.resolve import LocalResolver, Target
from bot.advisers.local.rules import parse_rules
from bot.advisers.local.uv_process import Index, UvRunner


@pytest.fixture(scope="module")
def index() -> Iterator[PackageIndex]:
    packages = PackageIndex().start()
    for version in ("1.0", "1.5", "2.0"):
        packages.add_wheel("numlib", version)
    # As TensorFlow: older releases take any NumPy, newer ones cap it.
    packages.add_wheel("framework", "1.0", requires=["numlib"])
    packages.add_wheel("framework", "2.0", requires=["numlib<2"])
    packages.add_wheel("framework", "2.1", requires=["numlib<2"])
    packages.add_wheel("framework", "2.2", requires=["numlib<1.5"])
    packages.add_wheel("framework", "2.3rc1", requires=["numlib<1.5"])
    packages.add_wheel("framework", "2.4", tag="cp37-cp37m-manylinux_2_17_x86_64")
    packages.add_wheel("framework", "3.0", requires=["numlib<1"])
    yield packages
    packages.stop()


@pytest.fixture(autouse=True)
def uv_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))


def versions(lock: dict, section: str = "default") -> dict[str, str]:
    return {name: entry["version"] for name, entry in lock[section].items()}


async def test_uv_alone_takes_the_transitive_choice_first(
    index: PackageIndex, tmp_path: Path
) -> None:
    """What the adviser corrects (this test fails once uv prefers direct packages itself)."""
    cache = tmp_path / "uv-cache"
    resolver = LocalResolver(UvRunner(cache_dir=cache))
    target = Target(
        python_version="3.11",
        python_platform="x86_64-manylinux_2_34",
        indexes=(Index(index.simple_url),),
        allowlist=Allowlist.of(["127.0.0.1"]),
        pinned={},
    )
    try:
        pins = await resolver(["numlib", "framework<3"], target)
    finally:
        await resolver.close()
    assert (pins["numlib"].version, pins["framework"].version) == ("2.0", "1.0")


async def test_direct_packages_are_as_new_as_pipenv_locks_them(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'numlib = "*"\nframework = "<3"')
    (tmp_path / "Pipfile").write_text(text)

    result = await advise(text)
    locked = pipenv_lock(tmp_path)

    assert locked.returncode == 0, locked.stderr
    pipenv = versions(json.loads((tmp_path / "Pipfile.lock").read_text()))
    assert pipenv == {"framework": "==2.2", "numlib": "==1.0"}
    # framework is constrained in the Pipfile, so it is raised first; 2.3rc1 is a
    # pre-release and 2.4 has no build for Python 3.11.
    assert versions(result.lock) == pipenv
    said = [g.message for g in result.justification]
    assert any(
        "Locked below their newest releases" in message and "numlib 1.0 (newest 2.0)" in message
        for message in said
    ), said


async def test_a_rule_that_caps_a_package_is_what_holds_it(index: PackageIndex) -> None:
    [cap] = parse_rules(
        [
            {
                "id": "framework-cap",
                "when": {"packages": ["framework"]},
                "constrain": {"framework": "<2.2"},
                "guidance": {"type": "INFO", "message": "framework before 2.2 on {node_class}"},
            }
        ]
    )
    result = await advise(pipfile(index, 'numlib = "*"\nframework = "<3"'), rules=[cap])

    # The newest framework the rule allows, with the newest numlib it takes; only the rule
    # says why framework is not newer.
    assert versions(result.lock) == {"framework": "==2.1", "numlib": "==1.5"}
    said = " ".join(g.message for g in result.justification)
    assert "framework before 2.2 on cpu-x86" in said
    assert "framework 2.1" not in said


async def test_pre_releases_are_raised_to_where_the_pipfile_allows_them(
    index: PackageIndex,
) -> None:
    text = (
        pipfile(index, 'numlib = "*"\nframework = "<3"') + "\n[pipenv]\nallow_prereleases = true\n"
    )

    result = await advise(text)

    assert versions(result.lock) == {"framework": "==2.3rc1", "numlib": "==1.0"}
