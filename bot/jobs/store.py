"""The embedded engine's durable queue: one SQLite file under THOTH_BOT_STATE_DIR.

A delivery is committed (fsync'd, WAL) before the webhook is answered 202. Deliveries that
arrive while a commit is in flight are written together in the next one (group commit), so the
cost of durability is shared. They are appended to `arrivals`, which has no index but its rowid:
a commit there writes a few pages, where `jobs` and its indexes (random delivery ids) took about
one page per delivery. Arrivals move into `jobs` in bulk (`_settle`) before anything reads jobs:
a claim, a count, a lookup. One thread owns the connection; the event loop never blocks on it.

Under `thoth-bot serve` two processes share the file (`shared=True`): the web process appends
deliveries, the job process (`bot.jobs.job_process`) claims and runs them; each settles what
it finds in `arrivals`, SQLite's write lock keeps them apart. The job process's own writes (a
claim, an outcome) are not fsync'd (`synchronous=NORMAL`): they survive the process's death,
which is what counting attempts needs, and hold the write lock the web process's next commit
waits for a fraction as long; only a machine's crash can take one back (a job runs again).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.jobs.group_commit import GroupCommit

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery TEXT NOT NULL UNIQUE,       -- "<forge>:<delivery id>": a redelivery is a no-op
    forge TEXT NOT NULL,
    event TEXT NOT NULL,
    repo TEXT NOT NULL,                  -- jobs of one repository never run at once
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',  -- queued | running | done | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    received_at REAL NOT NULL,
    finished_at REAL,
    coalesce TEXT,                       -- queued jobs with one key run as one (newest state)
    absorbed TEXT                        -- JSON [[id, event, payload]...] of jobs run with this
);
-- Deliveries recorded but not yet moved into `jobs` (see the module's docstring).
CREATE TABLE IF NOT EXISTS arrivals (
    id INTEGER PRIMARY KEY,
    delivery TEXT NOT NULL,
    forge TEXT NOT NULL,
    event TEXT NOT NULL,
    repo TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL,
    coalesce TEXT
);
-- A burst of coalescable deliveries: its jobs wait until `run_after` (the last delivery plus
-- the window, but no later than the first plus MAX_COALESCE_WAIT). Gone once claimed.
-- Coalescable jobs are claimed through their burst only, so a claim never walks them.
CREATE TABLE IF NOT EXISTS bursts (
    coalesce TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    run_after REAL NOT NULL,
    first_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bursts_ready ON bursts (run_after);
-- Things the bot has met once and for all (a GitLab project it onboarded); never pruned.
CREATE TABLE IF NOT EXISTS sightings (
    key TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
"""

STATES = ("queued", "running", "done", "failed")
# Columns added after the first release, for state directories made by it.
MIGRATIONS = {
    "coalesce": "ALTER TABLE jobs ADD COLUMN coalesce TEXT",
    "absorbed": "ALTER TABLE jobs ADD COLUMN absorbed TEXT",
}
# A burst of coalescable deliveries never holds its job back longer than this.
MAX_COALESCE_WAIT = 30.0
# Arrivals are moved into `jobs` by the workers' claims (at least once a second while a worker
# is idle), this many per transaction; with every worker busy for long, once SETTLE_AT came.
SETTLE_CHUNK = 200
SETTLE_AT = 10_000
_MOVED = "delivery, forge, event, repo, payload, received_at, coalesce"


@dataclass(frozen=True)
class Delivery:
    key: str
    forge: str
    event: str
    repo: str
    payload: str  # the JSON body
    # When set, the delivery is recorded only the first time this key is ever seen (and the key
    # is remembered for good, in the same transaction): "onboard each project once".
    first_sighting: str | None = None
    # Deliveries with the same key that are queued together run as ONE job (the handler gets
    # them all); each new one holds the group back `coalesce_window` seconds.
    coalesce: str | None = None


