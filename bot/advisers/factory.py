"""Pick the advise backend the configuration asks for (SPEC §8), behind the result cache."""

from __future__ import annotations

import aiohttp

from bot.advisers.cache import CachedAdviser, SqliteAdviseCache
from bot.advisers.known_vulnerabilities import WithKnownVulnerabilities
from bot.advisers.local import LocalAdviser
from bot.advisers.local.remote import RemoteResolver
from bot.advisers.osv import Vulnerabilities, vulnerabilities
from bot.advisers.thoth import ThothAdviser
from bot.config import Settings
from bot.metrics import Metrics, TimedAdviser
from handlers.adviser import Adviser


def make_adviser(
    settings: Settings,
    session: aiohttp.ClientSession,
    metrics: Metrics | None = None,
    *,
    resolve_here: bool = False,
    known_vulnerabilities: Vulnerabilities | None = None,
) -> CachedAdviser:
    """The configured backend behind the result cache. In the distributed mode the embedded
    adviser's resolutions go to the resolver pool, unless `resolve_here` (`thoth-bot advise`
    on a local checkout)."""
    inner: Adviser
    known = known_vulnerabilities or vulnerabilities(session, settings.osv_url)
    if settings.adviser == "thoth":
        assert settings.thoth_host is not None  # load_settings guarantees it
        inner = ThothAdviser(
            session,
            host=settings.thoth_host,
            token=settings.thoth_token,
            timeout=settings.advise_timeout,
        )
        if known is not None:  # Thoth's guidance, and the known vulnerabilities left
            inner = WithKnownVulnerabilities(inner, known)
    else:
        # Distributed: uv runs on `thoth-bot resolver` processes, never where credentials are.
        remote = (
            RemoteResolver(settings.redis_url)
            if settings.redis_url and not resolve_here
            else None
        )
        inner = LocalAdviser(
            rules=settings.hardware_rules,
            indexes=settings.index_policy,
            builds=settings.builds,
            hidden=settings.secret_paths,
            resolver=remote,
            budget=settings.advise_timeout,
            resolutions=settings.resolutions,
            cache_limit=settings.cache_limit,
            vulnerabilities=known,
            cool_down=settings.cool_down,
        )
    if metrics is not None:
        inner = TimedAdviser(inner, metrics, settings.adviser)
    cache = SqliteAdviseCache(settings.state_dir / "advise-cache.sqlite3")
    return CachedAdviser(inner, cache, ttl=settings.cache_ttl)
