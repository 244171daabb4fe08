"""What each recommendation type lets into a lock (SPEC §8), and what the guidance says of it.

- `latest`: the newest releases the node class allows; pre-releases only where the Pipfile
  allows them.
- `testing`: `latest` with pre-releases.
- `performance`: `latest`, with the hardware rules kept for it (`recommendation_types:
  [performance]`: optimised builds, such as an index of AVX2 builds).
- `stable` (the default): releases past a cool-down (the Pipfile's `cool-down-period`, else
  `adviser.cool_down`), judged by each release's first upload time in its index's PEP 691
  listing; no release with a known vulnerability where a release fixes it. Exempt from the
  cool-down: a release that fixes a known vulnerability of the current lock, and releases whose
  index publishes no upload time (said in the guidance).
- `security`: no release with a known vulnerability at all, even if older.

Whatever the type, the guidance lists the known vulnerabilities left in the lock. The releases a
type avoids become `name!=version` constraints of another resolution (`Vetting.constraints`);
where they leave nothing to resolve, the lock keeps what it had and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from packaging.version import InvalidVersion, Version

from bot.advisers.osv import Advisory
from handlers.adviser import Guidance
from handlers.pipfile_lock import parse_lock, pinned_versions

TYPES = ("latest", "stable", "performance", "security", "testing")
DEFAULT = "stable"
MAX_EXCLUDED = 4000  # `name!=version` constraints given to uv, at most
DESCRIBED = {
    "latest": "Recommendation type latest: the newest releases the node class allows.",
    "testing": "Recommendation type testing: the newest releases, pre-releases included.",
    "performance": "Recommendation type performance: the newest releases, and the optimised "
    "builds the hardware rules know for the node class.",
    "stable": "Recommendation type stable: releases past the cool-down, and no release with a "
    "known vulnerability where a release fixes it.",
    "security": "Recommendation type security: no release with a known vulnerability, even "
    "where that means an older one.",
}


@dataclass(frozen=True)
class ReleasePolicy:
    type: str
    prereleases: bool = False
    cool_down: float | None = None  # seconds (stable)
    avoid: str = "none"  # known vulnerabilities avoided: "none" | "fixable" | "all"


def policy_for(recommendation_type: str, cool_down: float) -> ReleasePolicy:
    kind = recommendation_type if recommendation_type in TYPES else DEFAULT
    if kind == "testing":
        return ReleasePolicy(kind, prereleases=True)
    if kind == "stable":
        return ReleasePolicy(kind, cool_down=cool_down, avoid="fixable")
    if kind == "security":
        return ReleasePolicy(kind, avoid="all")
    return ReleasePolicy(kind)


def cool_down_of(pipfile_data: Mapping, configured: float) -> float:
    """The Pipfile's `[pipenv] cool-down-period` ("30d", checked by `handlers/pipfile.py`), else
    the configuration's."""
    period = (pipfile_data.get("pipenv") or {}).get("cool-down-period")
    if isinstance(period, str) and period.endswith("d") and period[:-1].isdigit():
        return int(period[:-1]) * 86400.0
    return configured


def locked_versions(lock_text: str) -> dict[str, str]:
    """The current lock's versions by canonical name ({} when there is none or it is broken:
    read as every lock is, within its bounds)."""
    return pinned_versions(parse_lock("Pipfile.lock", lock_text) or {}) if lock_text else {}


@dataclass
class Known:
    """What is known of one package: its releases' upload times, its advisories."""

    name: str
    uploaded: dict[str, str]  # release -> ISO time, "" unknown
    advisories: tuple[Advisory, ...]


