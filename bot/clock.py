"""Time as the bot's pacing and schedules read it: the real one, or a test's (whose hours of
schedule pass in seconds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.time  # seconds since the epoch (what is stored)
    monotonic: Callable[[], float] = time.monotonic  # for intervals
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


REAL = Clock()
