"""The resolver pool of the distributed mode (SPEC §2, §10): resolutions on `thoth-bot resolver`
processes, which hold no forge credential, Thoth token or webhook secret.

- A worker (which holds the forge's credentials) never runs uv: `RemoteResolver` puts each
  resolution on the queue `thoth-bot:resolve:queue` as an arq job `resolve-<id>` and waits for
  its result. It checks that the result answers the request it sent (its id and the digest of
  the request) and reads it as JSON, never as a pickle: a resolver runs code that packages
  chose, and the process that holds the credentials must not run what a resolver wrote.
- A resolver (`serve_resolutions`) runs them with its own `UvRunner` (wheels only, the egress
  proxy; builds, where the operator allows them, in the sandbox, as in the embedded mode: a
  build that ran in the resolver's own process could read the resolver's Redis credentials
  and answer other repositories' resolutions). It takes the credentials of private indexes
  from its own configuration, never from the request, and enforces its own index allow-list.
- Redis users (ACLs): a resolver needs only its queue and these jobs' keys; `RESOLVER_ACL`
  is the rule, `docs/security.md` shows it in a Redis configuration.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from bot.advisers.local.indexes import IndexPolicy, rule_index, split_credentials
from bot.advisers.local.listing import UnsupportedPython
from bot.advisers.local.resolve import LocalResolver, Pin, Target
from bot.advisers.local.uv_process import Index
from bot.config import Settings
from handlers.adviser import AdviseError

log = logging.getLogger(__name__)

QUEUE = "thoth-bot:resolve:queue"
FUNCTION = "resolve"
JOB_PREFIX = "resolve-"
WAIT_MARGIN = 120.0  # seconds a resolution may wait for a free resolver, beyond its own limit
# The keys a resolver's Redis user may touch (its queue, its health check, these jobs' keys).
RESOLVER_KEYS = (
    "~thoth-bot:resolve:*",
    f"~arq:job:{JOB_PREFIX}*",
    f"~arq:in-progress:{JOB_PREFIX}*",
    f"~arq:result:{JOB_PREFIX}*",
    f"~arq:retry:{JOB_PREFIX}*",
    "~arq:abort",  # arq removes each finished job from it (the bot aborts no job)
)
RESOLVER_ACL = " ".join(
    ("resetkeys", *RESOLVER_KEYS, "resetchannels", "+@all", "-@dangerous", "+info")
)
# What a resolver must be started without (SPEC §10): it runs code that packages chose.
CREDENTIALS = (
    "GITHUB_PRIVATE_KEY",
    "GITHUB_PRIVATE_KEY_PATH",
    "GITHUB_WEBHOOK_SECRET",
    "GITLAB_TOKEN",
    "GITLAB_WEBHOOK_SECRET",
    "GITLAB_WEBHOOK_SIGNING_TOKEN",
    "GITLAB_SYSTEM_HOOK_SECRET",
    "THOTH_TOKEN",
)


def _dumps(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def _loads(data: bytes) -> dict[str, Any]:
    return orjson.loads(data)


def _request(requirements: Sequence[str], target: Target, constraints: Sequence[str]) -> dict:
    """What a resolver needs, and nothing secret: index URLs without credentials."""
    return {
        "requirements": list(requirements),
        "constraints": list(constraints),
        "python_version": target.python_version,
        "python_platform": target.python_platform,
        "indexes": [index.url for index in target.indexes],
        "pinned": dict(target.pinned),
        "limit": target.limit,
        "prereleases": target.prereleases,
        "reuse": target.reuse,
    }


def _digest(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RemoteResolver:
    """Resolutions on the resolver pool, through Redis."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._pool: Any = None

    async def _connect(self) -> Any:
        if self._pool is None:
            from arq import create_pool
            from arq.connections import RedisSettings

            self._pool = await create_pool(
                RedisSettings.from_dsn(self.redis_url),
                job_serializer=_dumps,
                job_deserializer=_loads,
                default_queue_name=QUEUE,
            )
        return self._pool

    async def __call__(
        self, requirements: Sequence[str], target: Target, constraints: Sequence[str] = ()
    ) -> dict[str, Pin]:
        answer = await self._ask(_request(requirements, target, constraints), target.limit)
        return {key: Pin(**{**pin, **_tuples(pin)}) for key, pin in answer["pins"].items()}

    async def hashes(
        self, wanted: Mapping[str, tuple[str, str, int]], target: Target
    ) -> dict[str, tuple[str, ...]]:
        found = await self._question("hashes", wanted, target)
        return {key: tuple(hashes) for key, hashes in found.items()}

    async def releases(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, tuple[str, ...]]:
        found = await self._question("releases", wanted, target)
        return {key: tuple(versions) for key, versions in found.items()}

    async def uploads(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, dict[str, str]]:
        found = await self._question("uploads", wanted, target)
        return {key: {str(v): str(t) for v, t in times.items()} for key, times in found.items()}

    async def compiled(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, bool]:
        found = await self._question("compiled", wanted, target)
        return {key: bool(compiles) for key, compiles in found.items()}

    async def _question(
        self, kind: str, wanted: Mapping[str, tuple[Any, ...]], target: Target
    ) -> dict[str, Any]:
        """A question on the index listings or files ({key: its arguments}); its answers."""
        request = {**_request((), target, ()), kind: {k: list(v) for k, v in wanted.items()}}
        answer = await self._ask(request, target.limit)
        return dict(answer[kind])

    async def _ask(self, request: dict[str, Any], limit: float) -> dict[str, Any]:
        """Send `request` to the pool; its answer, once checked to be the answer to it."""
        pool = await self._connect()
        identifier = secrets.token_hex(16)
        job = await pool.enqueue_job(
            FUNCTION, {"id": identifier, **request}, _job_id=JOB_PREFIX + identifier
        )
        wait = limit + WAIT_MARGIN
        try:
            answer = await job.result(timeout=wait, poll_delay=0.2)
        except TimeoutError:
            raise AdviseError(
                f"no thoth-bot resolver answered within {wait:.0f} s",
                retryable=True,
                fix="Check that `thoth-bot resolver` processes run and reach Redis.",
            ) from None
        except Exception as error:  # a failed job, or a result that does not decode
            raise AdviseError(
                f"the resolver's answer is unusable: {error}", retryable=True
            ) from None
        if not isinstance(answer, dict) or answer.get("id") != identifier:
            raise AdviseError("the resolver answered another request", retryable=True)
        if answer.get("digest") != _digest(request):
            raise AdviseError("the resolver answered a different request", retryable=True)
        if "error" in answer:
            error = answer["error"]
            if error.get("unsupported"):
                pins = [tuple(str(part) for part in pin) for pin in error["unsupported"]]
                raise UnsupportedPython(
                    pins,  # type: ignore[arg-type]
                    str(request["python_version"]),
                    excluded=[str(item) for item in error.get("excluded") or ()],
                )
            raise AdviseError(
                str(error["message"]),
                retryable=bool(error.get("retryable")),
                fix=error.get("fix"),
                detail=error.get("detail"),
            )
        return answer

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


