"""`LocalAdviser`: a Pipfile.lock for a node class, made on the bot's machine with uv.

`[packages]` is resolved for the node class's Python and platform against the Pipfile's own
indexes; `[dev-packages]` then, constrained by what `[packages]` got, as pipenv does. Each
entry carries every hash the node class can install (its wheels, and the sdist), the index it
comes from, and the extras and markers the Pipfile gave it; `_meta` is what pipenv writes
(`handlers/lockfile.render_lock`). Guidance says, in Thoth's
`{type, message, link}` form, what was resolved for which hardware and which packages the s2i
build will have to compile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from packaging.utils import canonicalize_name

from bot.advisers.local.platforms import python_platform
from bot.advisers.local.requirements import Requirement, requirements
from bot.advisers.local.resolve import Pin, resolve
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Guidance
from handlers.lockfile import render_lock
from handlers.pipfile import parse_pipfile
from handlers.problems import Problem

PYPI = "https://pypi.org/simple"


class LocalAdviser:
    name = "local"

    def __init__(self, *, limit: float = 600.0) -> None:
        self.limit = limit  # seconds one uv resolution may take

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        try:
            pipfile = parse_pipfile("Pipfile", request.pipfile)
        except Problem as problem:
            raise AdviseError(str(problem)) from None
        platform = python_platform(request.node_class)
        indexes = [str(source["url"]) for source in pipfile.sources]
        default = requirements("packages", pipfile.data.get("packages", {}))
        develop = requirements("dev-packages", pipfile.data.get("dev-packages", {}))
        target = {
            "python_version": request.python_version,
            "python_platform": platform,
            "indexes": indexes,
            "limit": self.limit,
        }
        pins = await resolve([r.line for r in default], **target) if default else {}
        dev_pins = {}
        if develop:
            constraints = [f"{pin.name}=={pin.version}" for pin in pins.values()]
            dev_pins = await resolve([r.line for r in develop], constraints=constraints, **target)
        lock = render_lock(
            {
                "default": _section(pins, default, pipfile.sources),
                "develop": _section(dev_pins, develop, pipfile.sources),
            },
            pipfile,
        ).lock  # with the `_meta` pipenv writes
        where = f"Python {request.python_version} on {platform}"
        justification = [
            Guidance(
                "INFO",
                f"Resolved for runtime environment {request.environment!r} on "
                f"{request.node_class.describe()} ({where}) by thoth-bot's embedded adviser.",
            ),
            *_compiled_from_source({**dev_pins, **pins}, where, indexes),
        ]
        return AdviseResult(
            lock=lock,
            justification=tuple(justification),
            stack_info=(
                Guidance(
                    "INFO", f"{len(pins)} packages locked in default, {len(dev_pins)} in develop."
                ),
            ),
            backend=self.name,
        )


def _section(
    pins: Mapping[str, Pin], wanted: Sequence[Requirement], sources: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    top = {canonicalize_name(r.name): r for r in wanted}
    section = {}
    for key, pin in sorted(pins.items()):
        entry: dict[str, Any] = {
            "hashes": list(pin.hashes),
            "index": _source_name(pin, top.get(key), sources),
            "version": f"=={pin.version}",
        }
        requirement = top.get(key)
        if requirement is not None and requirement.extras:
            entry["extras"] = sorted(requirement.extras)
        if requirement is not None and requirement.markers:
            entry["markers"] = requirement.markers
        section[key] = entry
    return section


def _source_name(
    pin: Pin, requirement: Requirement | None, sources: Sequence[Mapping[str, Any]]
) -> str:
    if requirement is not None and requirement.index:
        return requirement.index
    if pin.index:
        for source in sources:
            if str(source["url"]).rstrip("/") == pin.index.rstrip("/"):
                return str(source["name"])
    return str(sources[0]["name"])


def _compiled_from_source(
    pins: Mapping[str, Pin], where: str, indexes: Sequence[str]
) -> list[Guidance]:
    """A WARNING for each package with no wheel the node class can install."""
    warnings = []
    for pin in sorted(pins.values(), key=lambda pin: canonicalize_name(pin.name)):
        if pin.wheels:
            continue
        on_pypi = indexes[0].rstrip("/") == PYPI
        warnings.append(
            Guidance(
                "WARNING",
                f"{pin.name} {pin.version} has no wheel for {where}: the s2i build will compile "
                "it from source, which needs a compiler and its build dependencies in the "
                "builder image, and time.",
                f"https://pypi.org/project/{pin.name}/{pin.version}/#files" if on_pypi else "",
            )
        )
    return warnings
