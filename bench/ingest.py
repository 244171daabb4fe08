"""Webhook ingest: deliveries/s and time to the 202, thoth-bot against its ceiling and Probot.

    .venv/bin/python bench/ingest.py [--deliveries 5000] [--concurrency 64] [--only NAME...]

In one run, each target is its own process on 127.0.0.1, fed signed `push` deliveries (each
body its own: a body the bot already ran is a duplicate, whatever its delivery id) by
`--concurrency` clients from this process:

- bare: an aiohttp handler that only answers 202 (`bench/bare_server.py`), the ceiling;
- probot: Probot 14 (npm, installed on first use under .cache/bench-probot), verifying the
  signature and dispatching to a no-op `push` handler (`bench/probot/server.mjs`);
- embedded: `thoth-bot serve` verifying, parsing and recording every delivery in SQLite,
  fsync'd before the 202 (group commit);
- redis: `thoth-bot serve` with REDIS_URL, recording every delivery as an arq job in a
  redis-server of its own (no worker runs: the jobs stay queued and are counted).

After each thoth-bot run the bench counts the jobs recorded: every 202 must be one (0 lost).
Goal (issue #5): thoth-bot at least as fast as Probot, p99 under 20 ms.

`--hostile` (embedded and redis targets): while the deliveries are measured, a hostile
repository is pushed to every 100 ms, each push a new `.thoth.yaml` at the size limit, built to
cost the most to parse; in the embedded mode those jobs run in the job process `serve` starts
(every measured delivery is a job there too: it fails at once). The SPEC bounds the p99 with
it at 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import payloads
from fakes.github import FakeGitHub
from harness import (
    SECRET,
    RedisServer,
    ServeProcess,
    app_keys,
    bot_env,
    free_port,
    new_repo_name,
    start_fakes,
    wait_until_ready,
)
from test_push import push_payload

ROOT = Path(__file__).resolve().parent.parent
PROBOT_DIR = ROOT / ".cache" / "bench-probot"


@dataclass
class Result:
    name: str
    rate: float
    p50: float
    p99: float
    statuses: dict[int, int]
    lost: int | None = None


def body(number: int, repos: int) -> bytes:
    """A Pipfile push to one of `repos` repositories (of an installation the fake GitHub does
    not know: the jobs fail at once, the measure is the ingest), its commit its own."""
    after = secrets.token_hex(20)
    return json.dumps(
        payloads.push(
            f"octo-org/app-{number % repos}",
            before="1" * 40,
            after=after,
            commits=[payloads.commit_entry(after, modified=["Pipfile"])],
            installation_id=1,
        )
    ).encode()


async def load(url: str, count: int, concurrency: int, repos: int) -> Result:
    requests = [
        (sent, payloads.headers("push", sent, SECRET, str(uuid.uuid4())))
        for number in range(count)
        for sent in [body(number, repos)]
    ]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while requests:
                body, headers = requests.pop()
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                latencies.append((time.perf_counter() - start) * 1000)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        "",
        count / elapsed,
        statistics.median(latencies),
        latencies[max(0, int(len(latencies) * 0.99) - 1)],
        statuses,
    )


async def measure(
    name: str,
    url: str,
    args: argparse.Namespace,
    count_jobs: Callable[[], Awaitable[int]] | None,
    during: Callable[[], Awaitable[None]] | None = None,
) -> Result:
    meanwhile = asyncio.create_task(during()) if during else None
    try:
        await load(url, args.warmup, args.concurrency, args.repos)  # warm up, not counted
        before = await count_jobs() if count_jobs else 0
        result = await load(url, args.deliveries, args.concurrency, args.repos)
    finally:
        if meanwhile is not None:
            meanwhile.cancel()
    result.name = name
    if count_jobs is not None:
        recorded = await count_jobs() - before
        result.lost = result.statuses.get(202, 0) - recorded
    return result


async def bare(args: argparse.Namespace) -> Result:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port)
    )
    try:
        await wait_until_ready(f"http://127.0.0.1:{port}", "the bare server")
        return await measure(
            "bare aiohttp 202", f"http://127.0.0.1:{port}/webhooks/github", args, None
        )
    finally:
        process.terminate()
        await process.wait()


def install_probot() -> None:
    PROBOT_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "server.mjs"):
        (PROBOT_DIR / name).write_text((ROOT / "bench" / "probot" / name).read_text())
    if not (PROBOT_DIR / "node_modules" / "probot").exists():
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=PROBOT_DIR, check=True
        )


async def probot(args: argparse.Namespace, tmp: Path) -> Result:
    install_probot()
    key = tmp / "probot-key.pem"
    key.write_text(app_keys()[0])
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        "node",
        str(PROBOT_DIR / "server.mjs"),
        str(port),
        SECRET,
        str(key),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROBOT_DIR,
    )
    try:
        assert process.stdout is not None
        await process.stdout.readline()  # "ready"
        version = json.loads((PROBOT_DIR / "node_modules/probot/package.json").read_text())
        url = f"http://127.0.0.1:{port}/webhooks/github"
        return await measure(f"Probot {version['version']}", url, args, None)
    finally:
        process.terminate()
        await process.wait()


async def thoth_bot(args: argparse.Namespace, tmp: Path, *, redis: bool) -> Result:
    github, thoth = start_fakes()
    redis_server = await RedisServer(tmp / "redis").start() if redis else None
    state = tmp / ("state-redis" if redis else "state")
    env = {**bot_env(github, thoth, state), "THOTH_BOT_LOG_LEVEL": "CRITICAL"}
    for tuned_for_tests in ("THOTH_BOT_COALESCE_WINDOW", "THOTH_BOT_RETRY_BASE"):
        del env[tuned_for_tests]  # the production defaults
    if redis_server is not None:
        env["REDIS_URL"] = redis_server.url
    server = await ServeProcess(env).start()

    async def count_jobs() -> int:
        if redis_server is not None:
            async with Redis.from_url(redis_server.url) as client:
                return int(await client.zcard("arq:queue"))
        with sqlite3.connect(state / "jobs.sqlite3") as db:
            return sum(
                int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("jobs", "arrivals")  # arrivals: recorded, not yet moved
            )

    try:
        name = "thoth-bot, Redis (arq)" if redis else "thoth-bot, embedded (SQLite)"
        url = server.url + "/webhooks/github"
        if not args.hostile:
            return await measure(name, url, args, count_jobs)
        pushed: list[str] = []
        result = await measure(
            name + ", hostile jobs", url, args, count_jobs, lambda: hostile(github, url, pushed)
        )
        result.lost = None  # the hostile pushes are jobs too
        writes = sum(
            1
            for call in github.calls
            if call.method != "GET" and any(repo in call.path for repo in set(pushed))
        )
        print(
            f"  hostile: {len(pushed)} pushes to {len(set(pushed))} repositories, "
            f"{writes} REST writes of their jobs (statuses, commits, pull requests)"
        )
        return result
    finally:
        await server.stop()
        if redis_server is not None:
            await redis_server.stop()
        github.stop()
        thoth.stop()


def costly_config(limit: int) -> str:
    """A `.thoth.yaml` just under the size cap that costs the most to parse: small mappings
    by the hundreds, under a key thamos does not know (refused after it is parsed)."""
    lines = ["host: thoth.example.com", "runtime_environments:", "  - name: cpu-x86-64-v3"]
    lines.append("padding:")
    number = 0
    while sum(len(line) + 1 for line in lines) < limit - 64:
        lines.append(f"  - {{k{number}: v, l{number}: [1, 2]}}")
        number += 1
    return "\n".join(lines) + "\n"


async def hostile(github: FakeGitHub, url: str, pushed: list[str]) -> None:
    """Push a new costly `.thoth.yaml` every 100 ms, to each of 25 repositories in turn (one
    push per repository every 2.5 s: longer than the coalescing window, so each is a job of
    its own), until cancelled."""
    from handlers import limits

    repos = [new_repo_name("hostile") for _ in range(25)]
    for repo, installation in repos:
        github.create_repo(repo, {"Pipfile": "[packages]\nsix = '*'\n"}, installation=installation)
    config = costly_config(limits.CONFIG_BYTES)
    async with aiohttp.ClientSession() as session:
        for number in itertools.count():
            repo, installation = repos[number % len(repos)]
            push = github.push(repo, {".thoth.yaml": config + f"# {number}\n"})
            sent = payloads.push_body(push_payload(push, installation))
            headers = payloads.headers("push", sent, SECRET, str(uuid.uuid4()))
            async with session.post(url, data=sent, headers=headers) as response:
                await response.read()
            pushed.append(repo)
            await asyncio.sleep(0.1)


def median_result(runs: list[Result]) -> Result:
    """The round with the median throughput (its own latencies), lost deliveries summed."""
    middle = sorted(runs, key=lambda result: result.rate)[len(runs) // 2]
    lost = [run.lost for run in runs if run.lost is not None]
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return Result(
        middle.name, middle.rate, middle.p50, middle.p99, statuses, sum(lost) if lost else None
    )


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repos", type=int, default=64, help="deliveries go round-robin to")
    parser.add_argument("--rounds", type=int, default=3, help="targets take turns; medians")
    parser.add_argument("--only", nargs="*", default=["bare", "probot", "embedded", "redis"])
    parser.add_argument("--hostile", action="store_true", help="hostile jobs run meanwhile")
    args = parser.parse_args()
    runs: dict[str, list[Result]] = {name: [] for name in args.only}
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for round_number in range(args.rounds):  # in turns: a noisy minute hits every target
            for name in args.only:
                if name == "bare":
                    result = await bare(args)
                elif name == "probot":
                    result = await probot(args, tmp)
                else:
                    result = await thoth_bot(args, tmp / str(round_number), redis=name == "redis")
                runs[name].append(result)
    results = {name: median_result(found) for name, found in runs.items()}
    print(
        f"{args.deliveries} deliveries per target and round ({args.repos} repositories), "
        f"{args.concurrency} at a time, median of {args.rounds} rounds, {os.cpu_count()} cores"
    )
    print(
        f"{'target':32} {'deliveries/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} "
        f"{'lost':>5}  answers"
    )
    ceiling = results.get("bare")
    failed = False
    for result in results.values():
        ratio = f"{result.rate / ceiling.rate:.2f}" if ceiling else "-"
        lost = "-" if result.lost is None else str(result.lost)
        print(
            f"{result.name:32} {result.rate:12.0f} {result.p50:8.1f} {result.p99:8.1f} "
            f"{ratio:>8} {lost:>5}  {result.statuses}"
        )
        failed |= bool(result.lost)
    if "probot" in results:
        for key in ("embedded", "redis"):
            if key in results:
                # Each round's own ratio (the targets ran minutes apart at most), then the median:
                # the machine's speed drifts more between rounds than within one.
                ratios = sorted(
                    ours.rate / theirs.rate
                    for ours, theirs in zip(runs[key], runs["probot"], strict=True)
                )
                ratio = statistics.median(ratios)
                ours = results[key]
                verdict = "ok" if ratio >= 1 and ours.p99 < 20 else "BELOW GOAL"
                print(
                    f"{ours.name} / Probot: {ratio:.2f}x throughput (rounds: "
                    f"{', '.join(f'{r:.2f}' for r in ratios)}), p99 {ours.p99:.1f} ms "
                    f"(goal: >= 1x, p99 < 20 ms): {verdict}"
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
