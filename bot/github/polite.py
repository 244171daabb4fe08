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
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from gidgethub.aiohttp import GitHubAPI

from bot.metrics import Observe
from handlers.forge import RateLimited

log = logging.getLogger(__name__)

# Waits up to this long happen inside the request; longer ones reschedule the job.
MAX_INLINE_WAIT = 60.0
SECONDARY_LIMIT_WAIT = 60.0  # GitHub: "wait for at least one minute before retrying"
MAX_INLINE_RETRIES = 3


# GitHub's secondary limits on content-creating requests, as its documentation gives them ("no
# more than 80 content-generating requests per minute and no more than 500 content-generating
# requests per hour"), with a margin for what people's events and other jobs need at once.
SECONDARY_LIMITS = ((80, 60.0), (500, 3600.0))
MARGIN = 0.95


class Pacer:
    """One installation's content-creating requests: a burst of `burst`, then one every
    `interval` seconds, and never more than `limits` ((count, seconds)...) allow within any
    window. `clock` and `sleep` are time's (a test's clock makes hours pass in seconds)."""

    def __init__(
        self,
        *,
        burst: int = 10,
        interval: float = 1.0,
        limits: tuple[tuple[int, float], ...] = SECONDARY_LIMITS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._burst = burst
        self._interval = interval
        self._limits = tuple((max(1, int(count * MARGIN)), period) for count, period in limits)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._sent: deque[float] = deque()  # when each request within the longest window went
        self._lock = asyncio.Lock()

    async def wait(self, *, at_most: float = float("inf")) -> float:
        """Wait for the next request's turn; how long it waited. A turn further away than
        `at_most` seconds is a `RateLimited` (the caller comes back then), nothing spent."""
        async with self._lock:
            waited = 0.0
            while True:
                delay = self._delay(self._clock())
                if delay <= 0:
                    break
                if waited + delay > at_most:
                    raise RateLimited(
                        f"GitHub's secondary limits: the next write is {delay:.0f} s away",
                        retry_after=delay,
                    )
                await self._sleep(delay)
                waited += delay
            now = self._clock()
            self._refill(now)
            self._tokens -= 1
            self._sent.append(now)
            return waited

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) / self._interval)
        self._stamp = now

    def _delay(self, now: float) -> float:
        """Seconds until a request may go: a token, and room in every window."""
        self._refill(now)
        delay = 0.0 if self._tokens >= 1 else (1 - self._tokens) * self._interval
        longest = max((period for _, period in self._limits), default=0.0)
        while self._sent and self._sent[0] <= now - longest:
            self._sent.popleft()
        for count, period in self._limits:
            within = [at for at in self._sent if at > now - period]
            if len(within) >= count:
                # Room once the oldest requests that fill the window have left it.
                delay = max(delay, within[len(within) - count] + period - now + 1e-3)
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
            await self._pacer.wait(at_most=MAX_INLINE_WAIT)
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
