"""uv resolves requirements for a target Python and platform (`uv pip compile`, PEP 751 output).

The requirements go to uv as a stand-in project's pyproject.toml: that is how uv ties a package
to one index (`[tool.uv.sources]`, explicit indexes), as pipenv's `index = "..."` does. The
indexes get names of the bot's own (`i0` the default, then `i1`...), never a repository's, so
that the credentials the operator gives an index (`UV_INDEX_I1_PASSWORD`) reach only it.

uv runs through `UvRunner` (`uv_process.py`): wheels only, an allow-listed environment, the
egress proxy as its only way out. Its cache makes repeated resolutions cheap.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from packaging.utils import canonicalize_name

from bot.advisers.local.egress import Allowlist
from bot.advisers.local.listing import (
    Listings,
    every_hash,
    oldest_with_wheel,
    releases,
    uploads,
)
from bot.advisers.local.sdists import compiled
from bot.advisers.local.uv_process import Index, Outcome, UvRunner
from handlers.adviser import AdviseError

# Failures that another try may not meet (an index unreachable, a timeout).
_TRANSIENT = re.compile(
    r"(Failed to fetch|Could not connect|connection (refused|reset)|timed out|"
    r"error sending request|dns error|50[234] )",
    re.IGNORECASE,
)
# "Because slowpkg==1.0 has no usable wheels", "all versions of x have no usable wheels"
_NO_WHEEL = re.compile(
    r"(?:Because |and |, )(?:all versions of )?([A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(==\S+|[<>=!~]\S*)? (?:has|have) no usable wheels"
)
# "Because tensorflow==2.1.0 has no wheels with a matching Python ABI tag (e.g., `cp311`)"
_NO_TAG = re.compile(
    r"(?:Because |and |, )(?:all versions of )?([A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(==\S+|[<>=!~]\S*)? (?:has|have) no wheels with a matching "
    r"(Python ABI|Python implementation|Python version|platform) tag"
)
# uv draws a tree before its messages (a multiplication sign, box-drawing corners, an arrow).
_DECORATION = re.compile("^[\\s\u00d7\u2570\u2500\u25b6\u2502]+")
EXCERPT = 1500  # characters of uv's own words quoted to people
# Seconds the pages of a resolution run online are fresh for the same resolution where the
# index says nothing (as listing.DEFAULT_AGE; PyPI's max-age is 600).
FRESH = 60.0
Read = TypeVar("Read")


@dataclass(frozen=True)
class Target:
    """What one resolution is for: where it runs and where its packages come from."""

    python_version: str
    python_platform: str | None  # None: universal (every platform's files are listed)
    indexes: tuple[Index, ...]  # the first is the default one
    allowlist: Allowlist
    pinned: Mapping[str, int]  # canonical package -> the position of the only index it uses
    limit: float = 600.0
    prereleases: bool = False  # the Pipfile's `[pipenv] allow_prereleases`
    reuse: bool = True  # False (`--force`): nothing from a run moments ago, every page asked


class Resolver(Protocol):
    """Where resolutions run: here (`LocalResolver`) or on a `thoth-bot resolver` (`remote`)."""

    async def __call__(
        self, requirements: Sequence[str], target: Target, constraints: Sequence[str] = ()
    ) -> dict[str, Pin]: ...

    async def hashes(
        self, wanted: Mapping[str, tuple[str, str, int]], target: Target
    ) -> dict[str, tuple[str, ...]]:
        """Every artifact's sha256 of {key: (name, version, index position)}."""
        ...

    async def releases(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, tuple[str, ...]]:
        """The releases the target can install, oldest first, of {key: (name, index position)}."""
        ...

    async def uploads(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, dict[str, str]]:
        """{key: {release: its upload time, "" where unknown}} of {key: (name, index position)}
        over the releases the target can install."""
        ...

    async def compiled(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, bool]:
        """Whether each sdist of {key: (URL, index position)} holds code to compile."""
        ...

    async def close(self) -> None: ...


