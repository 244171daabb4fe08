"""Which of a Pipfile's requirements the bot refuses, each as a `Problem` at its line (SPEC §10).

A requirement must be a package name (PEP 508) and a version specifier (or `*`), with extras,
markers and an `index` naming one of the Pipfile's sources. A URL, VCS, path, file or editable
requirement, wherever it hides (the name, the version, a table key), would make the resolver
fetch what the repository points it at: it is refused before anything is fetched, and every
refused requirement is said at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from handlers.pipfile import LOCK_SECTION, NON_CATEGORY_SECTIONS, Lines, Pipfile
from handlers.problems import Problem

NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)  # PEP 508
# Keys of a package table that point the resolver at something other than an index.
FETCHING_KEYS = ("git", "hg", "svn", "bzr", "path", "file", "editable")
# Keys pipenv turns into environment markers ("sys_platform = \"== 'linux'\"").
MARKER_KEYS = (
    "os_name",
    "sys_platform",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
)


def refused_requirements(pipfile: Pipfile) -> list[Problem]:
    """Every requirement of every category the bot will not resolve, in file order."""
    lines = Lines(pipfile.text.replace("\r\n", "\n").replace("\r", "\n"))
    sources = {str(source.get("name")) for source in pipfile.sources}
    problems = []
    for table, packages in pipfile.data.items():
        if table in NON_CATEGORY_SECTIONS and table not in LOCK_SECTION:
            continue
        for name, spec in packages.items():
            why = refusal(name, spec, sources)
            if why is not None:
                message, fix = why
                problems.append(
                    Problem(
                        pipfile.path,
                        f"[{table}] {name}: {message}",
                        fix=fix,
                        line=lines.find(table, name),
                    )
                )
    return problems


def refusal(name: str, spec: Any, sources: set[str]) -> tuple[str, str] | None:
    """(what is wrong, the one fix) for a requirement the bot refuses, else None."""
    if not NAME.match(name):
        return (
            "is not a package name (PEP 508: letters, digits, '.', '_' and '-'); a URL or "
            "a path in a name is not resolved",
            "Write the package's name alone as the key and its version as the value, "
            'e.g. requests = ">=2.31".',
        )
    if isinstance(spec, str):
        return _version(name, spec)
    if not isinstance(spec, Mapping):
        return None  # parse_pipfile has said what pipenv thinks of it
    fetching = [key for key in FETCHING_KEYS if spec.get(key)]
    if fetching:
        kind = "editable" if fetching[0] == "editable" else f"a {fetching[0]}"
        return (
            f"is {kind} requirement; thoth-bot locks packages from package indexes only",
            "Publish it to a package index the bot may use and require it by name and version, "
            f'e.g. {name} = ">=1.0".',
        )
    if "version" in spec and isinstance(spec["version"], str):
        wrong = _version(name, spec["version"])
        if wrong is not None:
            return wrong
    for extra in spec.get("extras") or ():
        if not isinstance(extra, str) or not NAME.match(extra):
            return (
                f"extra {extra!r} is not a name",
                f'List extras by name, e.g. {name} = {{version = "*", extras = ["socks"]}}.',
            )
    markers = [f"({spec['markers']})"] if isinstance(spec.get("markers"), str) else []
    markers += [f"{key} {spec[key]}" for key in MARKER_KEYS if isinstance(spec.get(key), str)]
    for marker in markers:
        try:
            Marker(marker)
        except InvalidMarker:
            return (
                f"{marker!r} is not an environment marker (PEP 508)",
                "Write markers as PEP 508 expressions, e.g. markers = \"sys_platform == 'linux'\".",
            )
    index = spec.get("index")
    if index is not None and index not in sources:
        return (
            f"asks for index {index!r}, which the Pipfile does not declare",
            f"Add a [[source]] named {index!r}, or use one of {', '.join(sorted(sources))}.",
        )
    return None


def specifier(version: str) -> str:
    """A Pipfile version as a PEP 440 specifier, as pipenv reads it: `*` is none, a bare
    version is `==`."""
    text = version.strip()
    if text in ("", "*"):
        return ""
    if text[0].isdigit():
        return "==" + text
    return text


def _version(name: str, version: str) -> tuple[str, str] | None:
    text = specifier(version)
    if not text:
        return None
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return (
            f"version {version!r} is not a version specifier (PEP 440); a URL or a path is not "
            "resolved",
            f'Write a version specifier, e.g. {name} = ">=1.0,<2" or {name} = "*".',
        )
    return None
