"""Real public Pipfiles, locked by the embedded adviser against the real package index.

    .venv/bin/python bench/realworld.py [--node-class NAME] [--allow ADDRESS ...]
                                        [--pipenv] [--install] [--only REPO]

Every example node class by default (`--node-class` for one). PyTorch's own indexes are out of
this machine's reach: the bench points the PyTorch rules at PyPI, and says so.

`bench/corpus/pipfiles.json` holds the Pipfiles, each with its repository, path and commit.
Each is advised as the bot would advise it: for the node class's Python (the Pipfile's
`[requires]` set to it, as the bot's commit does), wheels only (thoth-bot never runs a
package's build code), every artifact's hash from the index listings. The table says whether
it locked and, if not, why; then for each lock:

- `pipenv verify` on it (the real pipenv, in its own virtualenv: tests/tools.py);
- with `--pipenv` (for the node class this machine is: its platform and Python, no GPU):
  `pipenv lock` on the same Pipfile, cold (empty caches) and warm, timed, and the Pipfile's own
  packages that the bot's lock has older than pipenv's;
- with `--install` (on that node class): a fresh virtualenv of this Python, `pip install
  --require-hashes --no-deps` of exactly the lock's `default` section, then an import of each
  top-level module of the Pipfile's own packages.

It needs the network (the package index), so it is not part of the test suite. The egress
proxy refuses non-public addresses; where this machine reaches the index through one (a
mirror, a sandbox's gateway), the bench says so and lists the address its host names resolve
to, as an operator would in `adviser.indexes`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import Version  # noqa: E402
from tools import pipenv_verify, tool_bin  # noqa: E402

from bot.advisers.local import LocalAdviser  # noqa: E402
from bot.advisers.local.egress import DEFAULT_INDEXES  # noqa: E402
from bot.advisers.local.indexes import IndexPolicy  # noqa: E402
from bot.config import load_settings  # noqa: E402
from handlers.adviser import AdviseError, AdviseRequest  # noqa: E402
from handlers.pipfile import parse_pipfile, with_python_version  # noqa: E402
from handlers.pipfile_lock import encode_lock  # noqa: E402

CORPUS = ROOT / "bench" / "corpus" / "pipfiles.json"
PYPI = "https://pypi.org/simple"


def non_public_addresses(hosts: list[str]) -> list[str]:
    found = set()
    for host in hosts:
        for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM):
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                found.add(str(address))
    return sorted(found)


def why(error: AdviseError) -> str:
    text = str(error)
    oldest = ""
    if error.fix and error.fix.startswith("Require ") and ">=" in error.fix:
        oldest = " (" + error.fix.split(" (", 1)[0].removeprefix("Require ") + ")"
    if "no wheel" in text:
        return "needs a build: " + text.split(" ha", 1)[0] + oldest
    if "no build for" in text:
        return "no build for this Python: " + text.split(" ha", 1)[0] + oldest
    if "cannot be resolved" in text:
        return "no solution for Python and platform"
    return text[:80]


def pipenv_lock(project: Path, caches: Path) -> float:
    """Seconds of one `pipenv lock` in `project`, with its caches in `caches`."""
    env = {
        **os.environ,
        "PIPENV_PIPFILE": str(project / "Pipfile"),
        "PIPENV_IGNORE_VIRTUALENVS": "1",
        "PIPENV_CACHE_DIR": str(caches / "pipenv"),
        "PIP_CACHE_DIR": str(caches / "pip"),
        "PIPENV_NOSPIN": "1",
        "PIPENV_YES": "1",
        "WORKON_HOME": str(caches / "venvs"),
    }
    started = time.monotonic()
    subprocess.run(
        [str(tool_bin("pipenv")), "lock"], cwd=project, env=env, capture_output=True, timeout=1800
    )
    return time.monotonic() - started


def install_and_import(lock: dict, pipfile: dict, work: Path) -> str:
    """'ok', or what failed: a fresh virtualenv, exactly the lock's default section with its
    hashes, then an import of the top-level modules of the Pipfile's own packages."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    lines = [
        f"{name}{entry['version']} " + " ".join(f"--hash={h}" for h in entry["hashes"])
        for name, entry in lock["default"].items()
    ]
    (work / "requirements.txt").write_text("\n".join(lines) + "\n")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--require-hashes", "--only-binary",
         ":all:", "-r", str(work / "requirements.txt")],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if installed.returncode != 0:
        return "install failed: " + installed.stderr.strip().splitlines()[-1][:80]
    probe = (
        "import importlib, importlib.metadata as m, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    dist = m.distribution(name)\n"
        "    present = {\n"  # what the wheel holds at its top: packages and modules
        "        str(f).split('/')[0].split('.')[0] for f in dist.files or []\n"
        "        if str(f).endswith(('.py', '.so', '.pyd'))\n"
        "        and not str(f).split('/')[0].endswith(('.dist-info', '.data'))\n"
        "        and str(f).split('/')[0] != '..'}\n"
        "    listed = (dist.read_text('top_level.txt') or '').split()\n"
        "    # top_level.txt may name what the wheel lacks (PySide2 5.13 lists `QtCore`)\n"
        "    tops = [top for top in listed if top in present] or sorted(present)\n"
        "    for top in tops:\n"
        "        if top.startswith('_'): continue\n"
        "        try: importlib.import_module(top)\n"
        "        except Exception as e: failed.append(f'{top}: {type(e).__name__}: {e}'[:120])\n"
        "print('\\n'.join(failed))\n"
    )
    names = list(pipfile.get("packages", {}))
    imported = subprocess.run(
        [python, "-c", probe, *names], capture_output=True, text=True, timeout=600
    )
    problems = imported.stdout.strip()  # what failed; stderr holds the packages' own warnings
    if imported.returncode != 0:
        problems = problems or imported.stderr.strip().splitlines()[-1]
    return "ok" if imported.returncode == 0 and not problems else "import failed: " + problems[:80]


