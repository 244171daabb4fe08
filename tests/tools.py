"""Third-party programs the tests run from virtualenvs of their own.

pipenv and thamos cannot share an environment (thamos pins `packaging<22` through
thoth-python), and neither belongs in the bot's environment. Each gets a virtualenv under
`.cache/tool-venvs/`, made on first use and reused afterwards; a file lock keeps parallel
test processes from building the same one twice.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("THOTH_BOT_TEST_CACHE", ROOT / ".cache"))

# Pinned so a test run today and one in a year use the same programs.
TOOLS = {
    "pipenv": ["pipenv==2026.10.3"],
    "thamos": ["thamos==1.29.1"],
    "micropipenv": ["micropipenv[toml]==1.10.0"],
}


def tool_venv(name: str) -> Path:
    """The virtualenv holding tool `name`, created on first use."""

    def create(target: Path) -> None:
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
        _run([str(target / "bin" / "python"), "-m", "pip", "install", "-q", *TOOLS[name]])

    return _made_once(CACHE / "tool-venvs" / name, name, create)


def wheelhouse(name: str) -> Path:
    """A directory of the wheels of tool `name` and what it needs, downloaded on first use, for
    `pip install --no-index --find-links` where a test must not reach an index."""

    def download(target: Path) -> None:
        _run([sys.executable, "-m", "pip", "download", "-q", "-d", str(target), *TOOLS[name]])

    return _made_once(CACHE / "wheels" / name, name, download)


def _made_once(target: Path, name: str, make: Callable[[Path], None]) -> Path:
    """`target`, made by `make` unless it was made for the same TOOLS entry (a file lock keeps
    parallel test processes from making it twice)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    marker = target / ".made"
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists() or marker.read_text() != repr(TOOLS[name]):
            make(target)
            marker.write_text(repr(TOOLS[name]))
    return target


def _run(command: list[str]) -> None:
    """pip, with what reaching the package index needs of this process's environment (which
    holds the tests' secrets): the path, the locale, pip's and TLS's settings, proxies."""
    passed = ("PATH", "HOME", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env = {
        key: value
        for key, value in os.environ.items()
        if key in passed or key.startswith("PIP_") or key.lower().endswith("_proxy")
    }
    subprocess.run(command, check=True, stdout=sys.stderr, env=env)


def tool_bin(name: str, program: str | None = None) -> Path:
    return tool_venv(name) / "bin" / (program or name)


def pipenv_verify(project_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `pipenv verify` in `project_dir` (which holds a Pipfile and Pipfile.lock)."""
    return _pipenv(project_dir, "verify")


def pipenv_lock(project_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `pipenv lock` in `project_dir` (its virtualenv made inside it)."""
    return _pipenv(project_dir, "lock", PIPENV_VENV_IN_PROJECT="1")


def _pipenv(project_dir: Path, command: str, **more: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(project_dir),
        "PIPENV_PIPFILE": str(project_dir / "Pipfile"),
        "PIPENV_IGNORE_VIRTUALENVS": "1",
        "PIPENV_NOSPIN": "1",
        "PIPENV_YES": "1",
        "NO_COLOR": "1",
        **more,
    }
    return subprocess.run(
        [str(tool_bin("pipenv")), command],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
