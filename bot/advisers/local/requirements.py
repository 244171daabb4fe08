"""A Pipfile's packages as requirement lines uv resolves, as pipenv reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.adviser import AdviseError
from handlers.requirement_check import FETCHING_KEYS, MARKER_KEYS, specifier


@dataclass(frozen=True)
class Requirement:
    name: str
    line: str  # "flask[async]>=2; sys_platform == 'linux'"
    extras: tuple[str, ...] = ()
    markers: str | None = None
    index: str | None = None  # the [[source]] name a package is pinned to


def requirements(category: str, packages: Mapping[str, Any]) -> list[Requirement]:
    return [requirement(category, name, spec) for name, spec in packages.items()]


def requirement(category: str, name: str, spec: Any) -> Requirement:
    if isinstance(spec, str):
        return Requirement(name, name + specifier(spec))
    if not isinstance(spec, Mapping):
        raise AdviseError(
            f"[{category}] {name}: cannot read {spec!r} as a requirement",
            fix='Write it as a version string ("==1.2") or a table ({version = "==1.2"}).',
        )
    unlockable = [key for key in FETCHING_KEYS if spec.get(key)]  # refused before, kept safe
    if unlockable:
        raise AdviseError(
            f"[{category}] {name} is a {unlockable[0]} requirement, which the embedded adviser "
            "does not lock yet",
            fix="Publish it to a package index and require it by version, or lock this Pipfile "
            "with a Thoth deployment (THOTH_HOST).",
        )
    extras = tuple(spec.get("extras") or ())
    markers = _markers(spec)
    line = name + (f"[{','.join(extras)}]" if extras else "") + specifier(spec.get("version", "*"))
    if markers:
        line += f"; {markers}"
    return Requirement(name, line, extras, markers, spec.get("index"))


def _markers(spec: Mapping[str, Any]) -> str | None:
    parts = []
    if spec.get("markers"):
        parts.append(f"({spec['markers']})")
    for key in MARKER_KEYS:
        if spec.get(key):
            parts.append(f"{key} {spec[key]}")
    return " and ".join(parts) if parts else None


def with_extras(requirement: Requirement, extras: Sequence[str]) -> Requirement:
    """`requirement` asking for `extras` too (a rule's: `tensorflow[and-cuda]` on a GPU)."""
    every = (*requirement.extras, *extras)
    _, _, rest = requirement.line.partition(requirement.name)
    rest = rest.split("]", 1)[1] if rest.startswith("[") else rest
    line = f"{requirement.name}[{','.join(every)}]{rest}"
    return Requirement(requirement.name, line, every, requirement.markers, requirement.index)
