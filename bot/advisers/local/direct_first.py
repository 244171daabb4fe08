"""Direct requirements first: among the solutions, the newest releases of the Pipfile's own
packages, as `pipenv lock` prefers them over transitive ones.

uv decides packages in the order it meets them, and moves a package that keeps conflicting to
the front: on `numpy` + `tensorflow<2.14` it takes the newest NumPy first, which leaves
TensorFlow 2.11 where pipenv locks 2.13. After uv's resolution, each direct package that an
installable newer release could replace (read from its index listing) is raised: the newest
release is tried as a floor (`tensorflow>=2.13.1`), then the release right after the pin, then
the releases in between by bisection (whether a floor resolves only grows as the floor falls).
A package raised, or found at its best, keeps its floor while the next one is tried, so an
earlier choice is never undone.

The order: packages the Pipfile constrains (`tensorflow = "<2.14"`) before the ones it takes
at any version (`numpy = "*"`), then the Pipfile's order. What stays below its newest
installable release is said in the guidance, with why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement as PackagingRequirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bot.advisers.local.requirements import Requirement
from bot.advisers.local.resolve import Pin, Resolver, Target
from handlers.adviser import AdviseError, Guidance

Found = dict[str, dict[str, Pin]]  # lock section -> canonical name -> pin
MAX_TRIES = 8  # resolutions spent raising direct packages, at most, per runtime environment


@dataclass(frozen=True)
class Raised:
    found: Found
    floors: tuple[str, ...]  # "tensorflow>=2.13.1": what the later resolutions keep
    guidance: tuple[Guidance, ...]


Releases = dict[str, tuple[str, ...]]  # canonical name -> installable releases, oldest first


async def direct_releases(
    resolver: Resolver, wanted: Mapping[str, Sequence[Requirement]], target: Target
) -> Releases:
    """The releases the target can install of each of the Pipfile's own packages, from their
    index listings (read while the first resolution runs: neither waits for the other)."""
    return await resolver.releases(
        {
            key: (requirement.name, target.pinned.get(key, 0))
            for key, (requirement, _) in _ordered(wanted).items()
        },
        target,
    )


async def direct_first(
    wanted: Mapping[str, Sequence[Requirement]],
    available: Releases,
    constraints: Sequence[str],
    target: Target,
    found: Found,
    solve: Callable[[Sequence[str]], Awaitable[Found]],
    where: str,
) -> Raised:
    """`found`, each direct package raised to the newest release in `available` that resolves
    with the rest. `solve(constraints)` resolves the whole Pipfile."""
    direct = _ordered(wanted)
    floors: list[str] = []
    held: list[str] = []
    tries = 0
    cut = False
    for key, (requirement, section) in direct.items():
        pin = found[section].get(key)
        if pin is None:  # a marker that excludes the node class
            continue
        newer = _newer(requirement, pin.version, available.get(key, ()), constraints, target)
        if newer and tries >= MAX_TRIES:
            cut = True
        elif newer:
            low, high = -1, len(newer)  # newer[low] resolves (-1: the pin), newer[high] does not
            probe = len(newer) - 1  # the newest first: most stacks take it
            while high - low > 1 and tries < MAX_TRIES:
                tries += 1
                floor = f"{pin.name}>={newer[probe]}"
                raised = await _resolves(solve, [*constraints, *floors, floor])
                if raised is None:
                    high = probe
                else:
                    low, found = probe, raised
                # Then the next release after the pin: where another package caps this one just
                # above its pin (the usual reason), that ends the search in two resolutions.
                probe = 0 if (low, high) == (-1, len(newer) - 1) else (low + high) // 2
            cut = cut or high - low > 1
            pin = found[section][key]
            best = newer[-1]
            if Version(pin.version) < Version(best):
                held.append(f"{pin.name} {pin.version} (newest {best})")
        if pin.version in available.get(key, ()):  # not one the Python refuses, say
            floors.append(f"{pin.name}>={pin.version}")
    guidance = []
    if held:
        guidance.append(
            Guidance(
                "INFO",
                f"Locked below their newest releases for {where}, because the newer ones do "
                f"not resolve with the rest of the Pipfile: {', '.join(held)}.",
            )
        )
    if cut:
        guidance.append(
            Guidance(
                "INFO",
                f"thoth-bot stopped trying newer releases of the Pipfile's packages after "
                f"{MAX_TRIES} resolutions; a package may be locked below a release that would fit.",
            )
        )
    return Raised(found, tuple(floors), tuple(guidance))


def _ordered(wanted: Mapping[str, Sequence[Requirement]]) -> dict[str, tuple[Requirement, str]]:
    """The direct packages (canonical name -> (requirement, its lock section)), constrained ones
    first, then in the Pipfile's order; a package in two sections counts where it comes first."""
    direct: dict[str, tuple[Requirement, str]] = {}
    for section, requirements in wanted.items():
        for requirement in requirements:
            direct.setdefault(canonicalize_name(requirement.name), (requirement, section))
    order = sorted(
        enumerate(direct.items()),
        key=lambda item: (not PackagingRequirement(item[1][1][0].line).specifier, item[0]),
    )
    return dict(item for _, item in order)


def _newer(
    requirement: Requirement,
    version: str,
    available: Sequence[str],
    constraints: Sequence[str],
    target: Target,
) -> list[str]:
    """The releases newer than `version`, oldest first, that the requirement and the
    constraints on its package allow (pre-releases where the Pipfile allows them)."""
    key = canonicalize_name(requirement.name)
    specifiers = [PackagingRequirement(requirement.line).specifier]
    for line in constraints:
        constraint = PackagingRequirement(line)
        if canonicalize_name(constraint.name) == key:
            specifiers.append(constraint.specifier)
    current = Version(version)
    # Pre-releases where the Pipfile allows them, or where a specifier names one (">=2.0rc1").
    prereleases = target.prereleases or any(spec.prereleases for spec in specifiers)
    return [
        release
        for release in available
        if Version(release) > current
        and all(spec.contains(release, prereleases=prereleases) for spec in specifiers)
    ]


async def _resolves(
    solve: Callable[[Sequence[str]], Awaitable[Found]], constraints: Sequence[str]
) -> Found | None:
    """The resolution under `constraints`, or None where there is none."""
    try:
        return await solve(constraints)
    except AdviseError as error:
        if error.retryable:
            raise
        return None
