"""The `.s2i/bin/assemble` hook in front of the real builder (SPEC §9; the locks-that-deploy
issue, point 6): sclorg's s2i-python-container `s2i/bin/assemble` for Python 3.11, as the
`python-311` builder image runs it, with a lock the embedded adviser made.

The builder script is read at test time from a checkout of sclorg/s2i-python-container, pinned
by commit and by its sha256, whose git directory `THOTH_BOT_S2I_PYTHON_CONTAINER` names: it is
not part of this repository (the workplace forbids committing fetched code), and `.ci/run`
points at one where the machine holds it. Without it the test is skipped, saying so.

It runs as the image would: in a mount namespace (bubblewrap) where the sources are at
`/tmp/src` and the application root at `/opt/app-root`, a Python 3.11 virtualenv there, the
builder's script under `STI_SCRIPTS_PATH`. Only what would reach the network is replaced:
micropipenv is installed from a local wheel instead of PyPI, and the lock's index is a
package index on 127.0.0.1. `fix-permissions` (a chmod helper of sclorg's base image) is a
no-op. Everything else is real: our hook's checks, micropipenv installing the lock with
every hash checked, the builder moving the sources and looking for Django, and an import of the
locked packages at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.index import PackageIndex
from test_local_adviser import X86, advise, pipfile, uv_cache
from tools import wheelhouse

from handlers import s2i
from handlers.pipfile_lock import encode_lock

__all__ = ["uv_cache"]  # the fixture, used here too

SCLORG_COMMIT = "b8390144822473e199c650d5963a9df9a95a508c"  # the last 3.11 scripts in the tree
SCLORG_ASSEMBLE = "3.11/s2i/bin/assemble"
SCLORG_SHA256 = "9e07a65941cde56634014c998f1f9bea708d40277c4ddb0276c36dc88705cebd"


def sclorg_assemble() -> bytes:
    git_dir = os.environ.get("THOTH_BOT_S2I_PYTHON_CONTAINER")
    if not git_dir:
        pytest.skip(
            "THOTH_BOT_S2I_PYTHON_CONTAINER does not name a git directory of "
            "sclorg/s2i-python-container, so the real builder script is not here"
        )
    script = subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{SCLORG_COMMIT}:{SCLORG_ASSEMBLE}"],
        capture_output=True,
        check=True,
    ).stdout
    assert hashlib.sha256(script).hexdigest() == SCLORG_SHA256
    return script


@pytest.fixture(scope="module")
def index() -> Iterator[PackageIndex]:
    packages = PackageIndex().start()
    packages.add_wheel("purelib", "1.0")
    packages.add_wheel(
        "accel", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64", requires=["purelib"]
    )
    packages.add_wheel("accel", "2.0", tag="cp311-cp311-macosx_11_0_arm64", requires=["purelib"])
    yield packages
    packages.stop()


BUILD = r"""
set -euo pipefail
export PIP_CONFIG_FILE=/dev/null  # not this machine's pip configuration
python3.11 -m venv /opt/app-root
/opt/app-root/bin/pip install -q --no-index --find-links /wheels 'micropipenv[toml]'
mkdir -p /opt/app-root/src
cd /opt/app-root/src
export HOME=/opt/app-root/src PATH=/opt/app-root/bin:/stubs:/usr/bin:/bin
export STI_SCRIPTS_PATH=/usr/libexec/s2i PIP_NO_CACHE_DIR=1
set -a
. /tmp/src/.s2i/environment
set +a
/tmp/src/.s2i/bin/assemble
echo "=== after"
python -c 'import accel, purelib; print("imported", accel.VERSION, purelib.VERSION)'
ls -A /opt/app-root/src
"""


def build(root: Path, sources: dict[str, str], hooks: dict) -> subprocess.CompletedProcess[str]:
    """An s2i build of `sources` with the real builder script, in a mount namespace."""
    src, app_root, builder, stubs = (root / name for name in ("src", "app-root", "s2i", "stubs"))
    for directory in (src, app_root, builder, stubs):
        directory.mkdir()
    for path, text in sources.items():
        (src / path).write_text(text)
    for path, content in hooks.items():
        target = src / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content.text)
        target.chmod(0o755 if content.executable else 0o644)
    (builder / "assemble").write_bytes(sclorg_assemble())
    (builder / "assemble").chmod(0o755)
    (stubs / "fix-permissions").write_text("#!/bin/sh\nexit 0\n")
    (stubs / "fix-permissions").chmod(0o755)
    python = Path(shutil.which("python3.11") or "").resolve()
    (stubs / "python3.11").symlink_to(python)
    bwrap = shutil.which("bwrap")
    assert bwrap, "bubblewrap is missing (.ci/run installs it)"
    mounts = {src: "/tmp/src", app_root: "/opt/app-root", builder: "/usr/libexec/s2i"}
    mounts |= {stubs: "/stubs", wheelhouse("micropipenv"): "/wheels"}
    command = [bwrap, "--dev-bind", "/", "/", "--tmpfs", "/opt", "--tmpfs", "/tmp"]
    command += ["--tmpfs", "/usr/libexec"]
    for host, inside in mounts.items():
        command += ["--bind", str(host), inside]
    command += ["--die-with-parent", "--", "bash", "-c", BUILD]
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


async def test_the_hook_hands_a_checked_install_to_sclorgs_real_assemble(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'accel = "*"')
    result = await advise(text, X86)
    hooks = s2i.render_hooks(environments=["cpu"], overlays_dir=None, thoth_host=None)
    sources = {"Pipfile": text, "Pipfile.lock": encode_lock(result.lock), "app.py": "print(1)\n"}

    built = build(tmp_path, sources, hooks)

    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    # Our hook: the lock checked against the Pipfile and Python 3.11, installed with hashes.
    assert "Pipfile.lock matches Pipfile and this Python" in output
    assert "installing the lock of runtime environment 'cpu'" in output
    # The builder's own assemble ran after it, moved the sources into place, and found no
    # Django; the locked packages import in the application's Python.
    assert "---> Installing application source ..." in output
    after = built.stdout.split("=== after\n", 1)[1].splitlines()
    assert after[0] == "imported 2.0 1.0"
    assert {"app.py", "Pipfile", "Pipfile.lock", ".s2i"} <= set(after[1:])
    assert json.loads(sources["Pipfile.lock"])["_meta"]["requires"] == {"python_version": "3.11"}


async def test_the_real_builder_never_runs_with_a_lock_for_another_python(
    index: PackageIndex, tmp_path: Path
) -> None:
    text = pipfile(index, 'purelib = "*"')
    lock = (await advise(text, X86)).lock
    lock["_meta"]["requires"] = {"python_version": "3.8"}  # as a lock made elsewhere would say
    hooks = s2i.render_hooks(environments=["cpu"], overlays_dir=None, thoth_host=None)

    built = build(tmp_path, {"Pipfile": text, "Pipfile.lock": encode_lock(lock)}, hooks)

    assert built.returncode != 0
    assert "Pipfile.lock is for Python 3.8, but this builder image runs Python 3.11" in (
        built.stderr
    )
    assert "---> Installing application source ..." not in built.stdout
