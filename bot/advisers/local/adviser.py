"""`LocalAdviser`: a Pipfile.lock for a node class, made on the bot's machine with uv.

`[packages]` is resolved for the node class's Python and platform against the Pipfile's own
indexes; `[dev-packages]` then, constrained by what `[packages]` got, as pipenv does. The
hardware rules that apply to the node class and the stack (`rules.py`) add constraints, take
packages from an index of their own (a CUDA-specific one, say) and say why. A package comes
from the Pipfile's first source, unless it names another (`index = "..."`), as with pipenv.
Each lock entry carries the hash of every artifact of its version, as pipenv's do (read from
the index's listing, `listing.py`), the index it comes from, and the extras and markers the
Pipfile gave it; `_meta` is what pipenv writes (`handlers/pipfile_lock.py`). Guidance, in Thoth's
`{type, message, link}` form, says what was resolved for which hardware, what the rules did,
and which packages the s2i build will have to compile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement as PackagingRequirement
from packaging.utils import canonicalize_name

from bot.advisers.local.cuda_drivers import backend_of, cuda_of, driver_backends
from bot.advisers.local.direct_first import Found, direct_first, direct_releases
from bot.advisers.local.indexes import (
    IndexPolicy,
    named_unreachable,
    rule_index,
    rule_place,
    source_index,
    source_place,
    split_credentials,
)
from bot.advisers.local.listing import UnsupportedPython
from bot.advisers.local.platforms import python_platform
from bot.advisers.local.release_policy import (
    Known,
    Vetting,
    cool_down_of,
    locked_versions,
    policy_for,
)
from bot.advisers.local.requirements import Requirement, requirements, with_extras
from bot.advisers.local.resolve import LocalResolver, Pin, Resolver, Target
from bot.advisers.local.rules import Index as RuleIndex
from bot.advisers.local.rules import Prescription, Rule, prescribe, shipped_rules
from bot.advisers.local.sandbox import Sandbox
from bot.advisers.local.uv_process import CACHE_LIMIT, UvRunner
from bot.advisers.osv import Advisory, Vulnerabilities, VulnerabilitiesUnavailable
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Guidance, NodeClass
from handlers.pipfile import Pipfile, parse_pipfile
from handlers.pipfile_lock import populate_source, render_lock
from handlers.problems import Problem
from handlers.requirement_check import refused_requirements

log = logging.getLogger(__name__)
MAX_ROUNDS = 4  # resolutions excluding releases that refuse the Python, at most


class LocalAdviser:
    name = "local"

    def __init__(
        self,
        *,
        rules: Sequence[Rule] | None = None,
        limit: float = 600.0,
        indexes: IndexPolicy | None = None,
        cache_dir: Path | None = None,
        builds: str = "off",
        hidden: Sequence[Path] = (),
        resolver: Resolver | None = None,
        budget: float | None = None,
        resolutions: int = 2,
        cache_limit: int = CACHE_LIMIT,
        vulnerabilities: Vulnerabilities | None = None,
        cool_down: float = 7 * 86400.0,
    ) -> None:
        """Resolutions run in this process (uv, `resolutions` at once at most), or on
        `resolver` (the resolver pool). `builds="isolated"`: a package with no wheel is built
        in the sandbox, which hides `hidden` (the state directory, key files) besides the
        shared cache. `budget`: seconds one advise may take in all (`adviser.timeout`).
        `vulnerabilities`: where known vulnerabilities come from (None: not asked);
        `cool_down`: the `stable` type's, where the Pipfile sets none."""
        self.rules = tuple(shipped_rules() if rules is None else rules)
        self.limit = limit if budget is None else min(limit, budget)  # one uv resolution
        self.budget = budget
        self.indexes = indexes or IndexPolicy()
        self.vulnerabilities = vulnerabilities
        self.cool_down = cool_down
        if resolver is None:
            cache = cache_dir or default_cache_dir()
            sandbox = Sandbox([*hidden, cache]) if builds == "isolated" else None
            runner = UvRunner(
                cache_dir=cache,
                sandbox=sandbox,
                concurrency=resolutions,
                cache_limit=cache_limit,
            )
            resolver = LocalResolver(runner)
        self.resolver = resolver
        # What its answers depend on besides the request (for the result cache's key).
        self.fingerprint = hashlib.sha256(
            repr((self.rules, self.indexes.allowed)).encode()
        ).hexdigest()[:16]

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        """The lock and guidance; within `budget` seconds, or a Problem (the resolutions then
        running are cancelled, their uv killed)."""
        deadline = asyncio.timeout(self.budget)
        try:
            async with deadline:
                return await self._advise(request)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise AdviseError(
                f"the embedded adviser did not finish within {self.budget:.0f} s",
                fix="Narrow the Pipfile's version ranges (uv names the packages it tried when "
                "it cannot finish), or ask the bot's operator for a longer `adviser.timeout`.",
            ) from None

    async def _advise(self, request: AdviseRequest) -> AdviseResult:
        try:
            pipfile = parse_pipfile("Pipfile", request.pipfile)
        except Problem as problem:
            raise AdviseError(str(problem), fix=problem.fix) from None
        refused = refused_requirements(pipfile)
        if refused:
            raise AdviseError(
                "; ".join(f"{problem.where}: {problem.message}" for problem in refused),
                fix=refused[0].fix,
            )
        node_class, python = request.node_class, request.python_version
        platform = python_platform(node_class)
        policy = policy_for(request.recommendation_type, cool_down_of(pipfile.data, self.cool_down))
        vetting = Vetting(
            policy, locked_versions(request.pipfile_lock), time.time(), fresh=request.force
        )
        rules = [rule for rule in self.rules if _for_type(rule, policy.type)]
        node_class, driver_guidance = await _with_driver(node_class, rules)
        wanted = _wanted(pipfile)  # lock section -> requirements
        everything = [r for section in wanted.values() for r in section]
        prescription = prescribe(rules, node_class, python, [r.name for r in everything])
        rule_urls = [index.url for index in prescription.indexes]
        allowlist = self.indexes.allowlist(trusted=[split_credentials(u)[0] for u in rule_urls])
        uses = [source_index(source, self.indexes, allowlist) for source in pipfile.sources]
        uses += [rule_index(url, self.indexes) for url in rule_urls]
        # What the lock says: the Pipfile's sources as written, the rules' without credentials.
        sources = [populate_source(source) for source in pipfile.sources]
        sources += [
            {"name": index.name, "url": use.url, "verify_ssl": index.verify_ssl}
            for index, use in zip(prescription.indexes, uses[len(pipfile.sources) :], strict=True)
        ]
        pinned = _pinned(everything, prescription, sources)
        positions = {str(source["name"]): position for position, source in enumerate(sources)}
        target = Target(
            python_version=python,
            python_platform=platform,
            indexes=tuple(uses),
            allowlist=allowlist,
            pinned={package: positions[index] for package, index in pinned.items()},
            limit=self.limit,
            prereleases=policy.prereleases
            or bool(pipfile.data.get("pipenv", {}).get("allow_prereleases")),
            reuse=not request.force,
        )
        where = f"Python {python} on {platform}"

        # Who set each index, to say which one could not be reached.
        places = [
            source_place(source, use)
            for source, use in zip(pipfile.sources, uses[: len(pipfile.sources)], strict=True)
        ] + [
            rule_place(self._rule_of(index), use)
            for index, use in zip(prescription.indexes, uses[len(pipfile.sources) :], strict=True)
        ]

        async def solve(constraints: Sequence[str]) -> dict[str, dict[str, Pin]]:
            """Every section of the Pipfile (`wanted` as it is when called) under constraints."""
            try:
                return await _resolve_all(self.resolver, wanted, constraints, target)
            except AdviseError as error:
                raise named_unreachable(error, places) from None

        listing = asyncio.create_task(direct_releases(self.resolver, wanted, target))
        try:
            found = await solve(prescription.constraints)
            available = await listing
        finally:
            if not listing.done():
                listing.cancel()
            elif not listing.cancelled():
                listing.exception()  # the resolution's error is the one said
        # The Pipfile's own packages at their newest releases that resolve with the rest, as
        # pipenv prefers them (`direct_first.py`); the later resolutions keep them there.
        raised = await direct_first(
            wanted, available, prescription.constraints, target, found, solve, where
        )
        found = raised.found
        # What works together (a framework built against NumPy 1 with NumPy 2; the CUDA
        # libraries a GPU framework needs): the rules on what was resolved. Those that say
        # something are said; those that ask for more (a constraint the resolution broke, an
        # extra it lacks) get a second resolution with it.
        resolved = {key: pin.version for pins in found.values() for key, pin in pins.items()}
        names = [r.name for r in everything]
        saying = [rule for rule in rules if not (rule.constrain or rule.extras)]
        asking = [rule for rule in rules if rule.constrain or rule.extras]
        asked = prescribe(asking, node_class, python, names, resolved=resolved)
        floors, raised_guidance = raised.floors, raised.guidance
        if _breaks(asked.constraints, resolved) or _lacks(asked.extras, wanted):
            wanted = _with_extras(wanted, asked.extras)
            prescription = _joined(prescription, asked)
            found, kept = await _keeping(solve, prescription.constraints, floors)
            if kept != floors:  # the raised packages do not fit what the rules ask
                floors, raised_guidance = (), ()
        resolved = {key: pin.version for pins in found.values() for key, pin in pins.items()}
        said = prescribe(saying, node_class, python, names, resolved=resolved)
        prescription = _joined(prescription, said)
        # The recommendation type: releases it avoids (too fresh, known vulnerable) are
        # excluded, and the stack resolved again, while that finds a lock (`release_policy`).
        for _ in range(MAX_ROUNDS):
            await self._learn(vetting, found, target)
            if not vetting.breaks(_versions(found)):
                break
            avoided = Prescription(vetting.constraints(), (), (), ())
            try:
                again, kept = await _keeping(
                    solve, _joined(prescription, avoided).constraints, floors
                )
            except AdviseError as error:
                if error.retryable:
                    raise
                break  # nothing fits without them: the lock keeps them, the guidance says so
            found, prescription = again, _joined(prescription, avoided)
            if kept != floors:
                floors, raised_guidance = (), ()
        # uv reads only the lower bound of `requires-python`; pip, installing, all of it. A
        # locked version that refuses the node class's Python is excluded, and the stack
        # resolved again (a few rounds at most).
        refused: list[Guidance] = []
        for _ in range(MAX_ROUNDS):
            try:
                hashes = await _every_hash(self.resolver, found, target)
                break
            except UnsupportedPython as unsupported:
                excluded = list(unsupported.excluded)
                refused += [
                    Guidance(
                        "INFO",
                        f"{name} {version} requires Python {spec}, so the lock for Python "
                        f"{python} holds another release.",
                    )
                    for name, version, spec in unsupported.pins
                ]
                prescription = _joined(prescription, Prescription(tuple(excluded), (), (), ()))
                floors = _without(floors, unsupported.packages)
                try:
                    found, kept = await _keeping(solve, prescription.constraints, floors)
                except AdviseError:
                    raise AdviseError(
                        f"{unsupported}, and no other release of "
                        f"{', '.join(unsupported.packages)} fits the Pipfile",
                        fix=f"Require a release of {', '.join(unsupported.packages)} that "
                        f"supports Python {python}, or another package.",
                    ) from None
                if kept != floors:
                    floors, raised_guidance = (), ()
        else:
            raise AdviseError(f"no lock supports Python {python} after {MAX_ROUNDS} rounds")
        lock = _lock(pipfile, sources, wanted, found, pinned, hashes)
        every_pin = {key: pin for pins in found.values() for key, pin in pins.items()}
        await self._learn(vetting, found, target)
        justification = [
            Guidance(
                "INFO",
                f"Resolved for runtime environment {request.environment!r} on "
                f"{node_class.describe()} ({where}) by thoth-bot's embedded adviser.",
            ),
            *driver_guidance,
            *prescription.guidance,
            *raised_guidance,
            *refused,
            *await _built_from_source(self.resolver, every_pin, target, where),
            *vetting.guidance(_versions(found)),
        ]
        return AdviseResult(
            lock=lock,
            justification=tuple(justification),
            stack_info=_stack_info(found, prescription),
            backend=self.name,
            extra={
                "rules": list(prescription.applied),
                "packages": len(every_pin),
                "fixes": vetting.fixes(_versions(found)),
            },
        )

    async def _learn(self, vetting: Vetting, found: Found, target: Target) -> None:
        """What the recommendation type needs to know of the packages `found` holds that it
        has not met yet: their releases' upload times (where it avoids releases) and their
        known vulnerabilities. Vulnerability data out of reach is said in the guidance, and
        fails `security`, which cannot promise what it cannot check."""
        pins = {key: pin for pins in found.values() for key, pin in pins.items()}
        new = {key: pin.name for key, pin in pins.items() if key not in vetting.known}
        if not new:
            return
        policy = vetting.policy
        uploaded: dict[str, dict[str, str]] = {}
        if policy.cool_down is not None or policy.avoid != "none":
            uploaded = await self.resolver.uploads(
                {key: (name, target.pinned.get(key, 0)) for key, name in new.items()}, target
            )
        advisories: dict[str, tuple[Advisory, ...]] = {}
        if self.vulnerabilities is not None and vetting.unavailable is None:
            try:
                advisories = await self.vulnerabilities.advisories(
                    new.values(), fresh=vetting.fresh
                )
            except VulnerabilitiesUnavailable as error:
                if policy.type == "security":
                    raise AdviseError(
                        f"the security recommendation type keeps known vulnerabilities out, "
                        f"and they could not be checked: {error}",
                        retryable=True,
                    ) from None
                vetting.unavailable = str(error)
        for key, name in new.items():
            vetting.learn(key, Known(name, uploaded.get(key, {}), advisories.get(key, ())))
        if self.vulnerabilities is None and policy.type == "security":
            raise AdviseError(
                "the security recommendation type keeps known vulnerabilities out, and this "
                "bot has no vulnerability data (THOTH_BOT_OSV_URL is off)",
                fix="Use another recommendation type, or ask the bot's operator to set "
                "THOTH_BOT_OSV_URL.",
            )

    def _rule_of(self, index: RuleIndex) -> str:
        """The id of the (first) rule that names `index`."""
        return next((rule.id for rule in self.rules if rule.index == index), index.name)

    async def close(self) -> None:
        await self.resolver.close()


