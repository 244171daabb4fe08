"""GitHub App authentication: the App's JWT, installation tokens cached until shortly before expiry.

gidgethub 6 refuses an API object that carries both App credentials and an oauth token, so
there are two kinds: one App-level object (JWT, for `/app...` endpoints) and, per job, an
installation-level object carrying that installation's token.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import gidgethub
from gidgethub.aiohttp import GitHubAPI

from bot.clock import REAL, Clock
from bot.forge_errors import http_error
from bot.github.polite import Observe, Pacer, PoliteGitHubAPI
from handlers.forge import Unavailable

USER_AGENT = "thoth-bot"
# Renew a cached token this long before GitHub says it expires.
REFRESH_MARGIN = 300.0


@dataclass
class _Token:
    value: str
    expires_at: float  # time.time() seconds


class GitHubAppAuth:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        app_id: str,
        private_key: str,
        api_url: str,
        observe: Observe | None = None,
        clock: Clock = REAL,
    ):
        self._session = session
        self._observe = observe
        self._clock = clock
        self.api_url = api_url.rstrip("/")
        self._app_api = GitHubAPI(
            session, USER_AGENT, app_id=app_id, private_key=private_key, base_url=self.api_url
        )
        self._tokens: dict[int, _Token] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._slug: str | None = None
        self._pacers: dict[int, Pacer] = {}

    async def app_slug(self) -> str:
        """The App's slug: its bot account is `<slug>[bot]`."""
        if self._slug is None:
            try:
                app = await self._app_api.getitem("/app")
            except gidgethub.HTTPException as error:
                raise http_error(
                    int(error.status_code),
                    f"GitHub refused the App's JWT ({error.status_code}): check GITHUB_APP_ID "
                    "and the private key",
                ) from error
            self._slug = app["slug"]
        return self._slug

    async def installation_token(self, installation_id: int) -> str:
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:
            token = self._tokens.get(installation_id)
            if token is None or token.expires_at - REFRESH_MARGIN <= time.time():
                token = await self._mint(installation_id)
                self._tokens[installation_id] = token
            return token.value

    async def _mint(self, installation_id: int) -> _Token:
        try:
            data = await self._app_api.post(
                f"/app/installations/{installation_id}/access_tokens", data=b""
            )
        except gidgethub.HTTPException as error:
            status = int(error.status_code)
            raise http_error(
                status,
                f"GitHub refused an installation token for installation {installation_id} "
                f"({status}): is the App still installed?",
            ) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Unavailable(f"GitHub unreachable: {error!r}") from error
        expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")).timestamp()
        return _Token(value=data["token"], expires_at=expires)

    def forget(self, installation_id: int) -> None:
        """Drop a cached token (the App was uninstalled)."""
        self._tokens.pop(installation_id, None)

    async def installation_api(self, installation_id: int) -> GitHubAPI:
        """A client for one job, sharing its installation's pace with every other job."""
        token = await self.installation_token(installation_id)
        pacer = self._pacers.get(installation_id)
        if pacer is None:
            pacer = Pacer(clock=self._clock.monotonic, sleep=self._clock.sleep)
            self._pacers[installation_id] = pacer
        return PoliteGitHubAPI(
            self._session,
            USER_AGENT,
            oauth_token=token,
            base_url=self.api_url,
            pacer=pacer,
            observe=self._observe,
        )

    @property
    def graphql_url(self) -> str:
        return graphql_url(self.api_url)


def graphql_url(api_url: str) -> str:
    """GitHub.com: https://api.github.com/graphql; GHES: https://HOST/api/graphql."""
    api_url = api_url.rstrip("/")
    if api_url.endswith("/api/v3"):
        return api_url[: -len("/v3")] + "/graphql"
    return api_url + "/graphql"
