"""`LocalAdviser`: a Pipfile.lock for a node class, made on the bot's machine with uv.

`[packages]` is resolved for the node class's Python and platform against the Pipfile's own
indexes; `[dev-packages]` then, constrained by what `[packages]` got, as pipenv does. The
hardware rules that apply to the node class and the stack (`rules.py`) add constraints, take
packages from an index of their own (a CUDA-specific one, say) and say why. A package comes
from the Pipfile's first source, unless it names another (`index = "..."`), as with pipenv.
Each lock entry carries every hash the node class can install (its wheels, and the sdist), the
index it comes from, and the extras and markers the Pipfile gave it; `_meta` is what pipenv
writes (`handlers/lockfile`). Guidance, in Thoth's `{type, message, link}` form, says what was
resolved for which hardware, what the rules did, and which packages the s2i build will have
to compile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from bot.advisers.local.platforms import python_platform
from bot.advisers.local.requirements import Requirement, requirements
from bot.advisers.local.resolve import Pin, resolve
from bot.advisers.local.rules import Prescription, Rule, prescribe, shipped_rules
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Guidance
from handlers.lockfile import populate_source, render_lock
from handlers.pipfile import Pipfile, parse_pipfile
from handlers.problems import Problem


class LocalAdviser:
    name = "local"

    def __init__(self, *, rules: Sequence[Rule] | None = None, limit: float = 600.0) -> None:
        self.rules = tuple(shipped_rules() if rules is None else rules)
        self.limit = limit  # seconds one uv resolution may take

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        try:
            pipfile = parse_pipfile("Pipfile", request.pipfile)
        except Problem as problem:
            raise AdviseError(str(problem)) from None
        node_class, python = request.node_class, request.python_version
        platform = python_platform(node_class)
        default = requirements("packages", pipfile.data.get("packages", {}))
        develop = requirements("dev-packages", pipfile.data.get("dev-packages", {}))
        names = [r.name for r in default + develop]
        prescription = prescribe(self.rules, node_class, python, names)
        sources = [populate_source(source) for source in pipfile.sources]
        sources += [
            {"name": index.name, "url": index.url, "verify_ssl": index.verify_ssl}
            for index in prescription.indexes
        ]
        pinned = _pinned(default + develop, prescription, sources)
        target = {
            "python_version": python,
            "python_platform": platform,
            "default_index": str(sources[0]["url"]),
            "indexes": {str(source["name"]): str(source["url"]) for source in sources[1:]},
            "pinned": pinned,
            "limit": self.limit,
        }
        pins, dev_pins = await _resolve_both(default, develop, prescription.constraints, target)
        lock = _lock(pipfile, sources, pins, dev_pins, pinned)
        where = f"Python {python} on {platform}"
        justification = [
            Guidance(
                "INFO",
                f"Resolved for runtime environment {request.environment!r} on "
                f"{node_class.describe()} ({where}) by thoth-bot's embedded adviser.",
            ),
            *prescription.guidance,
            *_compiled_from_source({**dev_pins, **pins}, where, str(sources[0]["url"])),
        ]
        return AdviseResult(
            lock=lock,
            justification=tuple(justification),
            stack_info=_stack_info(pins, dev_pins, prescription),
            backend=self.name,
            extra={"rules": list(prescription.applied)},
        )


async def _resolve_both(
    default: Sequence[Requirement],
    develop: Sequence[Requirement],
    rules: Sequence[str],
    target: Mapping[str, Any],
) -> tuple[dict[str, Pin], dict[str, Pin]]:
    """`default`, then `develop` within what `default` got, as pipenv locks them.

    Both are resolved at once; `develop` again, constrained by `default`'s pins, only when the
    two disagree on a package they share (rare: the common case costs one resolution's time).
    """

    async def solve(wanted: Sequence[Requirement], constraints: Sequence[str]) -> dict[str, Pin]:
        if not wanted:
            return {}
        return await resolve([r.line for r in wanted], constraints=constraints, **target)

    pins, dev_pins = await asyncio.gather(solve(default, rules), solve(develop, rules))
    if any(key in pins and pins[key].version != pin.version for key, pin in dev_pins.items()):
        within = [*rules, *(f"{pin.name}=={pin.version}" for pin in pins.values())]
        dev_pins = await solve(develop, within)
    return pins, dev_pins


def _pinned(
    wanted: Sequence[Requirement], prescription: Prescription, sources: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Package -> the index it must come from: the Pipfile's `index = "..."`, else a rule's."""
    names = {str(source["name"]) for source in sources}
    primary = str(sources[0]["name"])
    pinned: dict[str, str] = {}
    for index in prescription.indexes:
        for requirement in wanted:
            if canonicalize_name(requirement.name) in index.packages:
                pinned[canonicalize_name(requirement.name)] = index.name
    for requirement in wanted:
        if requirement.index is None:
            continue
        if requirement.index not in names:
            raise AdviseError(
                f"{requirement.name} asks for index {requirement.index!r}, which the Pipfile "
                f"does not declare. Fix: add a [[source]] named {requirement.index!r}, or use "
                f"one of {', '.join(sorted(names))}."
            )
        if requirement.index != primary:
            pinned[canonicalize_name(requirement.name)] = requirement.index
    return pinned


def _lock(
    pipfile: Pipfile,
    sources: list[dict[str, Any]],
    pins: Mapping[str, Pin],
    dev_pins: Mapping[str, Pin],
    pinned: Mapping[str, str],
) -> dict[str, Any]:
    wanted = {
        section: {canonicalize_name(r.name): r for r in requirements(category, packages)}
        for section, category, packages in (
            ("default", "packages", pipfile.data.get("packages", {})),
            ("develop", "dev-packages", pipfile.data.get("dev-packages", {})),
        )
    }
    primary = str(sources[0]["name"])
    lock: dict[str, Any] = {
        section: _section(found, wanted[section], pinned, primary)
        for section, found in (("default", pins), ("develop", dev_pins))
    }
    used = {entry["index"] for section in lock.values() for entry in section.values()}
    own = {str(source["name"]) for source in pipfile.sources}
    meta = {"sources": [s for s in sources if s["name"] in own or s["name"] in used]}
    return render_lock({"_meta": meta, **lock}, pipfile).lock  # with the `_meta` pipenv writes


def _section(
    pins: Mapping[str, Pin],
    top: Mapping[str, Requirement],
    pinned: Mapping[str, str],
    primary: str,
) -> dict[str, Any]:
    section = {}
    for key, pin in sorted(pins.items()):
        requirement = top.get(key)
        entry: dict[str, Any] = {
            "hashes": list(pin.hashes),
            "index": pinned.get(key, primary),
            "version": f"=={pin.version}",
        }
        if requirement is not None and requirement.extras:
            entry["extras"] = sorted(requirement.extras)
        if requirement is not None and requirement.markers:
            entry["markers"] = requirement.markers
        section[key] = entry
    return section


def _compiled_from_source(
    pins: Mapping[str, Pin], where: str, default_index: str
) -> list[Guidance]:
    """A WARNING for each package with no wheel the node class can install."""
    on_pypi = urlsplit(default_index).netloc == "pypi.org"
    return [
        Guidance(
            "WARNING",
            f"{pin.name} {pin.version} has no wheel for {where}: the s2i build will compile "
            "it from source, which needs a compiler and its build dependencies in the "
            "builder image, and time.",
            f"https://pypi.org/project/{pin.name}/{pin.version}/#files" if on_pypi else "",
        )
        for pin in sorted(pins.values(), key=lambda pin: canonicalize_name(pin.name))
        if not pin.wheels
    ]


def _stack_info(
    pins: Mapping[str, Pin], dev_pins: Mapping[str, Pin], prescription: Prescription
) -> tuple[Guidance, ...]:
    info = [
        Guidance("INFO", f"{len(pins)} packages locked in default, {len(dev_pins)} in develop.")
    ]
    if prescription.applied:
        info.append(Guidance("INFO", "Hardware rules applied: " + ", ".join(prescription.applied)))
    return tuple(info)