def default_cache_dir() -> Path:
    """uv's cache: `UV_CACHE_DIR` of the bot's environment, else the user's cache folder."""
    configured = os.environ.get("UV_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "thoth-bot" / "uv"


async def _with_driver(
    node_class: NodeClass, rules: Sequence[Rule]
) -> tuple[NodeClass, list[Guidance]]:
    """A GPU node class that names its NVIDIA driver and no CUDA version gets the newest CUDA
    whose PyTorch builds the driver runs (uv's driver table) among those the rules know; one
    that names both is told when its CUDA needs a newer driver."""
    driver = node_class.cuda_driver_version
    if not driver or not node_class.hardware.gpu_model:
        return node_class, []
    backends = await driver_backends(driver)
    if backends is None:
        return node_class, [
            Guidance(
                "WARNING",
                f"thoth-bot could not tell which CUDA builds NVIDIA driver {driver} of "
                f"{node_class.name} runs: the lock follows its cuda_version "
                f"({node_class.cuda_version or 'none'}).",
            )
        ]
    known = {backend for rule in rules for backend in [_backend_of_rule(rule)] if backend}
    usable = sorted(known & backends or backends, key=_backend_number)
    newest = usable[-1]
    if node_class.cuda_version:
        wanted = backend_of(node_class.cuda_version)
        if wanted in backends:
            return node_class, []
        return node_class, [
            Guidance(
                "WARNING",
                f"{node_class.name} declares CUDA {node_class.cuda_version}, whose builds "
                f"({wanted}) need a newer NVIDIA driver than its {driver} (uv's driver table): "
                f"GPU frameworks built for it will not start there. Fix: upgrade the driver, or "
                f"set cuda_version to {cuda_of(newest)} or older.",
                "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html",
            )
        ]
    cuda = cuda_of(newest)
    return dataclasses.replace(node_class, cuda_version=cuda), [
        Guidance(
            "INFO",
            f"{node_class.name}'s NVIDIA driver {driver} runs CUDA builds up to "
            f"{max(backends, key=_backend_number)} (uv's driver table): GPU frameworks get "
            f"their CUDA {cuda} builds ({newest}).",
        )
    ]


def _backend_of_rule(rule: Rule) -> str | None:
    """'cu128' of a rule whose index is one of PyTorch's CUDA builds (by name or URL)."""
    if rule.index is None:
        return None
    for text in (rule.index.name, rule.index.url.rstrip("/")):
        found = re.search(r"(cu\d{3,})$", text)
        if found:
            return found.group(1)
    return None


def _backend_number(backend: str) -> int:
    return int(backend.removeprefix("cu"))


def _for_type(rule: Rule, recommendation_type: str) -> bool:
    """Whether a rule is for the type (`when.recommendation_types`; all, when it names none)."""
    types = rule.when.get("recommendation_types")
    return not types or recommendation_type in types


def _versions(found: Found) -> dict[str, tuple[str, str]]:
    """{key: (name, version)} of every section's pins."""
    return {key: (pin.name, pin.version) for pins in found.values() for key, pin in pins.items()}


def _wanted(pipfile: Pipfile) -> dict[str, list[Requirement]]:
    """Requirements per lock section: default, develop and any custom category, as pipenv."""
    tables = {"default": "packages", "develop": "dev-packages"}
    sections = {"default": {}, "develop": {}, **pipfile.categories}
    return {
        section: requirements(tables.get(section, section), packages)
        for section, packages in sections.items()
    }


async def _resolve_all(
    resolver: Resolver,
    wanted: Mapping[str, Sequence[Requirement]],
    rules: Sequence[str],
    target: Target,
) -> dict[str, dict[str, Pin]]:
    """`default`, and every other section within what `default` got, as pipenv locks them.

    All are resolved at once; a section again, constrained by `default`'s pins, only when it
    disagrees with `default` on a package they share (rare: the common case costs one
    resolution's time).
    """

    async def solve(section: Sequence[Requirement], constraints: Sequence[str]) -> dict[str, Pin]:
        if not section:
            return {}
        return await resolver([r.line for r in section], target, constraints)

    names = list(wanted)
    try:
        async with asyncio.TaskGroup() as group:  # one fails: the others are cancelled, uv killed
            tasks = [group.create_task(solve(wanted[name], rules)) for name in names]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    found = {name: task.result() for name, task in zip(names, tasks, strict=True)}
    default = found["default"]
    within = [*rules, *(f"{pin.name}=={pin.version}" for pin in default.values())]
    for name in names[1:]:
        pins = found[name]
        if any(key in default and default[key].version != pin.version for key, pin in pins.items()):
            found[name] = await solve(wanted[name], within)
    return found


async def _every_hash(
    resolver: Resolver, found: Mapping[str, Mapping[str, Pin]], target: Target
) -> dict[str, tuple[str, ...]]:
    """The hash of every artifact of each locked version, as pipenv lists them (wheels for all
    platforms, and the sdist), from each package's index listing. A package locked at two
    versions (a category disagreeing with default) keeps its node class's hashes."""
    versions: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for pins in found.values():
        for key, pin in pins.items():
            versions.setdefault(key, set()).add(pin.version)
            names[key] = pin.name
    wanted = {
        key: (names[key], next(iter(found_versions)), target.pinned.get(key, 0))
        for key, found_versions in sorted(versions.items())
        if len(found_versions) == 1
    }
    if not wanted:
        return {}
    return await resolver.hashes(wanted, target)


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
                "does not declare",
                fix=f"Add a [[source]] named {requirement.index!r}, or use one of "
                f"{', '.join(sorted(names))}.",
            )
        if requirement.index != primary:
            pinned[canonicalize_name(requirement.name)] = requirement.index
    return pinned