def pypi_for_torch(rules: tuple) -> tuple:
    """The PyTorch rules with their indexes at PyPI: PyTorch's own index is out of reach here."""
    return tuple(
        dataclasses.replace(rule, index=dataclasses.replace(rule.index, url=PYPI))
        if rule.index is not None and rule.id.startswith("pytorch-")
        else rule
        for rule in rules
    )


async def advise_twice(adviser_for, request: AdviseRequest):  # type: ignore[no-untyped-def]
    """(result or None, why not, [cold seconds, warm seconds]): a new adviser with empty caches,
    then the same one again; a retryable failure is tried once more, as the bot's job would."""
    seconds: list[float] = []
    result = None
    adviser = adviser_for()
    try:
        for _ in range(2):
            started = time.monotonic()
            try:
                try:
                    result = await adviser.advise(request)
                except AdviseError as error:
                    if not error.retryable:
                        raise
                    result = await adviser.advise(request)
            except AdviseError as error:
                return None, why(error), seconds
            seconds.append(time.monotonic() - started)
    finally:
        await adviser.close()
    return result, "", seconds


def older_than(ours: dict, theirs: dict, direct: list[str]) -> list[str]:
    """The Pipfile's own packages that our lock has at an older version than pipenv's."""
    found = []
    for name in direct:
        key = canonicalize_name(name)
        mine = {canonicalize_name(k): v for k, v in ours.get("default", {}).items()}.get(key)
        their = {canonicalize_name(k): v for k, v in theirs.get("default", {}).items()}.get(key)
        if mine and their and "version" in mine and "version" in their:
            if Version(mine["version"].lstrip("=")) < Version(their["version"].lstrip("=")):
                found.append(f"{name} {mine['version'][2:]} < {their['version'][2:]}")
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-class", default=None, help="one node class (default: all)")
    parser.add_argument("--allow", nargs="*", default=None, help="addresses to allow")
    parser.add_argument("--pipenv", action="store_true", help="time pipenv lock too")
    parser.add_argument("--install", action="store_true", help="install and import CPU locks")
    parser.add_argument("--only", default=None, help="only the repositories containing this")
    args = parser.parse_args()
    settings = load_settings(None, {})
    classes = [args.node_class] if args.node_class else list(settings.node_classes)
    rules = pypi_for_torch(settings.hardware_rules)
    print("note: the PyTorch rules point at PyPI here (PyTorch's own index is out of reach)")
    hosts = ["pypi.org", "files.pythonhosted.org"]
    allow = args.allow if args.allow is not None else non_public_addresses(hosts)
    if allow:
        print(f"note: the index's hosts resolve to non-public addresses here; allowed: {allow}")
    here = f"{platform.system().lower()}-{platform.machine()}"
    python_here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    cache = ROOT / ".cache" / "bench-realworld-uv"
    corpus = [e for e in json.loads(CORPUS.read_text()) if not args.only or args.only in e["repo"]]
    outcomes: Counter[str] = Counter()
    timings: dict[str, list[float]] = {"cold": [], "warm": [], "pipenv cold": [], "pipenv warm": []}
    older: list[str] = []
    print(f"{'repository':42} {'node class':14} {'cold':>6} {'warm':>6}  result")
    for entry in corpus:
        compared = False  # pipenv lock runs once per Pipfile, on this machine's Python
        for name in classes:
            node_class = settings.node_classes[name]
            python = node_class.python_version
            text = entry["pipfile"]
            asked = parse_pipfile("Pipfile", text).python_version
            if asked and asked != python:
                text = with_python_version(text, python)  # as the bot's commit does
            request = AdviseRequest(
                pipfile=text, pipfile_lock="", environment="app", node_class=node_class,
                python_version=python,
            )  # fmt: skip
            shutil.rmtree(cache, ignore_errors=True)
            result, outcome, seconds = await advise_twice(
                lambda: LocalAdviser(
                    rules=rules,
                    indexes=IndexPolicy(allowed=(*DEFAULT_INDEXES, *allow)),
                    cache_dir=cache,
                ),
                request,
            )
            row = f"{entry['repo']:42} {name:14}"
            if result is None:
                kind = outcome.split(":", 1)[0]
                known = kind in ("needs a build", "no build for this Python")
                outcomes[kind if known else "other"] += 1
                print(f"{row} {'':>6} {'':>6}  {outcome}")
                continue
            outcomes["locked"] += 1
            timings["cold"].append(seconds[0])
            timings["warm"].append(seconds[1])
            pins = sum(len(s) for k, s in result.lock.items() if k != "_meta")
            parts = [f"locked ({pins} pins)"]
            with tempfile.TemporaryDirectory() as directory:
                project = Path(directory) / "project"
                project.mkdir()
                (project / "Pipfile").write_text(text)
                (project / "Pipfile.lock").write_text(encode_lock(result.lock))
                verified = pipenv_verify(project)
                parts.append("verify ok" if verified.returncode == 0 else "verify FAILED")
                outcomes["verified" if verified.returncode == 0 else "not verified"] += 1
                runs_here = node_class.platform == here and python == python_here
                cpu = not node_class.hardware.gpu_model
                if args.install and runs_here and cpu:
                    if any(k.startswith("nvidia-") for k in result.lock["default"]):
                        parts.append("install skipped (CUDA wheels, gigabytes)")
                    else:
                        data = parse_pipfile("P", text).data
                        installed = install_and_import(result.lock, data, Path(directory))
                        parts.append(f"install+import {installed}")
                        outcomes["installs" if installed == "ok" else "does not install"] += 1
                if args.pipenv and runs_here and cpu and not compared:
                    compared = True
                    theirs = Path(directory) / "theirs"
                    theirs.mkdir()
                    (theirs / "Pipfile").write_text(text)
                    caches = Path(directory) / "pipenv-caches"
                    cold = pipenv_lock(theirs, caches)
                    warm = pipenv_lock(theirs, caches)
                    timings["pipenv cold"].append(cold)
                    timings["pipenv warm"].append(warm)
                    timings.setdefault("paired cold", []).append(seconds[0])
                    timings.setdefault("paired warm", []).append(seconds[1])
                    parts.append(f"pipenv lock {cold:.1f}/{warm:.1f} s")
                    if (theirs / "Pipfile.lock").exists():
                        behind = older_than(
                            result.lock,
                            json.loads((theirs / "Pipfile.lock").read_text()),
                            list(parse_pipfile("P", text).data.get("packages", {})),
                        )
                        outcomes["compared"] += 1
                        if behind:
                            older.append(f"{entry['repo']}: {', '.join(behind)}")
                            parts.append("OLDER than pipenv: " + ", ".join(behind))
                        else:
                            parts.append("direct packages >= pipenv's")
            print(f"{row} {seconds[0]:6.1f} {seconds[1]:6.2f}  " + ", ".join(parts))
    total = len(corpus) * len(classes)
    print(
        f"\n{outcomes['locked']} of {total} advises lock with builds off "
        f"({100 * outcomes['locked'] / max(total, 1):.0f}%) for {', '.join(classes)}; "
        f"{outcomes['needs a build']} need a build, "
        f"{outcomes['no build for this Python']} pin a release with no build for the Python, "
        f"{outcomes['other']} fail otherwise; {outcomes['verified']} pass `pipenv verify`."
    )
    if args.install:
        tried = outcomes["installs"] + outcomes["does not install"]
        print(f"{outcomes['installs']} of {tried} CPU locks install and import.")
    if timings["cold"]:
        print(
            f"embedded adviser, median: {statistics.median(timings['cold']):.2f} s cold, "
            f"{statistics.median(timings['warm']):.2f} s warm"
        )
    if timings["pipenv cold"]:
        pairs = zip(timings["pipenv cold"], timings["paired cold"], strict=True)
        cold = [p / e for p, e in pairs]
        pairs = zip(timings["pipenv warm"], timings["paired warm"], strict=True)
        warm = [p / e for p, e in pairs]
        print(
            f"pipenv lock, median: {statistics.median(timings['pipenv cold']):.1f} s cold, "
            f"{statistics.median(timings['pipenv warm']):.1f} s warm; the embedded adviser is "
            f"{statistics.median(cold):.1f}x faster cold, {statistics.median(warm):.1f}x warm "
            "(medians of the per-Pipfile ratios)"
        )
        print(
            f"direct packages older than pipenv lock's: {len(older)} of "
            f"{outcomes['compared']} Pipfiles" + "".join(f"\n  {line}" for line in older)
        )


if __name__ == "__main__":
    asyncio.run(main())
