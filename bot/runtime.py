"""A running thoth-bot, built whole by `open_bot` for the role its process plays.

`serve` answers deliveries (`Role.WEB`) and records them in its queue: SQLite, whose jobs run
in the job process it starts (`Role.JOB_PROCESS`, `thoth-bot worker --embedded`), or Redis,
whose jobs run in `thoth-bot worker` processes (`Role.WORKER`). `Role.ALL_IN_ONE` answers and
runs jobs in one process (the tests). Where jobs run, `bot.executor.Executor` runs them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot import logs
from bot.clock import REAL, Clock
from bot.cluster.kube import list_nodes
from bot.cluster.refresh import NodeClassRefresher, Refreshed
from bot.config import Settings, require_arq, secrets_of
from bot.executor import Executor, open_executor
from bot.jobs.job_process import JobProcess
from bot.jobs.queue import EmbeddedQueue, Queue
from bot.jobs.runner import JobRunner
from bot.jobs.store import Delivery, JobStore
from bot.maintenance.registry import RedisRegistry, SqliteRegistry
from bot.maintenance.schedule import Maintainer
from bot.metrics import Metrics
from handlers.adviser import NodeClass


class Role(enum.Enum):
    WEB = "web"  # answers deliveries; their jobs run in the job process or in workers
    JOB_PROCESS = "job process"  # `serve`'s child: runs the embedded store's jobs
    WORKER = "worker"  # distributed: runs the jobs arq hands it
    ALL_IN_ONE = "all in one"  # answers deliveries and runs their jobs (embedded)


@dataclass
class Bot:
    settings: Settings
    role: Role
    queue: Queue
    metrics: Metrics
    verify_signatures: bool = True
    executor: Executor | None = None  # where jobs run in this process
    store: JobStore | None = None  # embedded
    runner: JobRunner | None = None  # embedded, jobs run in this process
    job_process: JobProcess | None = None  # embedded web process: where its jobs run
    maintainer: Maintainer | None = None  # embedded, jobs run in this process
    refresher: NodeClassRefresher | None = None  # node_discovery: where jobs run
    # First sightings (GitLab projects) this process knows are recorded: their deliveries need
    # not ask the queue again. The queue stays the authority (other processes, restarts).
    sightings: set[str] = field(default_factory=set)

    async def stop(self) -> None:
        if self.refresher is not None:
            await self.refresher.stop()
        if self.maintainer is not None:
            await self.maintainer.stop()
        await self.queue.close()
        if self.executor is not None:
            await self.executor.close()


async def open_bot(
    settings: Settings, role: Role, *, verify_signatures: bool = True, clock: Clock = REAL
) -> Bot:
    """Everything `role` needs and nothing more (the web process holds no forge credential in
    use and no adviser), started. Call in the event loop that will run it."""
    logs.never_log(secrets_of(settings))
    metrics = Metrics()
    if settings.redis_url:
        if role is Role.JOB_PROCESS:
            raise ValueError("the job process runs the embedded engine's jobs (no Redis)")
        require_arq()
        from bot.jobs.distributed import RedisQueue  # arq: the `distributed` extra

        queue = await RedisQueue.connect(settings)
        if role is Role.WEB:
            return Bot(settings, role, queue, metrics, verify_signatures)
        registry = RedisRegistry(queue.pool)
        executor = open_executor(settings, metrics, queue.add_all, registry, clock)
        # arq's cron job runs its ticks (`bot/worker.py`): one worker per tick.
        maintainer = Maintainer(
            registry, queue, settings.maintenance, executor.vulnerabilities, clock
        )
        return Bot(
            settings,
            role,
            queue,
            metrics,
            verify_signatures,
            executor,
            maintainer=maintainer,
            refresher=_refresher(settings, executor, metrics, clock),
        )
    if role is Role.WORKER:
        raise ValueError("a worker runs the distributed engine's jobs: set THOTH_BOT_REDIS_URL")
    store = JobStore(
        settings.state_dir / "jobs.sqlite3",
        coalesce_window=settings.coalesce_window,
        shared=role is not Role.ALL_IN_ONE,
        fsync=role is not Role.JOB_PROCESS,  # the web process commits arrivals (`store.py`)
    )
    await store.open()
    if role is Role.WEB:
        config = settings.config_path
        job_process = JobProcess(("--config", str(config)) if config else ())
        await job_process.start(stopped=lambda how: metrics.job_process_stops.labels(how).inc())
        queue = EmbeddedQueue(store, wake=job_process.notify, stop=job_process.close)
        return Bot(
            settings, role, queue, metrics, verify_signatures, store=store, job_process=job_process
        )

    async def follow_up(deliveries: Sequence[Delivery]) -> list[bool]:
        return await queue.add_all(deliveries)

    registry = SqliteRegistry(settings.state_dir / "repositories.sqlite3")
    executor = open_executor(settings, metrics, follow_up, registry, clock)
    runner = JobRunner(
        store,
        executor.execute,
        workers=settings.workers,
        max_attempts=settings.max_attempts,
        backoff_base=settings.retry_base,
        count=metrics.job_runs.labels,
    )
    queue = EmbeddedQueue(store, wake=runner.notify, stop=runner.stop)
    await runner.start()
    maintainer = Maintainer(registry, queue, settings.maintenance, executor.vulnerabilities, clock)
    maintainer.start()
    return Bot(
        settings,
        role,
        queue,
        metrics,
        verify_signatures,
        executor,
        store,
        runner,
        maintainer=maintainer,
        refresher=_refresher(settings, executor, metrics, clock),
    )


def _refresher(
    settings: Settings, executor: Executor, metrics: Metrics, clock: Clock
) -> NodeClassRefresher | None:
    """`node_discovery`: the executor's node classes kept true from the cluster's nodes."""
    if settings.node_discovery is None:
        return None

    def apply(classes: Mapping[str, NodeClass]) -> None:
        executor.policy = dataclasses.replace(executor.policy, node_classes=dict(classes))

    def observe(result: Refreshed, nodes: int) -> None:
        for state in ("seen", "kept", "gone"):
            metrics.node_classes.labels(state).set(len(getattr(result, state)))
        metrics.cluster_nodes.labels("false").set(len(result.uncovered))
        metrics.cluster_nodes.labels("true").set(nodes - len(result.uncovered))

    refresher = NodeClassRefresher(
        settings.node_classes, settings.node_discovery, apply, list_nodes, observe, clock
    )
    refresher.start()
    return refresher
