"""uv resolves requirements for a target Python and platform (`uv pip compile`, PEP 751 output).

The requirements go to uv as a stand-in project's pyproject.toml: that is how uv ties a package
to one index (`[tool.uv.sources]`, explicit indexes), as pipenv's `index = "..."` does.

uv runs as a subprocess per resolution, so any number of advises run at once without sharing
state; its cache (UV_CACHE_DIR, else uv's own) makes repeated resolutions cheap.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from handlers.adviser import AdviseError

# Failures that another try may not meet (an index unreachable, a timeout).
_TRANSIENT = re.compile(
    r"(Failed to fetch|Could not connect|connection (refused|reset)|timed out|"
    r"error sending request|dns error|50[234] )",
    re.IGNORECASE,
)


# uv draws a tree before its messages (a multiplication sign, box-drawing corners, an arrow).
_DECORATION = re.compile("^[\\s\u00d7\u2570\u2500\u25b6\u2502]+")


@dataclass(frozen=True)
class Pin:
    """A resolved package: its version and what the target platform can install."""

    name: str
    version: str
    hashes: tuple[str, ...]  # "sha256:..." of every artifact the target can use
    wheels: tuple[str, ...]  # file names of its wheels for the target
    sdist: bool
    urls: tuple[str, ...]  # where its files are (which index it came from)


def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


async def resolve(
    requirements: Sequence[str],
    *,
    python_version: str,
    python_platform: str | None,
    default_index: str,
    indexes: Mapping[str, str] | None = None,
    pinned: Mapping[str, str] | None = None,
    constraints: Sequence[str] = (),
    limit: float = 600.0,
) -> dict[str, Pin]:
    """Pins by canonical name; `AdviseError` naming the conflict when there is no solution.

    Every package comes from `default_index`, but those `pinned` to one of the other `indexes`
    (name: URL), which come from that one only: pipenv's `index = "..."`, uv's explicit index.
    Without a `python_platform` the resolution is universal: every platform's files are listed.
    """
    with tempfile.TemporaryDirectory(prefix="thoth-bot-uv-") as directory:
        work = Path(directory)
        project = _project(requirements, python_version, indexes or {}, pinned or {})
        (work / "pyproject.toml").write_text(project)
        command = [
            uv_binary(),
            "pip",
            "compile",
            "pyproject.toml",
            "--format",
            "pylock.toml",
            "--output-file",
            "pylock.toml",
            "--python-version",
            python_version,
            *(("--python-platform", python_platform) if python_platform else ("--universal",)),
            "--no-config",
            # The bot's own interpreter, named: uv skips looking for one (half of a warm run).
            # The target stays `--python-version`; this one would only build sdists' metadata.
            "--python",
            sys.executable,
            "--color",
            "never",
            "--quiet",
            "--default-index",
            default_index,
        ]
        if constraints:
            (work / "constraints.txt").write_text("\n".join(constraints) + "\n")
            command += ["--constraint", "constraints.txt"]
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=work,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "UV_NO_PROGRESS": "1", "NO_COLOR": "1"},
        )
        try:
            async with asyncio.timeout(limit):
                _, stderr = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AdviseError(f"uv did not resolve within {limit:.0f} s", retryable=True) from None
        if process.returncode != 0:
            message = stderr.decode(errors="replace").strip()
            raise AdviseError(_explain(message), retryable=bool(_TRANSIENT.search(message)))
        data = tomllib.loads((work / "pylock.toml").read_text())
    return {canonicalize_name(entry["name"]): _pin(entry) for entry in data.get("packages", [])}


PROJECT = "thoth-bot-lock-target"  # the stand-in project whose dependencies are resolved


def _project(
    requirements: Sequence[str],
    python_version: str,
    indexes: Mapping[str, str],
    pinned: Mapping[str, str],
) -> str:
    """A pyproject.toml: the requirements as dependencies, pinned ones tied to their index."""
    text = (
        f'[project]\nname = {_string(PROJECT)}\nversion = "0"\n'
        f"requires-python = {_string(f'=={python_version}.*')}\n"
        f"dependencies = [{', '.join(_string(line) for line in requirements)}]\n"
    )
    if pinned:
        text += "\n[tool.uv.sources]\n" + "".join(
            f"{_string(name)} = {{ index = {_string(index)} }}\n" for name, index in pinned.items()
        )
    for name, url in indexes.items():
        text += (
            f"\n[[tool.uv.index]]\nname = {_string(name)}\nurl = {_string(url)}\nexplicit = true\n"
        )
    return text


def _string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value)


def _pin(entry: dict) -> Pin:
    hashes = []
    wheels = []
    urls = []
    for wheel in entry.get("wheels", []):
        wheels.append(wheel.get("name") or wheel["url"].rsplit("/", 1)[-1])
        hashes += [f"{kind}:{value}" for kind, value in wheel.get("hashes", {}).items()]
        urls.append(wheel.get("url", ""))
    sdist = entry.get("sdist")
    if sdist:
        hashes += [f"{kind}:{value}" for kind, value in sdist.get("hashes", {}).items()]
        urls.append(sdist.get("url", ""))
    return Pin(
        name=entry["name"],
        version=entry["version"],
        hashes=tuple(sorted(set(hashes))),
        wheels=tuple(wheels),
        sdist=bool(sdist),
        urls=tuple(url for url in urls if url),
    )


def _explain(message: str) -> str:
    """uv's own words, which name the packages in conflict, without its decorations."""
    lines = [_DECORATION.sub("", line).rstrip() for line in message.splitlines()]
    text = " ".join(line for line in lines if line)
    return f"the Pipfile's packages cannot be resolved: {text}" if "No solution" in text else text
