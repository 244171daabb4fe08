"""A running thoth-bot: settings, one HTTP session, forge credentials, the adviser and the jobs.

`serve` builds one `Bot`, the web app accepts deliveries into its queue (SQLite, run by the
job process it starts, `thoth-bot worker --embedded`; or Redis, run by `thoth-bot worker`
processes), and `Bot.execute` runs each job there: payloads -> one forge-neutral event ->
`handlers.dispatch.handle`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp

from bot import logs
from bot.advisers.factory import make_adviser
from bot.config import Settings, require_arq, secrets_of
from bot.github import events as github_events
from bot.github.auth import GitHubAppAuth
from bot.github.forge import GitHubForge, installation_repositories
from bot.gitlab.client import GitLabClient
from bot.gitlab.forge import GitLabForge
from bot.jobs import records
from bot.jobs.job_process import JobProcess
from bot.jobs.queue import EmbeddedQueue, Queue
from bot.jobs.runner import JobRunner
from bot.jobs.store import Job, JobStore
from bot.metrics import Metrics
from bot.outgoing import Outgoing
from handlers import dispatch
from handlers.adviser import Adviser
from handlers.context import Context, Policy
from handlers.events import Event, OnboardEvent, coalesce
from handlers.forge import Forge
from handlers.give_up import give_up

log = logging.getLogger(__name__)


class PermanentJobError(Exception):
    """A job that can never succeed (no installation id, unknown event...)."""

    retryable = False


@dataclass
class Bot:
    settings: Settings
    verify_signatures: bool = True
    # Embedded: run the jobs in this child process (`serve`), else in this process (tests,
    # and the job process itself, which shares the store with its parent: `shared_store`).
    job_process: JobProcess | None = None
    shared_store: bool = False
    # First sightings (GitLab projects) this process knows are recorded: their deliveries need
    # not ask the queue again. The queue stays the authority (other processes, restarts).
    sightings: set[str] = field(default_factory=set)
    metrics: Metrics = field(default_factory=Metrics)

    async def start(self) -> None:
        logs.never_log(secrets_of(self.settings))
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
                observe=self.metrics.forge_call,
            )
            if self.settings.github
            else None
        )
        self.gitlab = (
            GitLabClient(
                self.settings.gitlab.url,
                self.settings.gitlab.token,
                observe=self.metrics.forge_call,
            )
            if self.settings.gitlab
            else None
        )
        self.adviser: Adviser = make_adviser(self.settings, self.session, self.metrics)
        self.policy = Policy(
            node_classes=self.settings.node_classes,
            default_node_class=self.settings.default_node_class,
            labels=self.settings.lock_labels,
            thoth_host=self.settings.thoth_host,
        )
        self.store: JobStore | None = None
        self.runner: JobRunner | None = None
        self.queue: Queue
        if self.settings.redis_url:
            require_arq()
            from bot.jobs.distributed import RedisQueue  # arq: the `distributed` extra

            self.queue = await RedisQueue.connect(self.settings)
            return
        self.store = JobStore(
            self.settings.state_dir / "jobs.sqlite3",
            coalesce_window=self.settings.coalesce_window,
            shared=self.shared_store or self.job_process is not None,
            fsync=not self.shared_store,  # the job process's writes (`store.py`)
        )
        await self.store.open()
        if self.job_process is not None:
            await self.job_process.start(
                self.session, stopped=lambda how: self.metrics.job_process_stops.labels(how).inc()
            )
            self.queue = EmbeddedQueue(
                self.store, wake=self.job_process.notify, stop=self.job_process.close
            )
            return
        self.runner = JobRunner(
            self.store,
            self.execute,
            workers=self.settings.workers,
            max_attempts=self.settings.max_attempts,
            backoff_base=self.settings.retry_base,
            count=self.metrics.job_runs.labels,
        )
        self.queue = EmbeddedQueue(self.store, wake=self.runner.notify, stop=self.runner.stop)
        await self.runner.start()

    async def stop(self) -> None:
        await self.queue.close()
        close = getattr(self.adviser, "close", None)
        if close is not None:
            await close()
        await self.session.close()
        if self.gitlab is not None:
            self.gitlab.close()

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
            if isinstance(record, github_events.InstallationChange):
                await self._installation_changed(job, record)
            else:
                events.append(record)
        if not events:
            return
        ctx = Context(
            forge=await self._forge(job.forge, installation),
            adviser=self.adviser,
            policy=self.policy,
            last_attempt=last_attempt,
            log=logging.getLogger(f"handlers.{job.event}"),
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
        await self.queue.add_all(
            [
                records.delivery(
                    f"{job.key}:{name}",
                    "github",
                    OnboardEvent(full_name=name),
                    installation=installation,
                )
                for name in names
            ]
        )
