"""The operators' maintenance settings (`maintenance:` in the configuration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cadence:
    """The operators' maintenance settings."""

    schedule: float | None = 7 * 86400.0  # seconds between runs by default; None: off
    # Scheduled runs per installation (a GitLab instance is one) and hour, at most: a run that
    # changes a lock makes about seven content-creating requests, and GitHub allows 500 an hour.
    per_installation: int = 60
    tick: float = 60.0
    advisories: float | None = 86400.0  # seconds between advisory checks; None: off