class LocalResolver:
    """Resolutions in this process's uv (`UvRunner`)."""

    def __init__(self, runner: UvRunner) -> None:
        self.runner = runner
        self.listings = Listings()  # the index pages read, while they may be reused
        self._online: dict[str, float] = {}  # a resolution's digest -> when it ran online

    async def __call__(
        self, requirements: Sequence[str], target: Target, constraints: Sequence[str] = ()
    ) -> dict[str, Pin]:
        """uv's resolution. The same resolution again within FRESH seconds reads the pages its
        online run just fetched from uv's cache, not from the index (uv revalidates every page
        an index sends without cache headers, as many mirrors do); anything missing there, and
        it runs online."""
        key = _digest(requirements, target, constraints)
        now = time.monotonic()
        if target.reuse and now - self._online.get(key, -FRESH) < FRESH:
            try:
                return await resolve(
                    self.runner, requirements, target, constraints=constraints, offline=True
                )
            except AdviseError:
                pass
        try:
            pins = await resolve(self.runner, requirements, target, constraints=constraints)
        except AdviseError as error:
            if not error.packages:
                raise
            raise await self._with_oldest(error, target) from None
        if len(self._online) >= 4096:
            self._online.clear()
        self._online[key] = now
        return pins

    async def _with_oldest(self, error: AdviseError, target: Target) -> AdviseError:
        """`error`, its fix naming the oldest release of each package that has a wheel for
        the target (read from the index listings), where there is one."""
        proxy = await self.runner.proxy.start()
        found = []
        with proxy.session(target.allowlist) as session:
            for name in error.packages:
                index = target.indexes[target.pinned.get(canonicalize_name(name), 0)]
                try:
                    oldest = await oldest_with_wheel(
                        name,
                        index,
                        proxy=proxy.url(session),
                        listings=self.listings,
                        python_version=target.python_version,
                        python_platform=target.python_platform,
                    )
                except AdviseError:
                    oldest = None
                if oldest is not None:
                    found.append(f"{name}>={oldest}")
        if not found:
            return error
        where = _where(target)
        return AdviseError(
            str(error),
            fix=f"Require {', '.join(found)} (the oldest release with a wheel for {where}), or "
            "another version built for it.",
            detail=error.detail,
            packages=error.packages,
        )

    async def hashes(
        self, wanted: Mapping[str, tuple[str, str, int]], target: Target
    ) -> dict[str, tuple[str, ...]]:
        """From the indexes' listings, through the egress proxy (`listing.py`)."""
        return await self._listings(
            lambda proxy: every_hash(
                {
                    key: (name, version, target.indexes[position])
                    for key, (name, version, position) in wanted.items()
                },
                proxy=proxy,
                listings=self.listings,
                python_version=target.python_version,
                python_platform=target.python_platform,
            ),
            target,
        )

    async def releases(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, tuple[str, ...]]:
        """From the indexes' listings, through the egress proxy (`listing.py`)."""
        return await self._per_release(releases, wanted, target)

    async def uploads(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, dict[str, str]]:
        """From the indexes' listings, through the egress proxy (`listing.py`)."""
        return await self._per_release(uploads, wanted, target)

    async def _per_release(
        self,
        read: Callable[..., Awaitable[Read]],
        wanted: Mapping[str, tuple[str, int]],
        target: Target,
    ) -> Read:
        """`read` (`releases`, `uploads`) over the releases the target can install."""
        return await self._listings(
            lambda proxy: read(
                {key: (name, target.indexes[position]) for key, (name, position) in wanted.items()},
                proxy=proxy,
                listings=self.listings,
                python_version=target.python_version,
                python_platform=target.python_platform,
                sdists=self.runner.may_build,
            ),
            target,
        )

    async def compiled(
        self, wanted: Mapping[str, tuple[str, int]], target: Target
    ) -> dict[str, bool]:
        """From the names of the files in each sdist (`sdists.py`), through the egress proxy."""
        return await self._listings(
            lambda proxy: compiled(
                {key: (url, target.indexes[position]) for key, (url, position) in wanted.items()},
                proxy=proxy,
            ),
            target,
        )

    async def _listings(self, read: Callable[[str], Awaitable[Read]], target: Target) -> Read:
        """`read(proxy URL)` in a session of the egress proxy that allows the target's indexes;
        a refused connection is said as a resolution's is."""
        proxy = await self.runner.proxy.start()
        with proxy.session(target.allowlist) as session:
            try:
                return await read(proxy.url(session))
            except AdviseError:
                if session.refused:
                    raise _failure(Outcome(1, "", tuple(session.refused)), target) from None
                raise

    async def close(self) -> None:
        await self.runner.close()


