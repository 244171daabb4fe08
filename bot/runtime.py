"""A running thoth-bot: settings, one HTTP session, forge credentials, the adviser and the jobs.

`serve` builds one `Bot`, the web app accepts deliveries into its store, its runner executes
them: payload -> forge-neutral event -> `handlers.dispatch.handle`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.advisers.factory import make_adviser
from bot.config import Settings
from bot.github import events as github_events
from bot.github.auth import GitHubAppAuth
from bot.github.forge import GitHubForge, installation_repositories
from bot.gitlab import events as gitlab_events
from bot.gitlab.client import GitLabClient
from bot.gitlab.forge import GitLabForge
from bot.jobs.runner import JobRunner
from bot.jobs.store import Delivery, Job, JobStore
from handlers import dispatch
from handlers.adviser import Adviser
from handlers.context import Context, Policy
from handlers.events import Event
from handlers.forge import Forge

log = logging.getLogger(__name__)


class PermanentJobError(Exception):
    """A job that can never succeed (no installation id, unknown event...)."""

    retryable = False


@dataclass
class Bot:
    settings: Settings
    verify_signatures: bool = True

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60, connect=10),
            headers={"User-Agent": "thoth-bot"},
        )
        self.github = (
            GitHubAppAuth(
                self.session,
                app_id=self.settings.github.app_id,
                private_key=self.settings.github.private_key,
                api_url=self.settings.github.api_url,
            )
            if self.settings.github
            else None
        )
        self.gitlab = (
            GitLabClient(self.settings.gitlab.url, self.settings.gitlab.token)
            if self.settings.gitlab
            else None
        )
        self.adviser: Adviser = make_adviser(self.settings, self.session)
        self.policy = Policy(
            node_classes=self.settings.node_classes,
            default_node_class=self.settings.default_node_class,
            labels=self.settings.lock_labels,
            thoth_host=self.settings.thoth_host,
        )
        self.store = JobStore(self.settings.state_dir / "jobs.sqlite3")
        await self.store.open()
        self.runner = JobRunner(self.store, self.execute, workers=self.settings.workers)
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()
        await self.store.close()
        await self.session.close()
        if self.gitlab is not None:
            self.gitlab.close()

    async def execute(self, job: Job, last_attempt: bool) -> None:
        payload = json.loads(job.payload)
        found: tuple[Event, Forge] | None
        if job.forge == "github" and self.github is not None:
            found = await self._github_job(job, payload)
        elif job.forge == "gitlab" and self.gitlab is not None:
            event = gitlab_events.parse(job.event, payload)
            found = (event, GitLabForge(self.gitlab)) if event is not None else None
        else:
            raise PermanentJobError(f"no forge {job.forge!r} is configured")
        if found is None:
            return
        event, forge = found
        ctx = Context(
            forge=forge,
            adviser=self.adviser,
            policy=self.policy,
            last_attempt=last_attempt,
            log=logging.getLogger(f"handlers.{job.event}"),
        )
        log.info(
            "running job %s: %s on %s (attempt %d)", job.key, job.event, job.repo, job.attempts
        )
        await dispatch.handle(event, ctx)

    async def _github_job(
        self, job: Job, payload: dict[str, Any]
    ) -> tuple[Event, GitHubForge] | None:
        assert self.github is not None
        event = github_events.parse(job.event, payload)
        if event is None:
            return None
        installation = github_events.installation_id(payload)
        if installation is None:
            raise PermanentJobError("the delivery names no App installation")
        if isinstance(event, github_events.InstallationChange):
            await self._installation_changed(job, event)
            return None
        api = await self.github.installation_api(installation)
        forge = GitHubForge(api, graphql_url=self.github.graphql_url, app_slug=self.github.app_slug)
        return event, forge

    async def _installation_changed(
        self, job: Job, change: github_events.InstallationChange
    ) -> None:
        """Forget an uninstalled installation's token; queue one onboarding job per repository
        an installation was given (each its own job: one repository's jobs run in turn)."""
        assert self.github is not None
        installation = change.installation_id
        if change.forgets:
            self.github.forget(installation)
            log.info("installation %d %s %s", installation, change.action, change.repositories)
            return
        names = change.repositories
        if names is None:
            api = await self.github.installation_api(installation)
            names = tuple(await installation_repositories(api))
        for name in names:
            await self.store.add(
                Delivery(
                    key=f"{job.key}:{name}",
                    forge="github",
                    event=github_events.ONBOARD_EVENT,
                    repo=name,
                    payload=json.dumps(
                        {"installation": {"id": installation}, "repository": {"full_name": name}}
                    ),
                )
            )
        self.runner.notify()
