"""`thoth-bot check-config`: everything an operator can get wrong, each with its fix (SPEC §3).

`load_settings` stops at the first problem, as a starting process should; this goes on and
reports every one: the node classes file, each forge's credentials (the App's key is used to
sign a JWT, as the bot will), the webhook secrets, the URLs, the adviser, that arq is there
for REDIS_URL (Redis itself is not contacted), the numbers and durations, the state directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import jwt

from bot.config import (
    ConfigError,
    Settings,
    github_settings,
    gitlab_settings,
    load_settings,
    missing_webhook_secrets,
    require_arq,
    unverifiable,
)

T = TypeVar("T")


def problems(path: str | None, env: Mapping[str, str]) -> tuple[Settings | None, list[str]]:
    """(the settings, if they load; every problem found, each saying how to fix it)."""
    found: list[str] = []
    github = _attempt(lambda: github_settings(env), found)
    _attempt(lambda: _app_key_signs(env), found)
    gitlab = _attempt(lambda: gitlab_settings(env), found)
    missing = missing_webhook_secrets(github, gitlab)
    if missing:
        found.append(unverifiable(missing))
    settings = _attempt(lambda: load_settings(path, env), found)
    if settings is not None:
        if settings.redis_url:
            _attempt(require_arq, found)
        _attempt(lambda: _state_dir_writable(settings.state_dir), found)
    return settings, found


def _attempt(step: Callable[[], T], found: list[str]) -> T | None:
    """`step()`, or None with its problem added to `found` (once)."""
    try:
        return step()
    except ConfigError as error:
        if str(error) not in found:
            found.append(str(error))
        return None


def _app_key_signs(env: Mapping[str, str]) -> None:
    """The App's private key signs the JWT the bot sends GitHub (a PEM that is not an RSA
    private key, or is damaged, passes every other check)."""
    github = github_settings(env)
    if github is None:
        return
    try:
        now = int(time.time())
        jwt.encode({"iat": now, "exp": now + 60, "iss": github.app_id}, github.private_key, "RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as error:
        raise ConfigError(
            f"the GitHub App's private key cannot sign a token ({type(error).__name__}: "
            f"{str(error)[:120]}). Fix: generate a new private key in the App's settings and "
            "give the whole .pem file (GITHUB_PRIVATE_KEY_PATH, or its text in GITHUB_PRIVATE_KEY)."
        ) from None


def _state_dir_writable(directory: Path) -> None:
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"THOTH_BOT_STATE_DIR={directory} cannot be written by this user. Fix: point it at "
            "a writable directory (on OpenShift, the volume mounted for it)."
        )
