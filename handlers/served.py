"""What the bot keeps of each repository it serves, for lock maintenance: the schedule its
configuration asks for, and the versions its locks hold (checked against new advisories).
The edges implement `Served` (`bot/maintenance/`); handlers tell it what they read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from handlers.pipfile_lock import parse_lock, pinned_versions
from handlers.repo_config import RepoConfig


class Served(Protocol):
    async def note(
        self, full_name: str, *, schedule: str | None, locked: Mapping[str, str]
    ) -> None:
        """`full_name`'s schedule (None: the operators' default) and its locks' versions."""
        ...


class NotKept:
    """Where nothing is kept (the command line, handler tests)."""

    async def note(
        self, full_name: str, *, schedule: str | None, locked: Mapping[str, str]
    ) -> None:
        return None


async def note_checkout(
    served: Served, full_name: str, config: RepoConfig, files: Mapping[str, object]
) -> None:
    """Tell `served` what a default branch's checkout says: its schedule, its locks' versions."""
    await served.note(full_name, schedule=config.schedule, locked=locked_versions(config, files))


def locked_versions(config: RepoConfig, files: Mapping[str, object]) -> dict[str, str]:
    """{package: version} of every lock the checkout holds (the default section and others)."""
    found: dict[str, str] = {}
    for environment in config.environments:
        content = files.get(environment.lock_path)
        text = getattr(content, "text", None)
        if not text:
            continue
        found.update(pinned_versions(parse_lock(environment.lock_path, text) or {}))
    return found