def _lock(
    pipfile: Pipfile,
    sources: list[dict[str, Any]],
    wanted: Mapping[str, Sequence[Requirement]],
    found: Mapping[str, Mapping[str, Pin]],
    pinned: Mapping[str, str],
    hashes: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    primary = str(sources[0]["name"])
    lock: dict[str, Any] = {
        section: _section(
            found[section],
            {canonicalize_name(r.name): r for r in wanted[section]},
            pinned,
            primary,
            hashes,
        )
        for section in wanted
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
    hashes: Mapping[str, tuple[str, ...]],
) -> dict[str, Any]:
    section = {}
    for key, pin in sorted(pins.items()):
        requirement = top.get(key)
        entry: dict[str, Any] = {
            "hashes": sorted(set(pin.hashes) | set(hashes.get(key, ()))),
            "index": pinned.get(key, primary),
            "version": f"=={pin.version}",
        }
        if requirement is not None and requirement.extras:
            entry["extras"] = sorted(requirement.extras)
        if requirement is not None and requirement.markers:
            entry["markers"] = requirement.markers
        section[key] = entry
    return section


async def _built_from_source(
    resolver: Resolver, pins: Mapping[str, Pin], target: Target, where: str
) -> list[Guidance]:
    """For each package with no wheel the node class can install (locked only where the
    operator allows builds): the s2i build builds it, a WARNING where its sdist holds code to
    compile (`sdists.py`), an INFO where it is pure Python."""
    built = {key: pin for key, pin in sorted(pins.items()) if not pin.wheels}
    sdists = {
        key: (_sdist_url(pin), target.pinned.get(key, 0))
        for key, pin in built.items()
        if _sdist_url(pin)
    }
    compiles = await resolver.compiled(sdists, target) if sdists else {}
    return [
        Guidance(
            "WARNING",
            f"{pin.name} {pin.version} has no wheel for {where}: the s2i build will compile it "
            "from source, which needs a compiler and its build dependencies in the builder "
            "image, and time.",
            package=pin.name,
        )
        if compiles.get(key, True)
        else Guidance(
            "INFO",
            f"{pin.name} {pin.version} has no wheel for {where}: the s2i build builds it from "
            "its source distribution, which is pure Python (no compiler needed).",
        )
        for key, pin in built.items()
    ]


def _sdist_url(pin: Pin) -> str:
    return next((url for url in pin.urls if url.endswith((".tar.gz", ".zip"))), "")


def _breaks(constraints: Sequence[str], resolved: Mapping[str, str]) -> bool:
    """Whether a version `resolved` lies outside one of `constraints` ("numpy<2")."""
    for line in constraints:
        requirement = PackagingRequirement(line)
        version = resolved.get(canonicalize_name(requirement.name))
        if version is not None and not requirement.specifier.contains(version, prereleases=True):
            return True
    return False


def _lacks(extras: Sequence[tuple[str, str]], wanted: Mapping[str, Sequence[Requirement]]) -> bool:
    """Whether a package that `wanted` requires lacks one of `extras` there."""
    return any(
        canonicalize_name(requirement.name) == package and extra not in requirement.extras
        for package, extra in extras
        for section in wanted.values()
        for requirement in section
    )


def _with_extras(
    wanted: Mapping[str, Sequence[Requirement]], extras: Sequence[tuple[str, str]]
) -> dict[str, list[Requirement]]:
    """`wanted`, each requirement of a package in `extras` asking for those extras too."""
    adding: dict[str, list[str]] = {}
    for package, extra in extras:
        adding.setdefault(package, []).append(extra)
    changed: dict[str, list[Requirement]] = {}
    for section, section_requirements in wanted.items():
        changed[section] = []
        for requirement in section_requirements:
            more = [
                e
                for e in adding.get(canonicalize_name(requirement.name), [])
                if e not in requirement.extras
            ]
            if more:
                requirement = with_extras(requirement, more)
            changed[section].append(requirement)
    return changed


async def _keeping(
    solve: Callable[[Sequence[str]], Awaitable[dict[str, dict[str, Pin]]]],
    constraints: Sequence[str],
    floors: Sequence[str],
) -> tuple[dict[str, dict[str, Pin]], tuple[str, ...]]:
    """A resolution that keeps the raised direct packages' floors where it can, and the floors
    it kept: where they no longer fit (a rule's constraint, an excluded release), none."""
    if floors:
        try:
            return await solve((*constraints, *floors)), tuple(floors)
        except AdviseError as error:
            if error.retryable:
                raise
    return await solve(constraints), ()


def _without(constraints: Sequence[str], packages: Sequence[str]) -> tuple[str, ...]:
    """`constraints` but those on `packages`."""
    names = {canonicalize_name(name) for name in packages}
    return tuple(
        line
        for line in constraints
        if canonicalize_name(PackagingRequirement(line).name) not in names
    )


def _joined(first: Prescription, then: Prescription) -> Prescription:
    return Prescription(
        first.constraints + then.constraints,
        first.indexes,
        first.guidance + then.guidance,
        first.applied + then.applied,
        first.extras + then.extras,
    )


def _stack_info(
    found: Mapping[str, Mapping[str, Pin]], prescription: Prescription
) -> tuple[Guidance, ...]:
    counts = ", ".join(f"{len(pins)} in {section}" for section, pins in found.items())
    info = [Guidance("INFO", f"Packages locked: {counts}.")]
    if prescription.applied:
        info.append(Guidance("INFO", "Hardware rules applied: " + ", ".join(prescription.applied)))
    return tuple(info)
