"""Every artifact's hash of a locked version, from its index's own listing (as pipenv reads it).

pipenv's lock lists, for each package, the sha256 of every file of its version: the wheels of
every platform and the sdist, so that the same lock installs on a developer's laptop too. They
come from the index's project page, PEP 691 JSON where the index speaks it, else the PEP 503
HTML page, read through the egress proxy like every other request of a resolution (the
allow-list, after DNS, on redirects) with the index's own credentials. A listing that cannot
be read fails the advise (another try may do): never a lock with some of the hashes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import html.parser
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple
from urllib.parse import urldefrag

import aiohttp
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from bot.advisers.local.uv_process import Index
from handlers.adviser import AdviseError

ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


class File(NamedTuple):
    """One file of a project page."""

    filename: str
    sha256: str
    requires_python: str  # "" where the page says nothing
    yanked: bool = False
    upload_time: str = ""  # PEP 700's ISO 8601 time, where a JSON page gives it


LISTING_LIMIT = 32 * 1024 * 1024  # bytes of one project page (PyPI's largest are a few MB)
TIMEOUT = aiohttp.ClientTimeout(total=120, connect=30)


class UnsupportedPython(AdviseError):
    """Locked versions whose every file the node class could install says, in its
    `requires-python`, that it does not run on the node class's Python (uv reads only the
    lower bound of `requires-python`; pip, installing, reads all of it)."""

    def __init__(
        self,
        pins: Sequence[tuple[str, str, str]],
        python_version: str,
        excluded: Sequence[str] = (),
    ) -> None:
        said = "; ".join(f"{name} {version} requires Python {spec}" for name, version, spec in pins)
        super().__init__(
            f"{said}, not {python_version}",
            fix="Require releases that support this Python.",
            packages=tuple(name for name, _, _ in pins),
        )
        self.pins = tuple(pins)
        # Every release of those packages that refuses the Python ("pyside2!=5.15.2.1").
        self.excluded = tuple(excluded) or tuple(f"{n}!={v}" for n, v, _ in pins)


async def every_hash(
    wanted: Mapping[str, tuple[str, str, Index]],
    *,
    proxy: str,
    listings: Listings,
    python_version: str | None = None,
    python_platform: str | None = None,
) -> dict[str, tuple[str, ...]]:
    """{canonical name: ("sha256:...", ...)} for {canonical name: (name, version, index)},
    reusing the pages `listings` holds. Given the target's `python_version`, raises
    `UnsupportedPython` for the versions whose files say they do not run on it."""
    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
        found = await asyncio.gather(
            *(
                _version_files(session, proxy, listings, name, version, index)
                for name, version, index in wanted.values()
            )
        )
        if python_version is not None:
            supported = supported_tags(python_version, python_platform)
            refused = [
                (name, version, spec, index)
                for (name, version, index), files in zip(wanted.values(), found, strict=True)
                for spec in [_python_refused(files, python_version, supported)]
                if spec
            ]
            if refused:
                every: list[str] = []
                for name, _, _, index in refused:
                    page = await _page(session, proxy, listings, name, index)
                    every += [
                        f"{name}!={version}"
                        for version, files in sorted(page.by_version.items())
                        if _python_refused(files, python_version, supported)
                    ]
                raise UnsupportedPython(
                    [(name, version, spec) for name, version, spec, _ in refused],
                    python_version,
                    excluded=every,
                )
    return {
        key: tuple(sorted(f"sha256:{file.sha256}" for file in files))
        for key, files in zip(wanted, found, strict=True)
    }


def _python_refused(files: Sequence[File], python_version: str, supported: frozenset[Tag]) -> str:
    """The `requires-python` that refuses `python_version` in every file of a version the
    target installs (its wheels for the target, or its sdist), else ""."""
    usable = []
    for file in files:
        tags = _tags(file.filename)
        if tags is not None and not tags & supported:
            continue  # a wheel for another Python or platform
        usable.append(file.requires_python)
    python = Version(python_version)
    refusing = []
    for requires in usable:
        try:
            if not requires or SpecifierSet(requires).contains(python, prereleases=True):
                return ""
        except InvalidSpecifier:
            return ""
        refusing.append(requires)
    return refusing[0] if refusing else ""


class Listings:
    """Project pages already read, reused for as long as the index said they may be
    (`Cache-Control: max-age`, at most MAX_AGE), as uv reuses them: a warm advise reads none.
    Keyed by URL and by who asked (the credentials' user): at most `size` pages, and at most
    `files` files in all (a page of a package with thousands of wheels counts for them all);
    the oldest go first."""

    def __init__(self, size: int = 4096, files: int = 1_000_000) -> None:
        self.size = size
        self.files = files
        self._pages: dict[tuple[str, str], tuple[float, Page]] = {}
        self._held = 0  # files of the pages held
        self.reading = asyncio.Semaphore(READ_AT_ONCE)  # pages read at once, each in memory

    def get(self, key: tuple[str, str]) -> Page | None:
        found = self._pages.get(key)
        if found is None or found[0] < time.monotonic():
            self._drop(key)
            return None
        return found[1]

    def _drop(self, key: tuple[str, str]) -> None:
        gone = self._pages.pop(key, None)
        if gone is not None:
            self._held -= gone[1].count

    def put(self, key: tuple[str, str], page: Page, control: str) -> None:
        directives = {part.strip().split("=")[0].lower(): part for part in control.split(",")}
        if "no-store" in directives or "no-cache" in directives or "private" in directives:
            return
        age = DEFAULT_AGE
        if "max-age" in directives:
            with contextlib.suppress(ValueError):
                age = int(directives["max-age"].split("=", 1)[1])
        if age <= 0 or page.count > self.files:
            return
        self._drop(key)
        while self._pages and (
            len(self._pages) >= self.size or self._held + page.count > self.files
        ):
            self._drop(next(iter(self._pages)))
        self._pages[key] = (time.monotonic() + min(age, MAX_AGE), page)
        self._held += page.count


MAX_AGE = 600.0  # seconds a project page is reused at most (PyPI's own max-age)
READ_AT_ONCE = 16  # project pages read at once: at most 16 x LISTING_LIMIT bytes in memory
DEFAULT_AGE = 60.0  # where the index says nothing


class Page:
    """A project's index listing: the files of each of its releases."""

    def __init__(self, name: str, files: Iterable[File]) -> None:
        self.by_version: dict[Version, list[File]] = {}
        self.count = 0  # files kept
        project = canonicalize_name(name)
        for file in files:
            found = _name_and_version(file.filename)
            if found is not None and found[0] == project:
                self.by_version.setdefault(found[1], []).append(file)
                self.count += 1

    def files_of(self, version: str) -> list[File]:
        try:
            return self.by_version.get(Version(version), [])
        except InvalidVersion:
            return []


async def _page(
    session: aiohttp.ClientSession, proxy: str, listings: Listings, name: str, index: Index
) -> Page:
    """`name`'s index listing (read once while it may be reused)."""
    url = index.url.rstrip("/") + f"/{canonicalize_name(name)}/"
    key = (url, index.credentials.username if index.credentials else "")
    page = listings.get(key)
    if page is None:
        async with listings.reading:
            control, files = await _read(session, proxy, url, name, index)
        page = await asyncio.to_thread(Page, name, files)
        listings.put(key, page, control)
    return page


async def _version_files(
    session: aiohttp.ClientSession,
    proxy: str,
    listings: Listings,
    name: str,
    version: str,
    index: Index,
) -> list[File]:
    """The files of `name` `version` in its index listing."""
    files = (await _page(session, proxy, listings, name, index)).files_of(version)
    if not files:
        raise AdviseError(
            f"the index listing of {name} gives no sha256 for version {version}",
            retryable=True,
        )
    return files


async def _read(
    session: aiohttp.ClientSession, proxy: str, url: str, name: str, index: Index
) -> tuple[str, list[File]]:
    """(its Cache-Control, the (filename, sha256) of its files) of one project page."""
    headers = {"Accept": ACCEPT}
    if index.credentials is not None:  # for this index only: its redirects are not followed
        pair = f"{index.credentials.username}:{index.credentials.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    try:
        async with session.get(
            url, headers=headers, proxy=proxy, allow_redirects=index.credentials is None
        ) as response:
            if response.status != 200:
                raise AdviseError(
                    f"the index listing of {name} answered {response.status}",
                    retryable=response.status >= 500 or response.status == 429,
                )
            body = bytearray()  # appended in place: a large page is copied once, not per chunk
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > LISTING_LIMIT:
                    break
            kind = response.headers.get("Content-Type", "")
            control = response.headers.get("Cache-Control", "")
    except (aiohttp.ClientError, TimeoutError) as error:
        raise AdviseError(
            f"the index listing of {name} could not be read ({error.__class__.__name__}), so "
            "the lock would miss hashes",
            retryable=True,
        ) from None
    if len(body) > LISTING_LIMIT:
        raise AdviseError(f"the index listing of {name} is over {LISTING_LIMIT} bytes")
    # Parsed in a thread: a page can be megabytes, and this process answers webhooks too.
    if "json" in kind:
        try:
            return control, await asyncio.to_thread(lambda: list(_json_files(body)))
        except (ValueError, TypeError, AttributeError):
            raise AdviseError(f"the index listing of {name} is not PEP 691 JSON") from None
    return control, await asyncio.to_thread(_html_files, body.decode(errors="replace"))


def _json_files(body: bytes | bytearray) -> Iterable[File]:
    import json

    data = json.loads(body)
    for entry in data.get("files", []):
        digest = (entry.get("hashes") or {}).get("sha256")
        if digest and entry.get("filename"):
            yield File(
                str(entry["filename"]),
                str(digest),
                str(entry.get("requires-python") or ""),
                bool(entry.get("yanked")),
                str(entry.get("upload-time") or ""),
            )


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[File] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs) if tag == "a" else {}
        href = found.get("href")
        if not href:
            return
        link, fragment = urldefrag(href)
        if fragment.startswith("sha256="):
            requires = found.get("data-requires-python") or ""
            self.files.append(
                File(
                    link.rsplit("/", 1)[-1],
                    fragment.removeprefix("sha256="),
                    requires,
                    "data-yanked" in found,
                )
            )


