"""The README's promises that a newcomer runs first."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_command = next(cmd for cmd in _commands() if "pytest" in cmd)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_start_command_serves_the_bot():
    start = _commands()[0]
    assert "thoth-bot serve" in start and "pip install -e ." in start
