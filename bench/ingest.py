"""Webhook ingest latency: how long `POST /webhooks/github` takes to verify, record durably and
answer 202 (SPEC §4: p99 under 50 ms on loopback).

    .venv/bin/python bench/ingest.py [--deliveries 2000] [--concurrency 16]

Starts `thoth-bot serve` as its own process (SQLite queue under a temporary state directory,
fsync'd before every answer) and sends signed push deliveries from this process. The jobs they
queue name an installation the fake GitHub does not know, so workers fail them at once and the
measure is the ingest path, not the jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import payloads
from harness import SECRET, ServeProcess, bot_env, start_fakes


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    github, thoth = start_fakes()
    try:
        with tempfile.TemporaryDirectory() as state:
            env = {**bot_env(github, thoth, Path(state)), "THOTH_BOT_LOG_LEVEL": "CRITICAL"}
            server = await ServeProcess(env).start()
            try:
                return await measure(server.url, args.deliveries, args.concurrency)
            finally:
                await server.stop()
    finally:
        github.stop()
        thoth.stop()


async def measure(url: str, count: int, concurrency: int) -> int:
    payload = payloads.push(
        "octo-org/unknown",
        before="1" * 40,
        after="2" * 40,
        commits=[payloads.commit_entry("2" * 40, modified=["Pipfile"])],
        installation_id=1,
    )
    body = json.dumps(payload).encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as session:
        queue = list(range(count))

        async def client() -> None:
            while queue:
                queue.pop()
                headers = payloads.headers("push", body, SECRET, str(uuid.uuid4()))
                start = time.perf_counter()
                async with session.post(url + "/webhooks/github", data=body, headers=headers) as r:
                    await r.read()
                latencies.append((time.perf_counter() - start) * 1000)
                statuses[r.status] = statuses.get(r.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"{count} deliveries, {concurrency} at a time, {count / elapsed:.0f}/s; "
        f"answers {statuses}\n"
        f"latency ms: p50 {statistics.median(latencies):.1f}  p90 "
        f"{latencies[int(len(latencies) * 0.9) - 1]:.1f}  p99 {p99:.1f}  max {latencies[-1]:.1f}"
        f"  (target p99 < 50: {'ok' if p99 < 50 else 'OVER'})"
    )
    return 0 if p99 < 50 and set(statuses) == {202} else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