def _tuples(pin: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {name: tuple(pin[name]) for name in ("hashes", "wheels", "urls")}


class ResolutionService:
    """A resolver's side: requests in, pins (or an error) out."""

    def __init__(self, settings: Settings, resolver: LocalResolver) -> None:
        self.policy: IndexPolicy = settings.index_policy
        self.resolver = resolver
        self.rule_urls = {
            split_credentials(rule.index.url)[0]: rule.index.url
            for rule in settings.hardware_rules
            if rule.index is not None
        }

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        identifier = request.pop("id", "")
        answer: dict[str, Any] = {"id": identifier, "digest": _digest(request)}
        try:
            target = self._target(request)
            if "hashes" in request:
                wanted = {
                    str(key): (str(name), str(version), int(position))
                    for key, (name, version, position) in request["hashes"].items()
                }
                found = await self.resolver.hashes(wanted, target)
                answer["hashes"] = {key: list(hashes) for key, hashes in found.items()}
                return answer
            if "releases" in request:
                asked = {
                    str(key): (str(name), int(position))
                    for key, (name, position) in request["releases"].items()
                }
                versions = await self.resolver.releases(asked, target)
                answer["releases"] = {key: list(found) for key, found in versions.items()}
                return answer
            if "uploads" in request:
                asked = {
                    str(key): (str(name), int(position))
                    for key, (name, position) in request["uploads"].items()
                }
                answer["uploads"] = await self.resolver.uploads(asked, target)
                return answer
            if "compiled" in request:
                sdists = {
                    str(key): (str(url), int(position))
                    for key, (url, position) in request["compiled"].items()
                }
                answer["compiled"] = await self.resolver.compiled(sdists, target)
                return answer
            pins = await self.resolver(request["requirements"], target, request["constraints"])
        except AdviseError as error:
            answer["error"] = {
                "message": str(error),
                "retryable": error.retryable,
                "fix": error.fix,
                "detail": error.detail,
                "unsupported": [list(pin) for pin in getattr(error, "pins", ())],
                "excluded": list(getattr(error, "excluded", ())),
            }
            return answer
        answer["pins"] = {
            key: {
                "name": pin.name,
                "version": pin.version,
                "hashes": list(pin.hashes),
                "wheels": list(pin.wheels),
                "sdist": pin.sdist,
                "urls": list(pin.urls),
            }
            for key, pin in pins.items()
        }
        return answer

    def _target(self, request: Mapping[str, Any]) -> Target:
        """The request's target, with this resolver's own allow-list and credentials."""
        indexes = []
        trusted = []
        for url in request["indexes"]:
            if url in self.rule_urls:  # a rule's index, as this resolver's configuration has it
                indexes.append(rule_index(self.rule_urls[url], self.policy))
                trusted.append(url)
            else:
                indexes.append(Index(url, self.policy.credentials_for(url)))
        return Target(
            python_version=str(request["python_version"]),
            python_platform=request["python_platform"],
            indexes=tuple(indexes),
            allowlist=self.policy.allowlist(trusted=trusted),
            pinned={str(k): int(v) for k, v in request["pinned"].items()},
            limit=float(request["limit"]),
            prereleases=bool(request.get("prereleases")),
            reuse=bool(request.get("reuse", True)),
        )


async def resolve_job(ctx: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """arq's job function on a resolver."""
    service: ResolutionService = ctx["service"]
    return await service.handle(request)


async def serve_resolutions(settings: Settings) -> None:
    """`thoth-bot resolver`: run resolutions until SIGINT/SIGTERM."""
    from arq import Worker
    from arq.connections import RedisSettings
    from arq.worker import func

    from bot.advisers.local.adviser import default_cache_dir
    from bot.advisers.local.sandbox import Sandbox
    from bot.advisers.local.uv_process import UvRunner

    assert settings.redis_url
    cache = default_cache_dir()
    sandbox = Sandbox([cache]) if settings.builds == "isolated" else None
    runner = UvRunner(
        cache_dir=cache,
        sandbox=sandbox,
        concurrency=settings.resolutions,
        cache_limit=settings.cache_limit,
    )
    service = ResolutionService(settings, LocalResolver(runner))
    worker = Worker(
        functions=[func(resolve_job, name=FUNCTION)],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        ctx={"service": service},
        max_jobs=settings.workers,
        job_timeout=settings.advise_timeout,
        keep_result=600,
        max_tries=1,
        poll_delay=0.2,
        handle_signals=True,
        job_serializer=_dumps,
        job_deserializer=_loads,
        health_check_key=QUEUE + ":health-check",
    )
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass
    finally:
        await worker.close()
        await runner.close()