def _html_files(text: str) -> list[File]:
    anchors = _Anchors()
    anchors.feed(text)
    return anchors.files


def _name_and_version(filename: str) -> tuple[str, Version] | None:
    """(canonical name, version) of a wheel or sdist filename; None for anything else. Read
    by splitting, not by parsing the wheel's tags: a page lists tens of thousands of files."""
    try:
        if filename.endswith(".whl"):
            name, version = filename.split("-")[:2]
        elif filename.endswith((".tar.gz", ".zip")):
            stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
            name, _, version = stem.rpartition("-")
        else:
            return None
        return canonicalize_name(name), Version(version)
    except (ValueError, InvalidVersion):
        return None


@functools.lru_cache(maxsize=65536)
def _tags(filename: str) -> frozenset[Tag] | None:
    """A wheel's tags (an empty set for a wheel whose name cannot be read); None for an sdist."""
    if not filename.endswith(".whl"):
        return None
    try:
        return parse_wheel_filename(filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return frozenset()


def supported_tags(python_version: str, python_platform: str | None) -> frozenset[Tag]:
    """The wheel tags a node class installs: CPython `python_version` on uv's platform
    (`x86_64-manylinux_2_34`: every manylinux up to glibc 2.34, and the legacy aliases)."""
    major, minor = (int(part) for part in python_version.split(".")[:2])
    platforms: list[str] = []
    if python_platform:
        arch, _, system = python_platform.partition("-")
        level = system.removeprefix("manylinux_")
        glibc = int(level.split("_")[1]) if level.count("_") == 1 else 17
        platforms = [f"manylinux_2_{minor_glibc}_{arch}" for minor_glibc in range(glibc, 4, -1)]
        aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        platforms += [f"{alias}_{arch}" for m, alias in aliases.items() if m <= glibc]
    found = list(cpython_tags(python_version=(major, minor), platforms=platforms or None))
    found += compatible_tags(
        python_version=(major, minor), interpreter=f"cp{major}{minor}", platforms=platforms or None
    )
    return frozenset(found)


async def oldest_with_wheel(
    name: str,
    index: Index,
    *,
    proxy: str,
    listings: Listings,
    python_version: str,
    python_platform: str | None,
) -> str | None:
    """The oldest final release of `name` with a wheel the node class installs, or None."""
    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
        page = await _page(session, proxy, listings, name, index)
    finals = [
        version
        for version in installable(page, python_version, python_platform, sdists=False)
        if not version.is_prerelease
    ]
    return str(finals[0]) if finals else None


async def _pages(
    wanted: Mapping[str, tuple[str, Index]], proxy: str, listings: Listings
) -> list[Page]:
    """The listing of each (name, index) of `wanted`, read at once."""
    async with aiohttp.ClientSession(timeout=TIMEOUT, trust_env=False) as session:
        return await asyncio.gather(
            *(_page(session, proxy, listings, name, index) for name, index in wanted.values())
        )


async def releases(
    wanted: Mapping[str, tuple[str, Index]],
    *,
    proxy: str,
    listings: Listings,
    python_version: str,
    python_platform: str | None,
    sdists: bool,
) -> dict[str, tuple[str, ...]]:
    """{key: the releases the node class can install, oldest first} for {key: (name, index)}:
    a release with a wheel for the target, or an sdist where `sdists` (builds are allowed),
    that does not refuse the Python and is not yanked. Pre-releases too."""
    pages = await _pages(wanted, proxy, listings)
    return {
        key: tuple(str(v) for v in installable(page, python_version, python_platform, sdists))
        for key, page in zip(wanted, pages, strict=True)
    }


async def uploads(
    wanted: Mapping[str, tuple[str, Index]],
    *,
    proxy: str,
    listings: Listings,
    python_version: str,
    python_platform: str | None,
    sdists: bool,
) -> dict[str, dict[str, str]]:
    """{key: {release: when its first file the target installs was uploaded ("" where the index
    does not say)}} for {key: (name, index)}, over the releases `releases` gives."""
    pages = await _pages(wanted, proxy, listings)
    found = {}
    for key, page in zip(wanted, pages, strict=True):
        usable = _usable(page, python_version, python_platform, sdists)
        found[key] = {
            str(version): min((f.upload_time for f in files if f.upload_time), default="")
            for version, files in sorted(usable.items())
        }
    return found


def installable(
    page: Page, python_version: str, python_platform: str | None, sdists: bool
) -> list[Version]:
    """The versions on a project page that have a file the target installs, oldest first."""
    return sorted(_usable(page, python_version, python_platform, sdists))


def _usable(
    page: Page, python_version: str, python_platform: str | None, sdists: bool
) -> dict[Version, list[File]]:
    """Each version's files the target installs, of the versions that have some and do not
    refuse the Python."""
    supported = supported_tags(python_version, python_platform)
    found = {}
    for version, files in page.by_version.items():
        usable = [
            file
            for file in files
            if not file.yanked
            for tags in [_tags(file.filename)]
            if (tags is None and sdists) or (tags is not None and tags & supported)
        ]
        if usable and not _python_refused(usable, python_version, supported):
            found[version] = usable
    return found
