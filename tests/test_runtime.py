"""`open_bot` builds what a process's role needs and nothing more."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings
from bot.runtime import Role, open_bot


async def test_the_web_process_holds_no_forge_client_and_no_adviser(
    env: dict[str, str], tmp_path: Path
) -> None:
    web = await open_bot(load_settings(None, env), Role.WEB)
    try:
        assert web.executor is None and web.runner is None
        assert web.job_process is not None  # its jobs run there
    finally:
        await web.stop()


async def test_all_in_one_runs_jobs_itself(env: dict[str, str]) -> None:
    bot = await open_bot(load_settings(None, env), Role.ALL_IN_ONE)
    try:
        assert bot.executor is not None and bot.runner is not None
        assert bot.job_process is None
        assert bot.executor.github is not None and bot.executor.gitlab is not None
    finally:
        await bot.stop()
