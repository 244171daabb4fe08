"""Which PyTorch CUDA builds an NVIDIA driver runs, as uv's `--torch-backend` decides it.

uv keeps NVIDIA's table of CUDA releases and the drivers they need (minor version
compatibility included), and its `--torch-backend auto` picks PyTorch's indexes for the driver
of the machine it runs on. Here uv is asked for another machine's driver
(`UV_CUDA_DRIVER_VERSION`), offline, and the PyTorch indexes it would try are read off its
debug log: the backends (`cu118`...) that driver runs. The bot's own rules then pick the index
(operators point those at mirrors; uv's flag reaches only PyTorch's).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
from pathlib import Path

from bot.advisers.local.uv_process import uv_binary

log = logging.getLogger(__name__)
_INDEX = re.compile(r"download\.pytorch\.org/whl/(cu\d+)/")
_known: dict[str, frozenset[str] | None] = {}


async def driver_backends(driver: str) -> frozenset[str] | None:
    """The CUDA backends ("cu128", ...) `driver` runs, by uv's table; None if uv cannot say."""
    if driver in _known:
        return _known[driver]
    with tempfile.TemporaryDirectory(prefix="thoth-bot-cuda-") as directory:
        work = Path(directory)
        (work / "requirements.in").write_text("torch\n")
        process = await asyncio.create_subprocess_exec(
            uv_binary(),
            "pip",
            "compile",
            "requirements.in",
            "--torch-backend",
            "auto",
            "--offline",
            "--no-config",
            "--python",
            sys.executable,
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "-v",
            cwd=work,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(work),
                "UV_CACHE_DIR": str(work / "cache"),
                "UV_CUDA_DRIVER_VERSION": driver,
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            stderr = b""
    found = frozenset(_INDEX.findall(stderr.decode(errors="replace")))
    if not found:
        log.warning("uv named no PyTorch CUDA build for NVIDIA driver %s", driver)
    _known[driver] = found or None
    return _known[driver]


def cuda_of(backend: str) -> str:
    """'cu128' -> '12.8'."""
    digits = backend.removeprefix("cu")
    return f"{digits[:-1]}.{digits[-1]}"


def backend_of(cuda_version: str) -> str:
    """'12.8' (or '12.8.1') -> 'cu128'."""
    major, _, rest = cuda_version.partition(".")
    return f"cu{major}{(rest or '0').split('.')[0]}"
