"""python-gitlab, kept off the event loop.

python-gitlab is synchronous (requests) and sleeps in place when GitLab answers 429, so every
call runs in a thread of a small pool, and each thread has its own `gitlab.Gitlab` (requests
sessions are not shared between threads). Errors become `handlers.forge`'s outcomes
(`bot.forge_errors`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import gitlab
import requests

from bot.forge_errors import http_error
from bot.metrics import Observe
from handlers.forge import Unavailable

T = TypeVar("T")


class GitLabClient:
    """One GitLab instance and token, shared by every job of the process."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        threads: int = 4,
        timeout: float = 30.0,
        observe: Observe | None = None,
    ):
        self.url = url.rstrip("/")
        self._observe = observe
        self._token = token
        self._timeout = timeout
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gitlab")
        self._me: dict[str, Any] | None = None
        self._me_lock = asyncio.Lock()

    def _gitlab(self) -> gitlab.Gitlab:
        client = getattr(self._local, "client", None)
        if client is None:
            client = gitlab.Gitlab(
                self.url,
                private_token=self._token,
                timeout=self._timeout,
                # 5xx: python-gitlab backs off and retries; 429: it sleeps for Retry-After
                # (obey_rate_limit, on by default), in this thread, up to 10 times.
                retry_transient_errors=True,
                per_page=100,
                user_agent="thoth-bot",
            )
            if self._observe is not None:
                observe = self._observe
                client.session.hooks["response"].append(
                    lambda response, *args, **kwargs: observe(
                        "gitlab",
                        response.request.method or "GET",
                        response.status_code,
                        response.headers,
                    )
                )
            self._local.client = client
        return client

    async def run(self, call: Callable[[gitlab.Gitlab], T]) -> T:
        """`call(gl)` in a pool thread, with that thread's client."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._invoke, call)

    def _invoke(self, call: Callable[[gitlab.Gitlab], T]) -> T:
        try:
            return call(self._gitlab())
        except gitlab.exceptions.GitlabError as error:
            status = error.response_code
            raise http_error(status, f"GitLab answered {status}: {error.error_message}") from error
        except requests.RequestException as error:
            raise Unavailable(f"GitLab unreachable: {error!r}") from error

    async def me(self) -> dict[str, Any]:
        """The token's user (`id`, `username`), asked once per process."""
        async with self._me_lock:
            if self._me is None:
                self._me = await self.run(lambda gl: gl.http_get("/user"))
            return self._me

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