@dataclass(frozen=True)
class Pin:
    """A resolved package: its version and what the target platform can install."""

    name: str
    version: str
    hashes: tuple[str, ...]  # "sha256:..." of every artifact the target can use
    wheels: tuple[str, ...]  # file names of its wheels for the target
    sdist: bool
    urls: tuple[str, ...]  # where its files are (which index it came from)


async def resolve(
    runner: UvRunner,
    requirements: Sequence[str],
    target: Target,
    *,
    constraints: Sequence[str] = (),
    offline: bool = False,
) -> dict[str, Pin]:
    """Pins by canonical name; `AdviseError` saying why when there is none.

    Every package comes from the first index but those `pinned` to another, which come from
    that one only: pipenv's `index = "..."`, uv's explicit index. `offline`: from uv's cache
    only (no build then: anything missing is an `AdviseError`).
    """
    with tempfile.TemporaryDirectory(prefix="thoth-bot-uv-") as directory:
        work = Path(directory)
        (work / "pyproject.toml").write_text(_project(requirements, target))
        arguments = [
            "pip",
            "compile",
            "pyproject.toml",
            "--format",
            "pylock.toml",
            "--output-file",
            "pylock.toml",
            "--python-version",
            target.python_version,
            *(
                ("--python-platform", target.python_platform)
                if target.python_platform
                else ("--universal",)
            ),
            "--no-config",
            # The bot's own interpreter, named: uv skips looking for one (half of a warm run).
            # The target stays `--python-version`.
            "--python",
            sys.executable,
            "--color",
            "never",
            "--quiet",
            "--prerelease",
            "allow" if target.prereleases else "if-necessary-or-explicit",
            "--default-index",
            f"i0={target.indexes[0].url}",  # named: its credentials are UV_INDEX_I0_*
            *(("--offline",) if offline else ()),
        ]
        if constraints:
            (work / "constraints.txt").write_text("\n".join(constraints) + "\n")
            arguments += ["--constraint", "constraints.txt"]
        credentials = {
            f"i{position}": index.credentials
            for position, index in enumerate(target.indexes)
            if index.credentials is not None
        }
        run = functools.partial(
            runner.run,
            arguments,
            cwd=work,
            allowlist=target.allowlist,
            credentials=credentials,
            limit=target.limit,
        )
        outcome = await run()
        built = (
            outcome.returncode != 0 and runner.may_build and not offline and _needs_build(outcome)
        )
        if built:
            outcome = await run(build=True)  # in the sandbox: the operator allows it
        if outcome.returncode != 0:
            raise _failure(outcome, target, built=built)
        data = tomllib.loads((work / "pylock.toml").read_text())
    return {canonicalize_name(entry["name"]): _pin(entry) for entry in data.get("packages", [])}


PROJECT = "thoth-bot-lock-target"  # the stand-in project whose dependencies are resolved


