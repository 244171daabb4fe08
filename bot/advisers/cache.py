"""Advise results cached per Pipfile, lock and runtime environment (SPEC §8).

`CachedAdviser` wraps any `Adviser`; `SqliteAdviseCache` keeps the results in one SQLite file,
doing its blocking work in worker threads so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path
from typing import Any, Protocol

from handlers.adviser import Adviser, AdviseRequest, AdviseResult, Guidance


class AdviseCache(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None:
        """The unexpired value stored under `key`, or None."""

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds."""


def cache_key(backend: str, request: AdviseRequest) -> str:
    """What makes two advises the same: backend, Pipfile, lock, runtime environment
    (node class, environment name, Python version) and the kind of recommendation."""
    material = {
        "backend": backend,
        "pipfile": request.pipfile,
        "lock": request.pipfile_lock,
        "environment": request.environment,
        "node_class": dataclasses.asdict(request.node_class),
        "python_version": request.python_version,
        "recommendation_type": request.recommendation_type,
        "dev": request.dev,
    }
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _to_json(result: AdviseResult) -> dict[str, Any]:
    return {
        "lock": result.lock,
        "justification": [g.to_dict() for g in result.justification],
        "stack_info": [g.to_dict() for g in result.stack_info],
        "backend": result.backend,
        "analysis_id": result.analysis_id,
        "extra": result.extra,
    }


def _from_json(data: dict[str, Any]) -> AdviseResult:
    return AdviseResult(
        lock=data["lock"],
        justification=tuple(Guidance.from_dict(g) for g in data.get("justification", ())),
        stack_info=tuple(Guidance.from_dict(g) for g in data.get("stack_info", ())),
        backend=data.get("backend", ""),
        analysis_id=data.get("analysis_id"),
        cached=True,
        extra=data.get("extra") or {},
    )


class CachedAdviser:
    """An `Adviser` answering repeated advises from `store` for `ttl` seconds.

    `request.force` skips the lookup (the fresh result is stored); errors are never cached."""

    def __init__(self, inner: Adviser, store: AdviseCache, ttl: float) -> None:
        self.inner = inner
        self.name = inner.name
        self._store = store
        self._ttl = ttl

    async def close(self) -> None:
        """Release what the adviser behind holds (the embedded one's proxy and pools)."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        # An adviser whose answers depend on its own configuration (the embedded adviser's
        # rules) names it, so a changed configuration does not get yesterday's answers.
        key = cache_key(f"{self.name}:{getattr(self.inner, 'fingerprint', '')}", request)
        if not request.force:
            hit = await self._store.get(key)
            if hit is not None:
                return _from_json(hit)
        result = await self.inner.advise(request)
        if self._ttl > 0:
            await self._store.put(key, _to_json(result), self._ttl)
        return result


class SqliteAdviseCache:
    """`AdviseCache` in a SQLite file. Each operation opens its own connection in a worker
    thread, so concurrent use (threads, tasks, processes) is safe; expired rows are ignored
    and pruned on every write."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._setup = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        with self._setup:  # the first connection makes the file; the others wait for it
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(self.path, timeout=30)) as db:
                    with suppress(sqlite3.OperationalError):  # another process is at it
                        db.execute("PRAGMA journal_mode=WAL")
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS advise_cache ("
                        " key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)"
                    )
                    db.commit()
                self._ready = True
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _get(self, key: str) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT value FROM advise_cache WHERE key = ? AND expires_at > ?",
                (key, self._clock()),
            ).fetchone()
        return json.loads(row[0]) if row else None

    def _put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        now = self._clock()
        with closing(self._connect()) as db:
            db.execute("DELETE FROM advise_cache WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO advise_cache (key, value, expires_at) VALUES (?, ?, ?)",
                (key, json.dumps(value), now + ttl),
            )

    async def get(self, key: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._get, key)

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        await asyncio.to_thread(self._put, key, value, ttl)
