"""Where jobs run: the forge clients, the adviser and the operators' policy, and
`Executor.execute`, which turns one job's deliveries into ONE forge-neutral event for
`handlers.dispatch.handle`.

Built by `bot.runtime.open_bot` in the processes that run jobs (the embedded job process, a
distributed worker, or one process doing both); the web process has none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from bot.advisers.factory import make_adviser
from bot.advisers.osv import Vulnerabilities, vulnerabilities
from bot.clock import REAL, Clock
from bot.config import Settings
from bot.github.auth import GitHubAppAuth
from bot.github.events import InstallationChange
from bot.github.forge import GitHubForge, installation_repositories
from bot.gitlab.client import GitLabClient
from bot.gitlab.forge import GitLabForge
from bot.jobs import onboarding, records
from bot.jobs.store import Delivery, Job
from bot.maintenance.registry import Noted, Registry
from bot.metrics import Metrics
from bot.outgoing import Outgoing
from handlers import dispatch
from handlers.adviser import Adviser
from handlers.context import Context, Policy
from handlers.events import Event, coalesce
from handlers.forge import Forge
from handlers.give_up import give_up

log = logging.getLogger(__name__)

# Records deliveries a job gives rise to (an installation's onboarding jobs).
FollowUp = Callable[[Sequence[Delivery]], Awaitable[object]]


class PermanentJobError(Exception):
    """A job that can never succeed (no installation id, unknown event...)."""

    retryable = False


@dataclass
class Executor:
    settings: Settings
    metrics: Metrics
    session: aiohttp.ClientSession
    github: GitHubAppAuth | None
    gitlab: GitLabClient | None
    adviser: Adviser
    policy: Policy
    follow_up: FollowUp
    registry: Registry  # the repositories the bot serves (`bot.maintenance`)
    vulnerabilities: Vulnerabilities | None  # for the advisory check
    clock: Clock = REAL

    async def execute(self, job: Job, last_attempt: bool, *, gave_up: bool = False) -> None:
        """Run a job: its delivery (and those coalesced into it) as ONE event for the handlers.
        `gave_up`: the job was started more often than it may be and never finished; say so
        instead of running it."""
        if not self._configured(job.forge):
            raise PermanentJobError(f"no forge {job.forge!r} is configured")
        events: list[Event] = []
        installation = None
        for _, payload in job.deliveries:
            record, installation = records.decode(payload)
            if isinstance(record, InstallationChange):
                await self._installation_changed(job, record)
            else:
                events.append(record)
        if not events:
            return
        for name in {dispatch.repo_key(event) for event in events}:
            await self.registry.seen(job.forge, name, installation, self.clock.now())
        ctx = Context(
            forge=await self._forge(job.forge, installation),
            adviser=self.adviser,
            policy=self.policy,
            last_attempt=last_attempt,
            log=logging.getLogger(f"handlers.{job.event}"),
            served=Noted(self.registry, job.forge),
        )
        if gave_up:
            log.error(
                "gave up job %s: %s on %s, started %d times without finishing",
                job.key,
                job.event,
                job.repo,
                job.attempts - 1,
            )
            await give_up(coalesce(events), ctx, job.attempts - 1)
            return
        log.info(
            "running job %s: %s on %s (attempt %d, %d deliveries)",
            job.key,
            job.event,
            job.repo,
            job.attempts,
            len(job.deliveries),
        )
        await dispatch.handle(coalesce(events), ctx)

    async def close(self) -> None:
        close = getattr(self.adviser, "close", None)
        if close is not None:
            await close()
        await self.session.close()
        if self.gitlab is not None:
            self.gitlab.close()
        await self.registry.close()

    def _configured(self, forge: str) -> bool:
        return (forge == "github" and self.github is not None) or (
            forge == "gitlab" and self.gitlab is not None
        )

    async def _forge(self, forge: str, installation: int | None) -> Forge:
        """The forge client a job's handlers use; every text they post passes `Outgoing`."""
        if forge == "gitlab":
            assert self.gitlab is not None
            return Outgoing(GitLabForge(self.gitlab), quick_actions=True)
        assert self.github is not None
        if installation is None:
            raise PermanentJobError("the delivery names no App installation")
        api = await self.github.installation_api(installation)
        return Outgoing(
            GitHubForge(api, graphql_url=self.github.graphql_url, app_slug=self.github.app_slug)
        )

    async def _installation_changed(self, job: Job, change: InstallationChange) -> None:
        """Forget an uninstalled installation's token; queue the onboarding of each
        repository an installation was given (`bot.jobs.onboarding`)."""
        assert self.github is not None
        github = self.github
        if change.forgets:
            github.forget(change.installation_id)
            if change.repositories is None:
                await self.registry.forget_installation(change.installation_id)
            else:
                await self.registry.forget("github", change.repositories)
            log.info(
                "installation %d %s %s", change.installation_id, change.action, change.repositories
            )
            return

        async def list_all() -> list[str]:
            return await installation_repositories(
                await github.installation_api(change.installation_id)
            )

        await self.follow_up(await onboarding.installation(job.key, change, list_all))


def open_executor(
    settings: Settings,
    metrics: Metrics,
    follow_up: FollowUp,
    registry: Registry,
    clock: Clock = REAL,
) -> Executor:
    """The forge clients and the adviser `settings` configure, on one HTTP session (call in the
    event loop that will use them)."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60, connect=10),
        headers={"User-Agent": "thoth-bot"},
    )
    github = settings.github
    gitlab = settings.gitlab
    # One source of vulnerability data for the adviser and the advisory check: one cache.
    known = vulnerabilities(session, settings.osv_url)
    return Executor(
        settings=settings,
        metrics=metrics,
        session=session,
        github=GitHubAppAuth(
            session,
            app_id=github.app_id,
            private_key=github.private_key,
            api_url=github.api_url,
            observe=metrics.forge_call,
            clock=clock,
        )
        if github
        else None,
        gitlab=GitLabClient(gitlab.url, gitlab.token, observe=metrics.forge_call)
        if gitlab
        else None,
        adviser=make_adviser(settings, session, metrics, known_vulnerabilities=known),
        policy=Policy(
            node_classes=settings.node_classes,
            default_node_class=settings.default_node_class,
            labels=settings.lock_labels,
            thoth_host=settings.thoth_host,
        ),
        follow_up=follow_up,
        registry=registry,
        vulnerabilities=known,
        clock=clock,
    )
