"""The operators' maintenance settings (`maintenance:` in the configuration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cadence:
    """The operators' maintenance settings."""

    schedule: float | None = 7 * 86400.0  # seconds between runs by default; None: off
    per_installation: int = 20  # repositories queued per installation and tick, at most
    tick: float = 60.0
    advisories: float | None = 86400.0  # seconds between advisory checks; None: off
