"""Real public Pipfiles, locked by the embedded adviser against the real package index.

    .venv/bin/python bench/realworld.py [--node-class cpu-x86-64-v3] [--allow ADDRESS ...]

`bench/corpus/pipfiles.json` holds the Pipfiles, each with its repository, path and commit.
Each is advised as the bot would (wheels only: thoth-bot never runs a package's build code)
for the node class's Python, and the table says whether it locked and, if not, why. It needs
the network (the package index), so it is not part of the test suite.

The egress proxy refuses non-public addresses. Where this machine reaches the index through
one (a mirror, a sandbox's gateway), the bench says so and lists the address the index's host
names resolve to, as an operator would in `adviser.indexes`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.advisers.local import LocalAdviser  # noqa: E402
from bot.advisers.local.egress import DEFAULT_INDEXES  # noqa: E402
from bot.advisers.local.indexes import IndexPolicy  # noqa: E402
from bot.config import load_settings  # noqa: E402
from handlers.adviser import AdviseError, AdviseRequest  # noqa: E402

CORPUS = ROOT / "bench" / "corpus" / "pipfiles.json"


def non_public_addresses(hosts: list[str]) -> list[str]:
    found = set()
    for host in hosts:
        for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM):
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global:
                found.add(str(address))
    return sorted(found)


def why(error: AdviseError) -> str:
    text = str(error)
    oldest = ""
    if error.fix and error.fix.startswith("Require ") and ">=" in error.fix:
        oldest = " (" + error.fix.split(" (", 1)[0].removeprefix("Require ") + ")"
    if "no wheel" in text:
        return "needs a build: " + text.split(" ha", 1)[0] + oldest
    if "no build for" in text:
        return "no build for this Python: " + text.split(" ha", 1)[0] + oldest
    if "cannot be resolved" in text:
        return "no solution for Python and platform"
    return text[:80]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-class", default=None)
    parser.add_argument("--allow", nargs="*", default=None, help="addresses to allow")
    args = parser.parse_args()
    settings = load_settings(None, {})
    node_class = settings.node_classes[args.node_class or settings.default_node_class]
    hosts = ["pypi.org", "files.pythonhosted.org"]
    allow = args.allow if args.allow is not None else non_public_addresses(hosts)
    if allow:
        print(f"note: the index's hosts resolve to non-public addresses here; allowed: {allow}")
    adviser = LocalAdviser(
        rules=settings.hardware_rules,
        indexes=IndexPolicy(allowed=(*DEFAULT_INDEXES, *allow)),
        cache_dir=ROOT / ".cache" / "bench-realworld-uv",
    )
    corpus = json.loads(CORPUS.read_text())
    outcomes: Counter[str] = Counter()
    print(f"{'repository':45} {'kind':12} {'seconds':>7}  result")
    for entry in corpus:
        request = AdviseRequest(
            pipfile=entry["pipfile"],
            pipfile_lock="",
            environment="app",
            node_class=node_class,
            python_version=node_class.python_version,
        )
        start = time.monotonic()
        try:
            try:
                result = await adviser.advise(request)
            except AdviseError as error:  # the bot's job would come back once more
                if not error.retryable:
                    raise
                result = await adviser.advise(request)
            outcome = f"locked ({sum(len(s) for k, s in result.lock.items() if k != '_meta')} pins)"
            outcomes["locked"] += 1
        except AdviseError as error:
            outcome = why(error)
            kind = outcome.split(":", 1)[0]
            known = kind in ("needs a build", "no build for this Python")
            outcomes[kind if known else "other"] += 1
        seconds = time.monotonic() - start
        print(f"{entry['repo']:45} {entry['kind']:12} {seconds:7.1f}  {outcome}")
    await adviser.close()
    total = len(corpus)
    print(
        f"\n{outcomes['locked']} of {total} lock with builds off "
        f"({100 * outcomes['locked'] / total:.0f}%) for {node_class.name} "
        f"(Python {node_class.python_version}); {outcomes['needs a build']} need a build, "
        f"{outcomes['no build for this Python']} pin a release with no build for this Python, "
        f"{outcomes['other']} fail otherwise."
    )


if __name__ == "__main__":
    asyncio.run(main())
