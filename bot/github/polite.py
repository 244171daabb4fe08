"""Calling GitHub the way GitHub asks to be called (its "best practices" for integrations).

- Rate limits: a 403 or 429 with `Retry-After` is retried after that many seconds; one with
  `x-ratelimit-remaining: 0` after `x-ratelimit-reset`; a secondary rate limit without either
  after a minute. Short waits happen in place; longer ones end the job attempt with a
  `RateLimited` error carrying `retry_after`, and the job layer comes back then.
- Content-creating requests (POST, PATCH, PUT, DELETE) of one installation are paced: a burst of
  `burst`, then one per `interval` seconds, so that onboarding a hundred repositories does not
  trip the secondary limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from gidgethub.aiohttp import GitHubAPI

from bot.metrics import Observe
from handlers.forge import RateLimited

log = logging.getLogger(__name__)

# Waits up to this long happen inside the request; longer ones reschedule the job.
MAX_INLINE_WAIT = 60.0
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: "wait for at least one minute before retrying"
MAX_INLINE_RETRIES = 3


class Pacer:
    """A token bucket: `burst` calls at once, then one every `interval` seconds."""

    def __init__(
        self,
        *,
        burst: int = 10,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        """Wait for a token; returns how long it waited."""
        async with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) / self._interval)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            delay = (1 - self._tokens) * self._interval
            await asyncio.sleep(delay)
            self._tokens = 0.0
            self._stamp = self._clock()
            return delay


def rate_limit_wait(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> float | None:
    """Seconds GitHub asks us to wait before trying again, or None if it is no rate limit."""
    if status not in (403, 429):
        return None
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return SECONDARY_LIMIT_WAIT
    if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
        reset = float(headers["X-RateLimit-Reset"])
        return max(1.0, reset - (time.time() if now is None else now) + 1.0)
    if status == 429 or b"secondary rate limit" in body.lower():
        return SECONDARY_LIMIT_WAIT
    return None  # a 403 that is a real refusal


class PoliteGitHubAPI(GitHubAPI):
    """gidgethub's aiohttp client, pacing writes and waiting out rate limits."""

    def __init__(
        self, *args: object, pacer: Pacer, observe: Observe | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pacer = pacer
        self._observe = observe

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        if method != "GET" and not url.endswith("/graphql"):
            await self._pacer.wait()
        for attempt in range(1, MAX_INLINE_RETRIES + 1):
            status, response_headers, data = await super()._request(method, url, headers, body)
            if self._observe is not None:
                self._observe("github", method, status, response_headers)
            wait = rate_limit_wait(status, response_headers, data)
            if wait is None:
                return status, response_headers, data
            if wait > MAX_INLINE_WAIT or attempt == MAX_INLINE_RETRIES:
                raise RateLimited(
                    f"GitHub's rate limit: {method} {url} answered {status}; "
                    f"retrying in {wait:.0f} s",
                    retry_after=wait,
                )
            log.warning(
                "GitHub rate limit on %s %s (%d): waiting %.1f s", method, url, status, wait
            )
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")