def _project(requirements: Sequence[str], target: Target) -> str:
    """A pyproject.toml: the requirements as dependencies, pinned ones tied to their index."""
    text = (
        f'[project]\nname = {_string(PROJECT)}\nversion = "0"\n'
        f"requires-python = {_string(f'=={target.python_version}.*')}\n"
        f"dependencies = [{', '.join(_string(line) for line in requirements)}]\n"
    )
    if target.pinned:
        text += "\n[tool.uv.sources]\n" + "".join(
            f"{_string(name)} = {{ index = {_string(f'i{position}')} }}\n"
            for name, position in target.pinned.items()
        )
    for position, index in enumerate(target.indexes):
        kind = "default = true" if position == 0 else "explicit = true"
        text += (
            f"\n[[tool.uv.index]]\nname = {_string(f'i{position}')}\n"
            f"url = {_string(index.url)}\n{kind}\n"
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


def _failure(outcome: Outcome, target: Target, *, built: bool = False) -> AdviseError:
    """Why uv found no lock, in a sentence, with one fix and at most an excerpt of uv's words."""
    if outcome.refused:
        refused = "; ".join(sorted({str(refusal) for refusal in outcome.refused}))
        return AdviseError(
            f"thoth-bot refused the resolver's connection to {refused}: it reaches only the "
            "package indexes its operator allows",
            fix="Use a package index the bot allows, or ask the bot's operator to list this "
            "one (its host, and its address where that is not public) in `adviser.indexes`.",
        )
    if outcome.timed_out:  # another try would take as long: a Problem, not a retry
        return AdviseError(
            f"uv did not resolve the Pipfile within {target.limit:.0f} s",
            fix="Narrow the Pipfile's version ranges so that fewer combinations are tried, or "
            "ask the bot's operator for a longer `adviser.timeout`.",
        )
    message = outcome.stderr.strip()
    text = _plain(message)
    if built and ("Failed to build" in text or "build backend" in text):
        return AdviseError(
            "a package has no wheel for this Python and platform, and building it from source "
            "failed (in thoth-bot's build sandbox)",
            fix="Require a version that publishes a wheel for this Python and platform, or one "
            "whose build works (uv's words below say which package and why).",
            detail=excerpt(text),
        )
    unbuildable = sorted(
        {found[1] + (found[2] or "").replace("==", " ", 1) for found in _NO_WHEEL.finditer(text)}
    )
    if unbuildable and "building from source is disabled" in text.replace("\n", " "):
        where = _where(target)
        return AdviseError(
            f"{', '.join(unbuildable)} {'has' if len(unbuildable) == 1 else 'have'} no wheel "
            f"for {where}, and thoth-bot never runs a package's build code (building it from "
            "source would run code the package chose)",
            fix="Require a version that publishes a wheel for this Python and platform, or ask "
            "the bot's operator to allow builds in its sandbox (`adviser.builds: isolated`).",
            detail=excerpt(text),
            packages=tuple(found[1] for found in _NO_WHEEL.finditer(text)),
        )
    mismatched = sorted(
        {found[1] + (found[2] or "").replace("==", " ", 1) for found in _NO_TAG.finditer(text)}
    )
    if mismatched:
        where = _where(target)
        return AdviseError(
            f"{', '.join(mismatched)} {'has' if len(mismatched) == 1 else 'have'} no build for "
            f"{where}: {'its' if len(mismatched) == 1 else 'their'} wheels are for other "
            "Pythons or platforms",
            fix="Require a version built for this Python and platform.",
            detail=excerpt(text),
            packages=tuple(found[1] for found in _NO_TAG.finditer(text)),
        )
    if _TRANSIENT.search(message):
        return AdviseError(
            "a package index could not be read", retryable=True, detail=excerpt(text)
        )
    return AdviseError(
        "the Pipfile's packages cannot be resolved together",
        fix="Relax the version constraints uv names below, or remove one of the packages in "
        "conflict.",
        detail=excerpt(text),
    )


def _digest(requirements: Sequence[str], target: Target, constraints: Sequence[str]) -> str:
    """What makes two resolutions the same one (the credentials aside: they follow the URL)."""
    described = repr(
        (
            list(requirements),
            list(constraints),
            target.python_version,
            target.python_platform,
            [index.url for index in target.indexes],
            sorted(target.pinned.items()),
            target.prereleases,
        )
    )
    return hashlib.sha256(described.encode()).hexdigest()


def _where(target: Target) -> str:
    """'Python 3.11 on x86_64-manylinux_2_34': what a resolution is for, to people."""
    where = f"Python {target.python_version}"
    if target.python_platform:
        where += f" on {target.python_platform}"
    return where


def _needs_build(outcome: Outcome) -> bool:
    text = _plain(outcome.stderr).replace("\n", " ")
    return bool(_NO_WHEEL.search(text)) and "building from source is disabled" in text


def _plain(message: str) -> str:
    """uv's own words, without its decorations, the stand-in project called what it is."""
    lines = [_DECORATION.sub("", line).rstrip() for line in message.splitlines()]
    text = "\n".join(line for line in lines if line)
    return re.sub(rf"\b{re.escape(PROJECT)}(==0)?\b", "the Pipfile", text)


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of a tool's output, saying where it was cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit("\n", 1)[0] + "\n[…]"
