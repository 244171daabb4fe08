"""Lock maintenance of one installation's 2,000 repositories within GitHub's secondary limits
(issue #16), the scenario of `tests/test_maintenance_pace.py` at full size.

    .venv/bin/python bench/maintenance.py [COUNT]

Runs the real bot (embedded engine, in this process) against the fake GitHub, which enforces
GitHub's documented limits on content-creating requests (80 a minute, 500 an hour) on a clock
the bot's pacer and schedule share with it, and the fake Thoth. Prints how many repositories
were maintained, over how many hours of that clock, the writes, the secondary-limit errors
(the target: none) and the wall time.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import start_fakes
from test_maintenance_pace import maintain_all


async def main(count: int) -> None:
    github, thoth = start_fakes()
    logging.basicConfig(level=logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as state:
            started = time.perf_counter()
            figures = await maintain_all(github, thoth, Path(state), count)
            wall = time.perf_counter() - started
    finally:
        github.stop()
        thoth.stop()
    print(
        f"{figures['repositories']:.0f} repositories maintained over {figures['hours']:.1f} h "
        f"of the clock: {figures['writes']:.0f} writes "
        f"({figures['writes'] / figures['hours']:.0f} an hour), "
        f"{figures['secondary_limit_errors']:.0f} secondary-limit errors; {wall:.0f} s of wall time"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
