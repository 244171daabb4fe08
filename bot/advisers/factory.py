"""Pick the advise backend the configuration asks for (SPEC §8), behind the result cache."""

from __future__ import annotations

import aiohttp

from bot.advisers.cache import CachedAdviser, SqliteAdviseCache
from bot.advisers.local import LocalAdviser
from bot.advisers.thoth import ThothAdviser
from bot.config import Settings
from bot.metrics import Metrics, TimedAdviser
from handlers.adviser import Adviser


def make_adviser(
    settings: Settings, session: aiohttp.ClientSession, metrics: Metrics | None = None
) -> Adviser:
    inner: Adviser
    if settings.adviser == "thoth":
        assert settings.thoth_host is not None  # load_settings guarantees it
        inner = ThothAdviser(
            session,
            host=settings.thoth_host,
            token=settings.thoth_token,
            timeout=settings.advise_timeout,
        )
    else:
        inner = LocalAdviser(
            rules=settings.hardware_rules,
            indexes=settings.index_policy,
            builds=settings.builds,
            hidden=settings.secret_paths,
        )
    if metrics is not None:
        inner = TimedAdviser(inner, metrics, settings.adviser)
    cache = SqliteAdviseCache(settings.state_dir / "advise-cache.sqlite3")
    return CachedAdviser(inner, cache, ttl=settings.cache_ttl)