@dataclass
class Vetting:
    """The releases a policy avoids, learnt package by package as resolutions meet them."""

    policy: ReleasePolicy
    current: Mapping[str, str]  # the current lock's versions
    now: float
    fresh: bool = False  # ask the vulnerability data anew (`--force`, maintenance)
    known: dict[str, Known] = field(default_factory=dict)
    avoided: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> release -> why
    unjudged: set[str] = field(default_factory=set)  # no upload times: the cool-down cannot say
    kept_back: dict[str, str] = field(default_factory=dict)  # key -> what cool-down held back
    unavailable: str | None = None  # why the vulnerability data could not be read

    def learn(self, key: str, known: Known) -> None:
        """Record a package and the releases the policy avoids of it."""
        self.known[key] = known
        releases = list(known.uploaded)
        why: dict[str, str] = {}
        if self.policy.avoid != "none":
            for release in releases:
                found = [a for a in known.advisories if a.affects(release)]
                if self.policy.avoid == "fixable":
                    found = [a for a in found if _has_fix(a)]
                if found:
                    why[release] = "advisory " + ", ".join(a.title for a in found)
        if self.policy.cool_down is not None:
            if releases and not any(known.uploaded.values()):
                self.unjudged.add(known.name)
            exempt = self._fixes_of_current(key, known)
            for release, when in known.uploaded.items():
                age = self.now - _timestamp(when) if when else None
                if age is not None and age < self.policy.cool_down and release not in exempt:
                    why.setdefault(release, f"uploaded {when[:10]}, within the cool-down")
        # Never every release: what cannot be avoided stays, and is said.
        if why and len(why) < len(releases):
            self.avoided[key] = why

    def breaks(self, pins: Mapping[str, tuple[str, str]]) -> bool:
        """Whether a resolution ({key: (name, version)}) holds a release to avoid."""
        return any(version in self.avoided.get(key, {}) for key, (_, version) in pins.items())

    def constraints(self) -> tuple[str, ...]:
        lines = [
            f"{self.known[key].name}!={release}"
            for key, releases in sorted(self.avoided.items())
            for release in sorted(releases)
        ]
        return tuple(lines[:MAX_EXCLUDED])

    def guidance(self, pins: Mapping[str, tuple[str, str]]) -> list[Guidance]:
        """What the type did, and the known vulnerabilities left in the lock."""
        said: list[Guidance] = [Guidance("INFO", DESCRIBED[self.policy.type])]
        if self.unavailable is not None:
            said.append(
                Guidance(
                    "WARNING",
                    f"Known vulnerabilities were not checked: {self.unavailable}. The lock may "
                    "hold releases with known vulnerabilities.",
                )
            )
        for key, releases in sorted(self.avoided.items()):
            name = self.known[key].name
            locked = pins.get(key, ("", ""))[1]
            for reason in sorted(set(releases.values())):
                if not reason.startswith("advisory "):
                    continue
                versions = sorted(
                    (r for r, why in releases.items() if why == reason), key=_sort_key
                )
                said.append(
                    Guidance(
                        "INFO",
                        f"{self.policy.type}: avoided {name} {_span(versions)} for known "
                        f"vulnerability {reason.removeprefix('advisory ')}; the lock holds "
                        f"{name} {locked}.",
                        _first_link(self.known[key], reason),
                    )
                )
        held = {
            self.known[key].name: releases
            for key, releases in self.avoided.items()
            if any("cool-down" in why for why in releases.values())
        }
        if held:
            days = (self.policy.cool_down or 0) / 86400
            listed = "; ".join(
                f"{name} {', '.join(_held(releases))}" for name, releases in sorted(held.items())
            )
            said.append(
                Guidance(
                    "INFO",
                    f"stable: releases uploaded less than {days:g} days ago were held back "
                    f"(the cool-down): {listed}.",
                )
            )
        if self.unjudged:
            said.append(
                Guidance(
                    "INFO",
                    "stable: the cool-down could not be judged for "
                    f"{', '.join(sorted(self.unjudged))}: their index publishes no upload "
                    "times.",
                )
            )
        said += self.left(pins)
        return said

    def left(self, pins: Mapping[str, tuple[str, str]]) -> list[Guidance]:
        """A WARNING per known vulnerability of a locked release."""
        said = []
        for key, (name, version) in sorted(pins.items()):
            known = self.known.get(key)
            for advisory in known.advisories if known else ():
                if not advisory.affects(version):
                    continue
                fix = advisory.fixed_after(version)
                if fix:
                    remedy = f"fixed in {fix}"
                    if self.policy.avoid != "none":
                        remedy += ", which the Pipfile's requirements leave out"
                else:
                    remedy = "no release fixes it yet"
                summary = f": {advisory.summary}" if advisory.summary else ""
                said.append(
                    Guidance(
                        "WARNING",
                        f"{name} {version} has a known vulnerability, {advisory.title}"
                        f"{summary} ({remedy}).",
                        advisory.link,
                        package=name,
                    )
                )
        return said

    def fixes(self, pins: Mapping[str, tuple[str, str]]) -> dict[str, list[str]]:
        """{key: the advisories of the current lock's release that the pinned one is free of}."""
        found = {}
        for key, (_, version) in pins.items():
            current, known = self.current.get(key), self.known.get(key)
            if current is None or known is None or current == version:
                continue
            fixed = [
                advisory.title
                for advisory in known.advisories
                if advisory.affects(current) and not advisory.affects(version)
            ]
            if fixed:
                found[key] = fixed
        return found

    def _fixes_of_current(self, key: str, known: Known) -> set[str]:
        """Releases that fix a known vulnerability of the current lock's release."""
        current = self.current.get(key)
        if current is None:
            return set()
        open_ = [a for a in known.advisories if a.affects(current)]
        return {
            release
            for release in known.uploaded
            if _newer(release, current) and any(not a.affects(release) for a in open_)
        }


def _held(releases: Mapping[str, str]) -> list[str]:
    return sorted((r for r, why in releases.items() if "cool-down" in why), key=_sort_key)


def _has_fix(advisory: Advisory) -> bool:
    return any(event == "fixed" for events in advisory.ranges for event, _ in events)


def _timestamp(when: str) -> float:
    try:
        parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def _newer(release: str, than: str) -> bool:
    try:
        return Version(release) > Version(than)
    except InvalidVersion:
        return False


def _span(versions: list[str]) -> str:
    if len(versions) <= 3:
        return ", ".join(versions)
    return f"{versions[0]} to {versions[-1]} ({len(versions)} releases)"


def _first_link(known: Known, reason: str) -> str:
    for advisory in known.advisories:
        if advisory.title in reason:
            return advisory.link
    return ""
