"""What the bot counts, for `GET /metrics` in Prometheus's text format (SPEC §4).

One `Metrics` per `Bot`, each with its own registries (prometheus_client's global one would be
shared by every bot of a test run): what the web process counts (deliveries, the queue) and
what is counted where jobs run (job runs, advises, forge calls). `serve` exposes both on its
port, its job process's work included; `thoth-bot worker` its work on `METRICS_PORT`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from handlers.adviser import AdviseError, Adviser, AdviseRequest, AdviseResult

disable_created_metrics()  # no `_created` twin of every counter: half the series to scrape

STATES = ("queued", "running", "done", "failed")

# An advise takes from a tenth of a second (the embedded adviser, warm) to Thoth's 45 minutes.
ADVISE_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 2700)

# (forge, method, status, response headers): what a forge client reports of each response.
Observe = Callable[[str, str, int, Mapping[str, str]], None]

# Response headers that say how many calls are left, by forge.
RATE_LIMIT_HEADERS = {"github": "x-ratelimit-remaining", "gitlab": "ratelimit-remaining"}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()  # the web process's
        self.work_registry = CollectorRegistry()  # where jobs run
        registry = self.registry
        self.deliveries = Counter(
            "thoth_bot_deliveries",
            "Webhook deliveries by forge, event and outcome (accepted, duplicate, ignored, ping, "
            "unauthorized, malformed, not_configured, too_large, error).",
            ["forge", "event", "outcome"],
            registry=registry,
        )
        self._delivery_children: dict[tuple[str, str, str], Counter] = {}
        self.jobs = Gauge(
            "thoth_bot_jobs",
            "Jobs by state. Embedded: done and failed are those still remembered; distributed: "
            "counted since Redis started, the same in every process.",
            ["state"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "thoth_bot_queue_depth", "Jobs waiting to run (ready now or later).", registry=registry
        )
        self.queue_engine = Gauge(
            "thoth_bot_queue_engine", "The job engine in use.", ["engine"], registry=registry
        )
        self.job_process_stops = Counter(
            "thoth_bot_job_process_stops",
            "Times the embedded mode's job process stopped and was started again (killed at the "
            "memory limit, say), by how: killed by a signal, or exited.",
            ["how"],
            registry=registry,
        )
        registry = self.work_registry
        self.job_runs = Counter(
            "thoth_bot_job_runs",
            "Job attempts by outcome (done, retried, failed).",
            ["outcome"],
            registry=registry,
        )
        self.advise_seconds = Histogram(
            "thoth_bot_advise_duration_seconds",
            "Time an advise backend took (cache hits not included), by backend and outcome "
            "(ok, refused: no lock possible, unavailable: retried later, error).",
            ["backend", "outcome"],
            buckets=ADVISE_BUCKETS,
            registry=registry,
        )
        self.forge_calls = Counter(
            "thoth_bot_forge_api_calls",
            "Calls to a forge's API by forge, method and response status.",
            ["forge", "method", "status"],
            registry=registry,
        )
        self.rate_limit_remaining = Gauge(
            "thoth_bot_forge_rate_limit_remaining",
            "Calls left in the forge's rate limit window, as its last response said.",
            ["forge"],
            registry=registry,
        )
        self.node_classes = Gauge(
            "thoth_bot_node_classes",
            "Declared node classes at the last node discovery, by state: seen (nodes match it), "
            "kept (none now, within the grace period), gone (none for longer: not offered).",
            ["state"],
            registry=registry,
        )
        self.cluster_nodes = Gauge(
            "thoth_bot_cluster_nodes",
            "Nodes at the last node discovery, by whether a node class picks them.",
            ["covered"],
            registry=registry,
        )

    def delivery(self, forge: str, event: str, outcome: str) -> None:
        key = (forge, event, outcome)  # the labels are from small fixed sets: children cached
        child = self._delivery_children.get(key)
        if child is None:
            child = self._delivery_children[key] = self.deliveries.labels(*key)
        child.inc()

    def forge_call(
        self, forge: str, method: str, status: int | str, headers: Mapping[str, str]
    ) -> None:
        """Count a forge API response (thread-safe: GitLab's come from its client's threads)."""
        self.forge_calls.labels(forge, method.upper(), str(status)).inc()
        remaining = headers.get(RATE_LIMIT_HEADERS[forge])  # both clients' are case-insensitive
        if remaining is not None and remaining.isdigit():
            self.rate_limit_remaining.labels(forge).set(int(remaining))

    def render(self, counts: Mapping[str, int], engine: str, *, work: bool = True) -> bytes:
        """The text exposition, with the queue's counts as just read; `work=False` leaves out
        what is counted where jobs run (another process renders it)."""
        for state in STATES:
            self.jobs.labels(state).set(counts.get(state, 0))
        self.queue_depth.set(counts.get("queued", 0))
        self.queue_engine.labels(engine).set(1)
        ingest = generate_latest(self.registry)
        return ingest + self.render_work() if work else ingest

    def render_work(self) -> bytes:
        """What is counted where jobs run: job runs, advises, forge calls."""
        return generate_latest(self.work_registry)


class TimedAdviser:
    """An adviser whose advises are observed in `thoth_bot_advise_duration_seconds`."""

    def __init__(self, inner: Adviser, metrics: Metrics, backend: str) -> None:
        self.inner = inner
        self.name = inner.name
        self._observe = metrics.advise_seconds
        self._backend = backend

    def __getattr__(self, name: str) -> object:  # fingerprint and the like: the inner one's
        return getattr(self.inner, name)

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self.inner.advise(request)
            outcome = "ok"
            return result
        except AdviseError as error:  # unreachable or failing (retried), or no lock possible
            outcome = "unavailable" if error.retryable else "refused"
            raise
        finally:
            self._observe.labels(self._backend, outcome).observe(time.perf_counter() - started)
