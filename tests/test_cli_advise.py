"""`thoth-bot advise PATH`: the advise job on a local checkout, no forge (SPEC §3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fakes.thoth import FakeThoth
from harness import pipfile
from tools import pipenv_verify


def advise(path: Path, thoth: FakeThoth, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THOTH_HOST": thoth.url, "THOTH_BOT_STATE_DIR": str(path / ".state")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "advise", str(path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_advise_write_locks_a_checkout_as_the_pull_request_would(
    tmp_path: Path, thoth: FakeThoth
) -> None:
    checkout = tmp_path / "app"
    checkout.mkdir()
    (checkout / "Pipfile").write_text(pipfile("flask"))

    dry = advise(checkout, thoth)
    assert dry.returncode == 0, dry.stderr
    assert "would write Pipfile.lock" in dry.stdout and not (checkout / "Pipfile.lock").exists()

    written = advise(checkout, thoth, "--write", "--node-class", "gpu-a100")
    assert written.returncode == 0, written.stderr
    assert "NVIDIA A100-SXM4-40GB" in written.stdout
    # Without a .thoth.yaml, the one environment is the node class it is locked for.
    assert "gpu-a100" in written.stdout and "cpu-x86-64-v3" not in written.stdout
    assert os.access(checkout / ".s2i/bin/assemble", os.X_OK)
    assert "THAMOS_RUNTIME_ENVIRONMENT=" in (checkout / ".s2i/environment").read_text()
    assert pipenv_verify(checkout).returncode == 0


def test_advise_says_what_is_wrong_with_a_checkout(tmp_path: Path, thoth: FakeThoth) -> None:
    (tmp_path / "Pipfile").write_text("[packages\n")
    result = advise(tmp_path, thoth)
    assert result.returncode == 1
    assert "Pipfile:1: invalid TOML" in result.stderr and "fix:" in result.stderr
    assert advise(tmp_path, thoth, "--node-class", "tpu").returncode == 2
