"""The embedded adviser against `pipenv lock` and against raw uv, cold and warm.

    .venv/bin/python bench/advise.py [--runs 3]

A realistic stack (numpy, pandas, scipy, scikit-learn, matplotlib, flask, requests and their
dependencies, pytest for develop: 34 distributions), downloaded once from PyPI into
.cache/bench-wheels, is served on 127.0.0.1 by the tests' package index, with PEP 658 metadata
as PyPI serves it. On the same Pipfile and index:

- pipenv lock: pipenv 2026.10.3 from its own virtualenv (tests/tools.py); the project's
  virtualenv is made before the clock starts; cold = empty pip and pipenv caches;
- raw uv: one `uv pip compile` of the same packages for the same target, called as the
  embedded adviser calls it (the interpreter named); cold = empty cache;
- embedded: thoth-bot's `LocalAdviser.advise` (rules, two resolutions: default then develop,
  the pipenv lock rendered), wheels only, every request through its egress proxy; cold = empty
  uv cache.

Each figure is the median of `--runs` runs. Goal (issue #6): >= 5x faster than pipenv cold,
>= 20x warm, within 1.3x of raw uv cold.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.index import PackageIndex
from tools import tool_venv

from bot.advisers.local import LocalAdviser
from bot.advisers.local.indexes import IndexPolicy
from bot.advisers.local.uv_process import uv_binary
from bot.config import load_settings
from handlers.adviser import AdviseRequest

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".cache" / "bench-wheels"
STACK = ["numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "flask", "requests"]
DEV = ["pytest"]


def download() -> None:
    """The stack's wheels for CPython 3.11 on manylinux x86_64, once."""
    if len(list(WHEELS.glob("*.whl"))) >= 30:
        return
    WHEELS.mkdir(parents=True, exist_ok=True)
    platforms = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--dest",
            str(WHEELS),
            *[arg for platform in platforms for arg in ("--platform", platform)],
            *STACK,
            *DEV,
        ],
        check=True,
    )


def pipfile(index: PackageIndex | RemoteIndex) -> str:
    packages = "\n".join(f'{name} = "*"' for name in STACK)
    dev = "\n".join(f'{name} = "*"' for name in DEV)
    return (
        f'[[source]]\nurl = "{index.simple_url}"\nverify_ssl = false\nname = "local"\n\n'
        f"[packages]\n{packages}\n\n[dev-packages]\n{dev}\n\n"
        '[requires]\npython_version = "3.11"\n'
    )


async def timed(
    action: Callable[[], Awaitable[None]], runs: int, prepare: Callable[[], None]
) -> float:
    times = []
    for _ in range(runs):
        prepare()
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {out.decode()[-2000:]}{err.decode()[-2000:]}")


def serve_wheels(ready: multiprocessing.Queue[str]) -> None:
    """The bench's index: every downloaded wheel, until the bench ends."""
    index = PackageIndex().start()
    for wheel in sorted(WHEELS.glob("*.whl")):
        index.add_file(wheel)
    ready.put(index.url)
    threading.Event().wait()


class RemoteIndex:
    """The URLs of the index served by `serve_wheels`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.simple_url = f"{url}/simple"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    download()
    # The index runs in a process of its own, as a real one would: in this process it would
    # compete for the GIL with the embedded adviser's own reads (not with pipenv's or uv's).
    ready: multiprocessing.Queue[str] = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve_wheels, args=(ready,), daemon=True)
    server.start()
    index = RemoteIndex(ready.get(timeout=60))
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        text = pipfile(index)
        results: dict[str, float] = {}

        # pipenv lock, in a project whose virtualenv exists before the clock starts.
        pipenv = tool_venv("pipenv") / "bin" / "pipenv"
        project = work / "project"
        project.mkdir()
        (project / "Pipfile").write_text(text)
        caches = work / "pipenv-caches"
        env = {
            **os.environ,
            "PIPENV_VENV_IN_PROJECT": "1",
            "PIPENV_IGNORE_VIRTUALENVS": "1",
            "PIPENV_CACHE_DIR": str(caches / "pipenv"),
            "PIP_CACHE_DIR": str(caches / "pip"),
            "PIPENV_NOSPIN": "1",
            "PIPENV_YES": "1",
        }
        await run([str(pipenv), "--python", sys.executable], project, env)

        def clear(path: Path) -> Callable[[], None]:
            return lambda: shutil.rmtree(path, ignore_errors=True)

        def keep() -> None:
            pass

        lock = [str(pipenv), "lock"]
        results["pipenv lock, cold"] = await timed(
            lambda: run(lock, project, env), args.runs, clear(caches)
        )
        results["pipenv lock, warm"] = await timed(lambda: run(lock, project, env), args.runs, keep)

        # Raw uv: the same packages, the same target, one resolution.
        uv_cache = work / "uv-cache"
        (work / "requirements.in").write_text("\n".join(STACK + DEV) + "\n")
        compile_ = [
            uv_binary(),
            "pip",
            "compile",
            "requirements.in",
            "--format",
            "pylock.toml",
            "-o",
            "pylock.toml",
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_34",
            "--no-config",
            "--quiet",
            "--python",  # as the embedded adviser calls it: no interpreter discovery
            sys.executable,
            "--default-index",
            index.simple_url,
        ]
        uv_env = {**os.environ, "UV_CACHE_DIR": str(uv_cache)}
        results["raw uv, cold"] = await timed(
            lambda: run(compile_, work, uv_env), args.runs, clear(uv_cache)
        )
        results["raw uv, warm"] = await timed(lambda: run(compile_, work, uv_env), args.runs, keep)

        # thoth-bot's embedded adviser, as a job calls it.
        settings = load_settings(None, {})
        request = AdviseRequest(
            pipfile=text,
            pipfile_lock="",
            environment="app",
            node_class=settings.node_classes[settings.default_node_class],
            python_version="3.11",
        )
        # The bench's index listens on 127.0.0.1, which an operator must allow by name.
        advisers: list[LocalAdviser] = []

        def new_adviser() -> None:
            """Cold: an empty uv cache and a new adviser (no index page read yet)."""
            shutil.rmtree(uv_cache, ignore_errors=True)
            advisers.append(
                LocalAdviser(
                    rules=settings.hardware_rules,
                    indexes=IndexPolicy(allowed=("127.0.0.1",)),
                    cache_dir=uv_cache,
                )
            )

        async def advise() -> None:
            await advisers[-1].advise(request)

        results["embedded, cold"] = await timed(advise, args.runs, new_adviser)
        results["embedded, warm"] = await timed(advise, args.runs, keep)
        for adviser in advisers:
            await adviser.close()
    server.terminate()

    count = len(list(WHEELS.glob("*.whl")))
    print(f"{count} distributions on a local PEP 503/658 index, median of {args.runs} runs")
    for name, seconds in results.items():
        print(f"  {name:22} {seconds:7.3f} s")
    cold = results["pipenv lock, cold"] / results["embedded, cold"]
    warm = results["pipenv lock, warm"] / results["embedded, warm"]
    over_uv = results["embedded, cold"] / results["raw uv, cold"]
    print(f"embedded vs pipenv: {cold:.1f}x faster cold (goal >= 5), {warm:.1f}x warm (goal >= 20)")
    print(f"embedded vs raw uv, cold: {over_uv:.2f}x its time (goal <= 1.3)")
    return 0 if cold >= 5 and warm >= 20 and over_uv <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
