"""`thoth-bot check-config` (SPEC §3, issue #7): each broken configuration exits 2 with a
message that names the problem and says how to fix it; a good one exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import GITLAB_SECRET, GITLAB_TOKEN, SECRET, app_keys

GOOD_CONFIG = """\
default_node_class: cpu
node_classes:
  cpu:
    hardware: {cpu_flags: [avx, avx2]}
    python_version: "3.11"
    platform: linux-x86_64
"""


def good_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    if not config.exists():
        config.write_text(GOOD_CONFIG)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "THOTH_BOT_CONFIG": str(config),
        "THOTH_BOT_STATE_DIR": str(tmp_path / "state"),
        "GITHUB_APP_ID": "12345",
        "GITHUB_PRIVATE_KEY": app_keys()[0],
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITLAB_TOKEN": GITLAB_TOKEN,
        "GITLAB_WEBHOOK_SECRET": GITLAB_SECRET,
    }


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def damaged_key() -> str:
    lines = app_keys()[0].splitlines()
    return "\n".join([lines[0], *lines[1:6], lines[-1]])  # the body cut short


# (what is wrong, the environment's changes (None: unset), the config file's text or None,
#  what the message must say)
BROKEN = [
    (
        "key file missing",
        {"GITHUB_PRIVATE_KEY": None, "GITHUB_PRIVATE_KEY_PATH": "/nope.pem"},
        None,
        "GITHUB_PRIVATE_KEY_PATH=/nope.pem cannot be read",
    ),
    ("no private key", {"GITHUB_PRIVATE_KEY": None}, None, "the App's private key is missing"),
    ("key not PEM", {"GITHUB_PRIVATE_KEY": "ssh-rsa AAAA"}, None, "is not PEM text"),
    ("key damaged", {"GITHUB_PRIVATE_KEY": damaged_key()}, None, "cannot sign a token"),
    ("app id", {"GITHUB_APP_ID": "thoth-bot"}, None, "GITHUB_APP_ID='thoth-bot' is not a number"),
    ("GitHub secret", {"GITHUB_WEBHOOK_SECRET": None}, None, "GITHUB_WEBHOOK_SECRET is not set"),
    ("GitLab secret", {"GITLAB_WEBHOOK_SECRET": ""}, None, "GITLAB_WEBHOOK_SECRET is not set"),
    ("signing token", {"GITLAB_WEBHOOK_SIGNING_TOKEN": "abc"}, None, "`whsec_...` token"),
    (
        "GitHub URL",
        {"GITHUB_API_URL": "api.github.com"},
        None,
        "GITHUB_API_URL='api.github.com' is not a http or https URL",
    ),
    (
        "GitLab URL",
        {"GITLAB_URL": "ftp://gitlab.example.com"},
        None,
        "GITLAB_URL='ftp://gitlab.example.com' is not a http or https URL",
    ),
    ("Thoth host", {"THOTH_HOST": "thoth example"}, None, "neither a host name nor a URL"),
    ("Thoth URL", {"THOTH_HOST": "tcp://thoth:80"}, None, "THOTH_HOST='tcp://thoth:80' is not"),
    ("adviser", {"THOTH_BOT_ADVISER": "magic"}, None, "THOTH_BOT_ADVISER='magic' is not a backend"),
    ("no Thoth", {"THOTH_BOT_ADVISER": "thoth"}, None, "needs a Thoth user-API"),
    ("Redis URL", {"REDIS_URL": "localhost:6379"}, None, "REDIS_URL='localhost:6379' is not"),
    ("workers", {"THOTH_BOT_WORKERS": "0"}, None, "THOTH_BOT_WORKERS='0' must be a positive"),
    ("duration", {"THOTH_BOT_RETRY_BASE": "soon"}, None, "'soon' is not a duration"),
    ("port", {"METRICS_PORT": "99999"}, None, "METRICS_PORT='99999' is not a port"),
    (
        "config missing",
        {"THOTH_BOT_CONFIG": "/etc/none.yaml"},
        None,
        "cannot read the configuration file /etc/none.yaml",
    ),
    ("YAML", {}, "node_classes:\n  cpu: {platform: [linux\n", "config.yaml:3: not valid YAML"),
    (
        "default class",
        {},
        GOOD_CONFIG.replace("default_node_class: cpu", "default_node_class: gpu"),
        "default_node_class 'gpu' is not declared",
    ),
    (
        "platform",
        {},
        GOOD_CONFIG.replace("    platform: linux-x86_64\n", ""),
        "config.yaml:3: node_classes.cpu: 'platform' is a required property",
    ),
    ("python", {}, GOOD_CONFIG.replace('"3.11"', '"3"'), "config.yaml:5:"),
    ("cache ttl", {}, GOOD_CONFIG + "lock: {cache_ttl: later}\n", "lock.cache_ttl: 'later'"),
    (
        "index entry",
        {},
        GOOD_CONFIG + "adviser: {indexes: ['ftp://mirror.example/simple']}\n",
        "adviser.indexes: 'ftp://mirror.example/simple' is not an http(s) URL",
    ),
    (
        "index credentials in a URL",
        {},
        GOOD_CONFIG + "adviser: {indexes: ['https://u:p@mirror.example/simple']}\n",
        "carries credentials; give them in adviser.credentials",
    ),
    (
        "index credentials unset",
        {},
        GOOD_CONFIG
        + "adviser: {credentials: [{index: 'https://mirror.example/', password_env: NEXUS}]}\n",
        "names NEXUS, which is not set. Fix: set NEXUS",
    ),
    (
        "builds without a sandbox",
        {"PATH": str(Path(sys.executable).parent)},  # no bwrap there
        GOOD_CONFIG + "adviser: {builds: isolated}\n",
        "adviser.builds: isolated needs a sandbox for builds in the embedded mode",
    ),
]


@pytest.mark.parametrize(
    ("changes", "config", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_a_broken_configuration_exits_2_and_says_how_to_fix_it(
    changes: dict[str, str | None], config: str | None, message: str, tmp_path: Path
) -> None:
    env = good_env(tmp_path)
    if config is not None:
        Path(env["THOTH_BOT_CONFIG"]).write_text(config)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    result = check_config(env)
    assert result.returncode == 2, result.stdout + result.stderr
    [problem] = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert message in problem
    assert "Fix:" in problem or "fix" in problem.lower()
    assert "Traceback" not in result.stderr
    assert "configuration OK" not in result.stdout


def test_isolated_builds_are_accepted_where_bubblewrap_works(tmp_path: Path) -> None:
    env = good_env(tmp_path)
    Path(env["THOTH_BOT_CONFIG"]).write_text(GOOD_CONFIG + "adviser: {builds: isolated}\n")
    result = check_config(env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_unwritable_state_directory(tmp_path: Path) -> None:
    env = good_env(tmp_path)
    (tmp_path / "a-file").write_text("")
    env["THOTH_BOT_STATE_DIR"] = str(tmp_path / "a-file" / "state")
    result = check_config(env)
    assert result.returncode == 2
    assert "cannot be written by this user. Fix:" in result.stderr


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    env = {
        **good_env(tmp_path),
        "GITHUB_PRIVATE_KEY": damaged_key(),
        "GITLAB_URL": "gitlab.example.com",
        "GITHUB_WEBHOOK_SECRET": "",
    }
    Path(env["THOTH_BOT_CONFIG"]).write_text(GOOD_CONFIG.replace("cpu\n", "gpu\n", 1))
    result = check_config(env)
    assert result.returncode == 2
    assert "4 problem(s)" in result.stderr
    for part in ("cannot sign a token", "GITLAB_URL=", "default_node_class 'gpu'"):
        assert part in result.stderr


def test_a_good_configuration_exits_0_and_says_what_it_found(tmp_path: Path) -> None:
    result = check_config(good_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert "GitHub: configured at https://api.github.com" in result.stdout
    assert "GitLab: configured at https://gitlab.com" in result.stdout
    assert SECRET not in result.stdout + result.stderr
