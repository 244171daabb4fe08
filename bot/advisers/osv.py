"""Known vulnerabilities of PyPI packages, from the OSV database (https://osv.dev: the PyPA
advisory database, GitHub's advisories and others, in one schema).

Two sources, one protocol (`Vulnerabilities`):
- `OsvApi`: the OSV API at THOTH_BOT_OSV_URL (default https://api.osv.dev). One
  `POST /v1/querybatch` asks for every advisory of the packages a lock holds (a query without a
  version answers all of a package's advisories), then `GET /v1/vulns/{id}` reads each advisory
  not read before (kept by id and `modified`). A package's answer is reused for `ttl` seconds.
- `OsvExport`: an operator's copy of OSV's PyPI export (`all.zip`,
  https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip) for clusters without egress:
  THOTH_BOT_OSV_URL=file:///path/all.zip, read again when the file changes.

Whatever cannot be reached raises `VulnerabilitiesUnavailable`: the adviser goes on and says so,
except for the `security` recommendation type, which cannot promise what it cannot check.
"""

from __future__ import annotations

import asyncio
import json
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ECOSYSTEM = "PyPI"
BATCH = 1000  # queries per querybatch (the API's limit)
RECORD_LIMIT = 1024 * 1024  # bytes of one advisory
ANSWER_LIMIT = 16 * 1024 * 1024  # bytes of one querybatch answer
PAGES = 10  # a package's pages of advisories, at most
TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
READS_AT_ONCE = 8


class VulnerabilitiesUnavailable(Exception):
    """The vulnerability data could not be read; the message says where and why."""


@dataclass(frozen=True)
class Advisory:
    """One OSV advisory, as it concerns one package."""

    id: str
    package: str  # canonical name
    summary: str
    aliases: tuple[str, ...]
    versions: frozenset[Version]  # the versions it lists as affected
    # ECOSYSTEM ranges: each a sorted tuple of (event, version) with "introduced", "fixed" or
    # "last_affected" events.
    ranges: tuple[tuple[tuple[str, Version | None], ...], ...]
    published: str = ""

    @property
    def link(self) -> str:
        return f"https://osv.dev/vulnerability/{self.id}"

    @property
    def title(self) -> str:
        """'PYSEC-2023-74 (CVE-2023-32681)'."""
        cves = [alias for alias in self.aliases if alias.startswith("CVE-")]
        return f"{self.id} ({', '.join(cves)})" if cves else self.id

    def affects(self, version: str) -> bool:
        try:
            parsed = Version(version)
        except InvalidVersion:
            return False
        if parsed in self.versions:
            return True
        return any(_in_range(events, parsed) for events in self.ranges)

    def fixed_after(self, version: str) -> str | None:
        """The lowest release that fixes it above `version`, if the advisory names one."""
        try:
            parsed = Version(version)
        except InvalidVersion:
            return None
        fixes = sorted(
            found
            for events in self.ranges
            for event, found in events
            if event == "fixed" and found is not None and found > parsed
        )
        return str(fixes[0]) if fixes else None


def _in_range(events: Sequence[tuple[str, Version | None]], version: Version) -> bool:
    """OSV's evaluation of one ECOSYSTEM range: events in version order."""
    affected = False
    for event, at in events:
        if event == "introduced" and (at is None or version >= at):
            affected = True
        elif event == "fixed" and at is not None and version >= at:
            affected = False
        elif event == "last_affected" and at is not None and version > at:
            affected = False
    return affected


def parse_advisory(record: Mapping[str, Any]) -> list[Advisory]:
    """The advisory for each PyPI package an OSV record names (usually one)."""
    found: dict[str, tuple[set[Version], list]] = {}
    for affected in record.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != ECOSYSTEM or not package.get("name"):
            continue
        versions, ranges = found.setdefault(canonicalize_name(str(package["name"])), (set(), []))
        for text in affected.get("versions") or []:
            parsed = _version(text)
            if parsed is not None:
                versions.add(parsed)
        for entry in affected.get("ranges") or []:
            if entry.get("type") != "ECOSYSTEM":
                continue
            events = []
            for event in entry.get("events") or []:
                for kind in ("introduced", "fixed", "last_affected"):
                    if kind in event:
                        at = None if event[kind] == "0" else _version(event[kind])
                        if at is not None or kind == "introduced":
                            events.append((kind, at))
            events.sort(key=lambda item: (item[1] is not None, item[1] or Version("0")))
            ranges.append(tuple(events))
    summary = str(record.get("summary") or record.get("details") or "").strip()
    summary = " ".join(summary.split())
    if len(summary) > 300:
        summary = summary[:300].rsplit(" ", 1)[0] + "…"
    return [
        Advisory(
            id=str(record["id"]),
            package=name,
            summary=summary,
            aliases=tuple(str(alias) for alias in record.get("aliases") or []),
            versions=frozenset(versions),
            ranges=tuple(ranges),
            published=str(record.get("published") or ""),
        )
        for name, (versions, ranges) in found.items()
    ]


def _version(text: Any) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


class Vulnerabilities(Protocol):
    """Where known vulnerabilities come from."""

    where: str  # for people: "the OSV API at https://api.osv.dev"

    async def advisories(
        self, packages: Iterable[str], *, fresh: bool = False
    ) -> dict[str, tuple[Advisory, ...]]:
        """Every advisory of each package (by canonical name), asked anew where `fresh`;
        `VulnerabilitiesUnavailable`."""
        ...


