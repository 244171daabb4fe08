"""The repositories the bot serves: every repository a job ran for (an installation's, a GitLab
project's first sighting, any delivery), what its configuration asks of maintenance, the
versions its locks hold, and when its maintenance last ran. Kept where the jobs run: a SQLite
file in the state directory (embedded) or a Redis hash (distributed), so that schedules survive
restarts and every worker sees the same list.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class ServedRepository:
    forge: str  # "github" | "gitlab"
    full_name: str
    installation: int | None = None  # GitHub's App installation
    schedule: str | None = None  # its configuration's `schedule` (None: the operators')
    locked: Mapping[str, str] = field(default_factory=dict)  # package -> version
    added: float = 0.0
    maintained: float = 0.0  # when its last scheduled run was queued
    advisories: tuple[str, ...] = ()  # the advisories already acted on

    @property
    def key(self) -> str:
        return f"{self.forge}:{self.full_name}"

    def to_json(self) -> str:
        data = dict(vars(self))
        data["locked"] = dict(self.locked)
        data["advisories"] = list(self.advisories)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServedRepository:
        data = json.loads(text)
        data["advisories"] = tuple(data.get("advisories") or ())
        return cls(**data)


class Registry(Protocol):
    async def seen(self, forge: str, full_name: str, installation: int | None, now: float) -> None:
        """Record a repository a job ran for (kept as it is when known)."""

    async def note(
        self, forge: str, full_name: str, *, schedule: str | None, locked: Mapping[str, str]
    ) -> None:
        """What a handler read of the repository: its schedule, its locks' versions."""

    async def update(self, repository: ServedRepository) -> None:
        """Store `repository` as it is now (the scheduler's bookkeeping)."""

    async def forget(self, forge: str, full_names: Iterable[str]) -> None: ...

    async def forget_installation(self, installation: int) -> None: ...

    async def all(self) -> list[ServedRepository]: ...

    async def claim_check(self, every: float, now: float) -> bool:
        """Whether the advisory check is due (none ran within `every` seconds), and if so,
        that this caller runs it: one caller per period, whatever the processes."""

    async def close(self) -> None: ...


class SqliteRegistry:
    """The embedded mode's: one table in `repositories.sqlite3`, used by the job process only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS served (key TEXT PRIMARY KEY, installation INTEGER,"
                " data TEXT NOT NULL)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS checks (at REAL NOT NULL)")
        return self._db

    async def _run(self, work: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(lambda: _transaction(self._connect(), work))

    async def seen(self, forge: str, full_name: str, installation: int | None, now: float) -> None:
        fresh = ServedRepository(forge, full_name, installation, added=now)

        def work(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT data FROM served WHERE key = ?", (fresh.key,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO served VALUES (?, ?, ?)",
                    (fresh.key, installation, fresh.to_json()),
                )
            elif installation is not None:
                known = ServedRepository.from_json(row[0])
                if known.installation != installation:
                    moved = _replace(known, installation=installation)
                    db.execute(
                        "UPDATE served SET installation = ?, data = ? WHERE key = ?",
                        (installation, moved.to_json(), fresh.key),
                    )

        await self._run(work)

    async def note(
        self, forge: str, full_name: str, *, schedule: str | None, locked: Mapping[str, str]
    ) -> None:
        def work(db: sqlite3.Connection) -> None:
            key = f"{forge}:{full_name}"
            row = db.execute("SELECT data FROM served WHERE key = ?", (key,)).fetchone()
            if row is not None:
                known = ServedRepository.from_json(row[0])
                noted = _replace(known, schedule=schedule, locked=dict(locked))
                db.execute("UPDATE served SET data = ? WHERE key = ?", (noted.to_json(), key))

        await self._run(work)

    async def update(self, repository: ServedRepository) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE served SET data = ? WHERE key = ?",
                (repository.to_json(), repository.key),
            )
        )

    async def forget(self, forge: str, full_names: Iterable[str]) -> None:
        keys = [(f"{forge}:{name}",) for name in full_names]
        await self._run(lambda db: db.executemany("DELETE FROM served WHERE key = ?", keys))

    async def forget_installation(self, installation: int) -> None:
        await self._run(
            lambda db: db.execute("DELETE FROM served WHERE installation = ?", (installation,))
        )

    async def all(self) -> list[ServedRepository]:
        rows = await self._run(lambda db: db.execute("SELECT data FROM served").fetchall())
        return [ServedRepository.from_json(row[0]) for row in rows]

    async def claim_check(self, every: float, now: float) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            [last] = db.execute("SELECT max(at) FROM checks").fetchone()
            if last is not None and last + every > now:
                return False
            db.execute("DELETE FROM checks")
            db.execute("INSERT INTO checks VALUES (?)", (now,))
            return True

        return bool(await self._run(work))

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _transaction(db: sqlite3.Connection, work: Any) -> Any:
    with db:
        return work(db)


def _replace(repository: ServedRepository, **changes: Any) -> ServedRepository:
    return ServedRepository(**{**vars(repository), **changes})


class RedisRegistry:
    """The distributed mode's: one hash, field `forge:full_name`, the repository's JSON."""

    KEY = "thoth-bot:served"

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def seen(self, forge: str, full_name: str, installation: int | None, now: float) -> None:
        fresh = ServedRepository(forge, full_name, installation, added=now)
        if await self.redis.hsetnx(self.KEY, fresh.key, fresh.to_json()):
            return
        if installation is not None:
            known = await self._get(fresh.key)
            if known is not None and known.installation != installation:
                await self.update(_replace(known, installation=installation))

    async def note(
        self, forge: str, full_name: str, *, schedule: str | None, locked: Mapping[str, str]
    ) -> None:
        known = await self._get(f"{forge}:{full_name}")
        if known is not None:
            await self.update(_replace(known, schedule=schedule, locked=dict(locked)))

    async def update(self, repository: ServedRepository) -> None:
        await self.redis.hset(self.KEY, repository.key, repository.to_json())

    async def forget(self, forge: str, full_names: Iterable[str]) -> None:
        keys = [f"{forge}:{name}" for name in full_names]
        if keys:
            await self.redis.hdel(self.KEY, *keys)

    async def forget_installation(self, installation: int) -> None:
        gone = [r.key for r in await self.all() if r.installation == installation]
        if gone:
            await self.redis.hdel(self.KEY, *gone)

    async def claim_check(self, every: float, now: float) -> bool:
        return bool(
            await self.redis.set(
                "thoth-bot:advisory-check", str(now), nx=True, px=max(1, int(every * 1000))
            )
        )

    async def all(self) -> list[ServedRepository]:
        found = await self.redis.hgetall(self.KEY)
        return [ServedRepository.from_json(_text(value)) for value in found.values()]

    async def _get(self, key: str) -> ServedRepository | None:
        value = await self.redis.hget(self.KEY, key)
        return ServedRepository.from_json(_text(value)) if value is not None else None

    async def close(self) -> None:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Noted:
    """`handlers.served.Served` for one job: what its handlers read, for its repository."""

    def __init__(self, registry: Registry, forge: str) -> None:
        self.registry = registry
        self.forge = forge

    async def note(
        self, full_name: str, *, schedule: str | None, locked: Mapping[str, str]
    ) -> None:
        await self.registry.note(self.forge, full_name, schedule=schedule, locked=locked)