@dataclass(frozen=True)
class Job:
    id: int
    key: str
    forge: str
    event: str
    repo: str
    payload: str
    attempts: int  # including the current one
    # Jobs coalesced into this one, oldest first: (event, payload). The job's own comes last.
    absorbed: tuple[tuple[str, str], ...] = ()

    @property
    def deliveries(self) -> list[tuple[str, str]]:
        """(event, payload) of every delivery this job stands for, oldest first."""
        return [*self.absorbed, (self.event, self.payload)]


class JobStore:
    def __init__(
        self,
        path: Path,
        *,
        coalesce_window: float = 0.0,
        shared: bool = False,
        fsync: bool = True,
    ):
        self.path = path
        self.coalesce_window = coalesce_window
        self.shared = shared  # another process appends and settles too
        self.fsync = fsync  # False: the job process's (see the module's docstring)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobstore")
        self._db: sqlite3.Connection | None = None
        self._commits: GroupCommit[Delivery] = GroupCommit(self._write)
        self._arrived: set[str] = set()  # the keys in `arrivals`: this thread is their only writer
        self._settled_once = False

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._run(self._connect)

    def _connect(self) -> None:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        for column, statement in MIGRATIONS.items():
            if column not in columns:
                db.execute(statement)
        # Queued jobs in order, plain ones apart from each burst's (a claim walks neither).
        db.execute("CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, coalesce, id)")
        db.execute("DROP INDEX IF EXISTS jobs_ready")
        self._db = db
        self._settle_alone()  # what a previous run recorded and had not moved

    async def close(self) -> None:
        await self._commits.drain()
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- ingest -----------------------------------------------------------------------------

    async def add(self, delivery: Delivery) -> bool:
        """Record a delivery durably. False when its key was already recorded."""
        [added] = await self.add_all([delivery])
        return added

    async def add_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Record deliveries durably, in this order, in one transaction (with any others that
        arrive while a commit is in flight)."""
        return await self._commits.add_all(deliveries)

    async def _write(self, deliveries: list[Delivery]) -> list[bool]:
        return await self._run(self._insert, deliveries)

    def _insert(self, deliveries: Sequence[Delivery]) -> list[bool]:
        if len(deliveries) <= 500 and not any(d.first_sighting for d in deliveries):
            added = self._append(deliveries)
        else:
            added = self._insert_checked(deliveries)
        if len(self._arrived) >= SETTLE_AT and self.shared:
            # The other process moved most of them: forget those.
            self._arrived.intersection_update(
                row[0] for row in self._require().execute("SELECT delivery FROM arrivals")
            )
        if len(self._arrived) >= SETTLE_AT:  # (shared: the job process is behind, or down)
            self._settle_alone(SETTLE_CHUNK)
        return added

    def _append(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """The usual batch, in ONE statement committing itself. Each step of a statement gives
        the GIL up and takes it back, waiting while the event loop holds it: one step per batch
        keeps this thread's commits short. Keys already in `jobs` are skipped by the statement
        (and looked up after, in the rare batch where some were)."""
        now = time.time()
        fresh: dict[str, tuple] = {}  # the first delivery of each key not already arrived
        for d in deliveries:
            if d.key not in self._arrived and d.key not in fresh:
                fresh[d.key] = (d.key, d.forge, d.event, d.repo, d.payload, now, d.coalesce)
        if fresh:
            db = self._require()
            cursor = db.execute(
                f"INSERT INTO arrivals ({_MOVED}) SELECT * FROM (VALUES "
                + ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(fresh))
                + ") WHERE column1 NOT IN (SELECT delivery FROM jobs)",
                [value for row in fresh.values() for value in row],
            )
            if cursor.rowcount != len(fresh):
                marks = ",".join("?" * len(fresh))
                query = f"SELECT delivery FROM jobs WHERE delivery IN ({marks})"
                for (key,) in db.execute(query, list(fresh)).fetchall():
                    del fresh[key]
            self._arrived.update(fresh)
        added = []
        for d in deliveries:
            added.append(fresh.pop(d.key, None) is not None)  # a key twice: the first counts
        return added

    def _insert_checked(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """One transaction for a batch: which keys are known (one query per 500), then each
        first sighting, then every new delivery appended to `arrivals` in one statement."""
        db = self._require()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            keys = [d.key for d in deliveries]
            known = self._arrived.intersection(keys)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT delivery FROM jobs WHERE delivery IN ({marks})"
                known.update(row[0] for row in db.execute(query, chunk))
            added, rows = [], []
            for d in deliveries:
                new = d.key not in known
                if new and d.first_sighting is not None:
                    new = (
                        db.execute(
                            "INSERT OR IGNORE INTO sightings (key, seen_at) VALUES (?, ?)",
                            (d.first_sighting, now),
                        ).rowcount
                        == 1
                    )
                if new:
                    known.add(d.key)  # the same key twice in one batch: the first one counts
                    rows.append((d.key, d.forge, d.event, d.repo, d.payload, now, d.coalesce))
                added.append(new)
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                db.execute(
                    f"INSERT INTO arrivals ({_MOVED}) VALUES "
                    + ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                    [value for row in chunk for value in row],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._arrived.update(row[0] for row in rows)
        return added

    def _settle(self, db: sqlite3.Connection, limit: int = -1) -> bool:
        """Inside a transaction: move the oldest `limit` arrivals (-1: all) into `jobs`, in
        order, and give each burst its wait (its last delivery plus the window, but within
        MAX_COALESCE_WAIT of its first). True when some are left."""
        if self._nothing_arrived(db):
            return False
        last = db.execute(
            "SELECT MAX(id) FROM (SELECT id FROM arrivals ORDER BY id LIMIT ?)", (limit,)
        ).fetchone()[0]
        if last is not None:
            moved = f"FROM arrivals WHERE id <= {int(last)}"
            db.execute(f"INSERT OR IGNORE INTO jobs ({_MOVED}) SELECT {_MOVED} {moved} ORDER BY id")
            window = float(self.coalesce_window)
            db.execute(
                "INSERT INTO bursts (coalesce, repo, run_after, first_at)"
                f" SELECT coalesce, repo, MIN(MAX(received_at) + {window},"
                f" MIN(received_at) + {MAX_COALESCE_WAIT}), MIN(received_at)"
                f" {moved} AND coalesce IS NOT NULL GROUP BY coalesce"
                " ON CONFLICT (coalesce) DO UPDATE SET run_after ="
                " MAX(bursts.run_after,"
                f" MIN(excluded.run_after, bursts.first_at + {MAX_COALESCE_WAIT}))"
            )
            self._arrived.difference_update(
                row[0] for row in db.execute(f"SELECT delivery {moved}")
            )
            db.execute(f"DELETE {moved}")
        left = bool(db.execute("SELECT EXISTS (SELECT 1 FROM arrivals)").fetchone()[0])
        self._settled_once = self._settled_once or not left
        return left

    def _settle_alone(self, limit: int = -1) -> bool:
        """Settle in a transaction of its own, if anything arrived. True when some are left."""
        if self._nothing_arrived(self._require()):
            return False
        return self._transaction(lambda db: self._settle(db, limit))

    def _nothing_arrived(self, db: sqlite3.Connection) -> bool:
        """Nothing to settle: alone, nothing appended since the last settle (the first is at
        open); shared, `arrivals` is empty (a read, without the write lock)."""
        if self.shared:
            return not db.execute("SELECT EXISTS (SELECT 1 FROM arrivals)").fetchone()[0]
        return self._settled_once and not self._arrived

    async def _settle_in_chunks(self) -> None:
        """Settle SETTLE_CHUNK arrivals per transaction: deliveries coming in meanwhile are
        written between two chunks, not after all of them."""
        while await self._run(self._settle_alone, SETTLE_CHUNK):
            pass

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._require()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    @staticmethod
    def _bursts(db: sqlite3.Connection, waits: Sequence[tuple[str, str, float, float]]) -> None:
        """(coalesce, repo, run_after, now): each burst runs after the latest `run_after` it
        was given, but no later than MAX_COALESCE_WAIT after it began."""
        if not waits:
            return
        db.execute(
            "INSERT INTO bursts (coalesce, repo, run_after, first_at) VALUES "
            + ",".join(["(?, ?, ?, ?)"] * len(waits))
            + " ON CONFLICT (coalesce) DO UPDATE SET run_after ="
            " MAX(bursts.run_after,"
            f" MIN(excluded.run_after, bursts.first_at + {MAX_COALESCE_WAIT}))",
            [value for wait in waits for value in wait],
        )

    # -- work -------------------------------------------------------------------------------

    async def claim(self, busy_repos: frozenset[str]) -> Job | None:
        """The oldest runnable job of a repository not in `busy_repos`, marked running."""
        await self._settle_in_chunks()
        return await self._run(self._claim, busy_repos)

    def _claim(self, busy_repos: frozenset[str]) -> Job | None:
        db = self._require()
        marks = ",".join("?" * len(busy_repos))
        exclude = f"AND repo NOT IN ({marks})" if busy_repos else ""
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            self._settle(db)
            job = self._claim_plain(db, now, exclude, busy_repos)
            burst = db.execute(
                f"SELECT coalesce FROM bursts WHERE run_after <= ? {exclude}"
                " ORDER BY run_after LIMIT 1",
                (now, *busy_repos),
            ).fetchone()
            if burst is not None:
                first = db.execute(
                    "SELECT MIN(id) FROM jobs WHERE coalesce = ? AND state = 'queued'",
                    (burst[0],),
                ).fetchone()[0]
                if first is None:  # nothing left of it
                    db.execute("DELETE FROM bursts WHERE coalesce = ?", (burst[0],))
                elif job is None or first < job[0]:
                    job = self._claim_burst(db, now, burst[0])
            if job is None:
                db.execute("COMMIT")
                return None
            job_id, absorbed = job[0], job[-1]
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, absorbed = ?"
                " WHERE id = ?",
                (json.dumps(absorbed) if absorbed else None, job_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Job(
            id=job[0],
            key=job[1],
            forge=job[2],
            event=job[3],
            repo=job[4],
            payload=job[5],
            attempts=job[6] + 1,
            absorbed=tuple((event, payload) for _, event, payload in job[-1]),
        )

    _COLUMNS = "id, delivery, forge, event, repo, payload, attempts, absorbed"

    def _claim_plain(
        self, db: sqlite3.Connection, now: float, exclude: str, busy: frozenset[str]
    ) -> tuple | None:
        """The oldest ready job that coalesces with nothing."""
        row = db.execute(
            f"SELECT {self._COLUMNS} FROM jobs WHERE state = 'queued' AND coalesce IS NULL"
            f" AND run_after <= ? {exclude} ORDER BY id LIMIT 1",
            (now, *busy),
        ).fetchone()
        return None if row is None else (*row[:-1], _entries(row[-1]))

    def _claim_burst(self, db: sqlite3.Connection, now: float, key: str) -> tuple:
        """A burst's newest job, standing for the others (marked done, their deliveries kept
        in the job's `absorbed`, so that a retry still has them)."""
        db.execute("DELETE FROM bursts WHERE coalesce = ?", (key,))
        group = db.execute(
            f"SELECT {self._COLUMNS} FROM jobs WHERE coalesce = ? AND state = 'queued' ORDER BY id",
            (key,),
        ).fetchall()
        newest = group[-1]
        absorbed = _entries(newest[-1])
        for other in group[:-1]:
            absorbed += _entries(other[-1])
            absorbed.append((other[0], other[3], other[5]))
            db.execute(
                "UPDATE jobs SET state = 'done', finished_at = ?, absorbed = NULL,"
                " last_error = ? WHERE id = ?",
                (now, f"coalesced into {newest[1]}", other[0]),
            )
        absorbed.sort(key=lambda entry: entry[0])
        return (*newest[:-1], absorbed)

    async def finish(self, job_id: int) -> None:
        await self._update(job_id, "done", None, finished=True)

    async def fail(self, job_id: int, error: str) -> None:
        await self._update(job_id, "failed", error, finished=True)

    async def retry(self, job_id: int, delay: float, error: str) -> None:
        def run() -> None:
            db = self._require()
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "UPDATE jobs SET state = 'queued', run_after = ?, last_error = ? WHERE id = ?",
                    (now + delay, error, job_id),
                )
                row = db.execute(
                    "SELECT coalesce, repo FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                if row is not None and row[0]:
                    self._bursts(db, [(row[0], row[1], now + delay, now)])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        await self._run(run)

    async def _update(self, job_id: int, state: str, error: str | None, *, finished: bool) -> None:
        def run() -> None:
            self._require().execute(
                "UPDATE jobs SET state = ?, last_error = COALESCE(?, last_error), finished_at = ?"
                " WHERE id = ?",
                (state, error, time.time() if finished else None, job_id),
            )

        await self._run(run)

    async def recover(self) -> int:
        """After a crash: jobs left running go back to the queue. Returns how many."""

        def run() -> int:
            db = self._require()
            now = time.time()
            groups = db.execute(
                "SELECT DISTINCT coalesce, repo FROM jobs"
                " WHERE state IN ('running', 'queued') AND coalesce IS NOT NULL"
            ).fetchall()
            for start in range(0, len(groups), 500):  # claimable through their burst again
                self._bursts(
                    db, [(key, repo, 0.0, now) for key, repo in groups[start : start + 500]]
                )
            cursor = db.execute(
                "UPDATE jobs SET state = 'queued', run_after = 0 WHERE state = 'running'"
            )
            return cursor.rowcount

        return await self._run(run)

    async def prune(self, *, done_before: float, failed_before: float) -> int:
        """Forget finished jobs: done ones finished before `done_before`, failed ones before
        `failed_before` (time.time() seconds). Returns how many were deleted."""

        def run() -> int:
            cursor = self._require().execute(
                "DELETE FROM jobs WHERE (state = 'done' AND finished_at < ?)"
                " OR (state = 'failed' AND finished_at < ?)",
                (done_before, failed_before),
            )
            return cursor.rowcount

        return await self._run(run)

    async def counts(self) -> dict[str, int]:
        """Jobs by state, plus 'ready': queued jobs that may run now."""

        def run() -> dict[str, int]:
            db = self._require()
            self._settle_alone()  # what came in since the chunks
            counts = dict.fromkeys(STATES, 0)
            counts.update(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
            now = time.time()
            counts["ready"] = (
                db.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND coalesce IS NULL"
                    " AND run_after <= ?",
                    (now,),
                ).fetchone()[0]
                + db.execute("SELECT COUNT(*) FROM bursts WHERE run_after <= ?", (now,)).fetchone()[
                    0
                ]
            )
            return counts

        await self._settle_in_chunks()
        return await self._run(run)

    async def job(self, key: str) -> dict[str, Any] | None:
        """One job's row by delivery key (for operators and tests)."""

        def run() -> dict[str, Any] | None:
            db = self._require()
            self._settle_alone()
            cursor = db.execute("SELECT * FROM jobs WHERE delivery = ?", (key,))
            row = cursor.fetchone()
            if row is None:
                return None
            return dict(zip([c[0] for c in cursor.description], row, strict=True))

        await self._settle_in_chunks()
        return await self._run(run)

    async def ping(self) -> None:
        await self._run(lambda: self._require().execute("SELECT 1").fetchone())

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the job store is not open")
        return self._db


def _entries(absorbed: str | None) -> list[tuple[int, str, str]]:
    """A job's `absorbed` column: (id, event, payload) of the deliveries it stands for."""
    return [(entry[0], entry[1], entry[2]) for entry in json.loads(absorbed or "[]")]