class OsvApi:
    def __init__(self, session: aiohttp.ClientSession, url: str, *, ttl: float = 3600.0) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.where = f"the OSV API at {self.url}"
        self.ttl = ttl
        self._packages: dict[str, tuple[float, tuple[str, ...]]] = {}  # name -> (when, ids)
        self._records: dict[tuple[str, str], list[Advisory]] = {}  # (id, modified)
        self._latest: dict[str, str] = {}  # id -> its newest `modified` read

    async def advisories(
        self, packages: Iterable[str], *, fresh: bool = False
    ) -> dict[str, tuple[Advisory, ...]]:
        names = sorted({canonicalize_name(name) for name in packages})
        now = time.monotonic()
        stale = [
            n
            for n in names
            if fresh or now - self._packages.get(n, (-self.ttl - 1, ()))[0] > self.ttl
        ]
        for start in range(0, len(stale), BATCH):
            await self._query(stale[start : start + BATCH], now)
        return {
            name: tuple(
                advisory
                for vuln_id in self._packages[name][1]
                for advisory in self._records.get((vuln_id, self._latest.get(vuln_id, "")), [])
                if advisory.package == name
            )
            for name in names
        }

    async def _query(self, names: Sequence[str], now: float) -> None:
        ids: dict[str, list[tuple[str, str]]] = {name: [] for name in names}
        pending: dict[str, str | None] = dict.fromkeys(names)  # name -> its next page's token
        for _ in range(PAGES):
            if not pending:
                break
            asking = list(pending)
            queries = [
                {
                    "package": {"name": name, "ecosystem": ECOSYSTEM},
                    **({"page_token": pending[name]} if pending[name] else {}),
                }
                for name in asking
            ]
            answer = await self._exchange("POST", "/v1/querybatch", {"queries": queries})
            results = answer.get("results")
            if not isinstance(results, list) or len(results) != len(asking):
                raise VulnerabilitiesUnavailable(f"{self.where} answered no result per package")
            pending = {}
            for name, result in zip(asking, results, strict=True):
                result = result if isinstance(result, dict) else {}
                for vuln in result.get("vulns") or []:
                    if isinstance(vuln, dict) and vuln.get("id"):
                        ids[name].append((str(vuln["id"]), str(vuln.get("modified") or "")))
                if result.get("next_page_token"):
                    pending[name] = str(result["next_page_token"])
        wanted = {pair for pairs in ids.values() for pair in pairs if pair not in self._records}
        reads = asyncio.Semaphore(READS_AT_ONCE)

        async def read(vuln_id: str, modified: str) -> None:
            async with reads:
                record = await self._exchange("GET", f"/v1/vulns/{vuln_id}", None)
            self._records[(vuln_id, modified)] = parse_advisory(record)
            self._latest[vuln_id] = modified

        async with asyncio.TaskGroup() as group:
            for vuln_id, modified in sorted(wanted):
                group.create_task(read(vuln_id, modified))
        for name, pairs in ids.items():
            for vuln_id, modified in pairs:
                self._latest[vuln_id] = modified
            self._packages[name] = (now, tuple(vuln_id for vuln_id, _ in pairs))

    async def _exchange(self, method: str, path: str, body: Any) -> dict[str, Any]:
        limit = ANSWER_LIMIT if method == "POST" else RECORD_LIMIT
        try:
            async with self.session.request(
                method, self.url + path, json=body, timeout=TIMEOUT
            ) as response:
                if response.status != 200:
                    raise VulnerabilitiesUnavailable(
                        f"{self.where} answered HTTP {response.status} to {method} {path}"
                    )
                data = await response.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise VulnerabilitiesUnavailable(
                f"{self.where} could not be reached ({error.__class__.__name__})"
            ) from None
        if len(data) > limit:
            raise VulnerabilitiesUnavailable(f"{self.where} answered over {limit} bytes")
        try:
            answer = json.loads(data)
        except ValueError:
            raise VulnerabilitiesUnavailable(f"{self.where} answered something not JSON") from None
        if not isinstance(answer, dict):
            raise VulnerabilitiesUnavailable(f"{self.where} answered something not an object")
        return answer


class OsvExport:
    """OSV's PyPI export, a zip of one JSON advisory per file, read whole (in a thread) and
    again when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"the OSV export {path}"
        self._stamp: tuple[float, int] | None = None
        self._by_package: dict[str, tuple[Advisory, ...]] = {}
        self._loading = asyncio.Lock()

    async def advisories(
        self, packages: Iterable[str], *, fresh: bool = False
    ) -> dict[str, tuple[Advisory, ...]]:
        async with self._loading:  # read again whenever the file changed, fresh or not
            try:
                stat = self.path.stat()
            except OSError as error:
                raise VulnerabilitiesUnavailable(
                    f"{self.where} cannot be read: {error.strerror}"
                ) from None
            stamp = (stat.st_mtime, stat.st_size)
            if stamp != self._stamp:
                self._by_package = await asyncio.to_thread(_read_export, self.path, self.where)
                self._stamp = stamp
        return {
            name: self._by_package.get(name, ())
            for name in {canonicalize_name(package) for package in packages}
        }


def _read_export(path: Path, where: str) -> dict[str, tuple[Advisory, ...]]:
    found: dict[str, list[Advisory]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.filename.endswith(".json") or member.file_size > RECORD_LIMIT:
                    continue
                try:
                    record = json.loads(archive.read(member))
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("id"):
                    for advisory in parse_advisory(record):
                        found.setdefault(advisory.package, []).append(advisory)
    except (OSError, zipfile.BadZipFile) as error:
        raise VulnerabilitiesUnavailable(f"{where} is not a readable zip ({error})") from None
    return {name: tuple(advisories) for name, advisories in found.items()}


def vulnerabilities(session: aiohttp.ClientSession, url: str | None) -> Vulnerabilities | None:
    """The source THOTH_BOT_OSV_URL names; None when it is `off`."""
    if url is None:
        return None
    if url.startswith("file://"):
        return OsvExport(Path(url.removeprefix("file://")))
    return OsvApi(session, url)
