"""A Pipfile read the way pipenv reads it: its data, Python version, sources and lock hash.

`parse_pipfile` accepts what pipenv 2026.10.3 accepts (plette's validation, restated) and turns
everything else into a `Problem` that names the line and the fix. `pipfile_hash` is the
`_meta.hash.sha256` pipenv computes, so a lock carrying it passes `pipenv verify` and
`pipenv install --deploy`.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from handlers import limits
from handlers.problems import Problem

# pipenv's default index when a Pipfile has no [[source]] (plette's DEFAULT_SOURCE_TOML).
DEFAULT_SOURCE: dict[str, Any] = {
    "name": "pypi",
    "url": "https://pypi.org/simple",
    "verify_ssl": True,
}

# Sections that are not package categories (plette's PIPFILE_SECTIONS).
NON_CATEGORY_SECTIONS = frozenset(
    {"source", "packages", "dev-packages", "requires", "scripts", "pipfile", "pipenv"}
)
# Lock section of each built-in Pipfile category; any other table is a category of its own.
LOCK_SECTION = {"packages": "default", "dev-packages": "develop"}
# Top-level tables pipenv leaves out of the hash.
UNHASHED_SECTIONS = frozenset({"scripts", "pipenv", "pipfile", "default", "develop"})

# Keys plette accepts in a package table (plette.models.packages.KNOWN_PACKAGE_KEYS).
KNOWN_PACKAGE_KEYS = frozenset(
    {
        "git", "svn", "hg", "bzr", "ref", "subdirectory", "name", "version", "extras",
        "editable", "markers", "os_markers", "hashes", "index", "no_binary", "pip_args",
        "skip_resolver", "path", "file", "os_name", "sys_platform", "platform_machine",
        "platform_python_implementation", "platform_release", "platform_system",
        "platform_version", "python_version", "python_full_version", "implementation_name",
        "implementation_version",
    }
)  # fmt: skip
PACKAGE_KEY_TYPES: dict[str, tuple[type, str]] = {
    "editable": (bool, "true or false"),
    "version": (str, 'a string such as "==1.2"'),
    "extras": (list, 'a list such as ["socks"]'),
    "pip_args": (list, 'a list such as ["--no-deps"]'),
}

_READABLE = "`pipenv verify` must be able to read the Pipfile."
_CUSTOM_CATEGORY = (
    " pipenv reads every table other than [[source]], [requires], [scripts], [pipenv] and"
    " [pipfile] as a package category; move other tables out of the Pipfile."
)

# problem(message, fix, table, key="", index=None) -> Problem at the line of `key` in `table`
_Raise = Callable[..., Problem]


@dataclass(frozen=True)
class Pipfile:
    """A valid Pipfile. `data` is the parsed TOML as plain dicts and lists."""

    path: str
    text: str
    data: dict[str, Any]
    python_version: str | None  # "3.11", from [requires]
    sources: list[dict[str, Any]]  # the [[source]] entries, or pipenv's default index
    hash: str  # the `_meta.hash.sha256` pipenv computes

    @property
    def requires(self) -> dict[str, Any]:
        """The [requires] table (empty when absent)."""
        return self.data.get("requires", {})

    @property
    def categories(self) -> dict[str, dict[str, Any]]:
        """Packages per lock section (`default`, `develop`, custom categories), in file order."""
        return {
            LOCK_SECTION.get(name, name): packages
            for name, packages in self.data.items()
            if name not in NON_CATEGORY_SECTIONS - LOCK_SECTION.keys()
            and name not in ("default", "develop")
        }


def parse_pipfile(path: str, text: str) -> Pipfile:
    """Parse and validate a Pipfile; raise `Problem` (with the line) where pipenv would fail."""
    if text.startswith("\ufeff"):
        raise Problem(
            path,
            "the file starts with a byte-order mark, which pipenv cannot read",
            fix="Save the Pipfile as UTF-8 without a byte-order mark (BOM).",
            line=1,
        )
    limits.check_size(path, text, limits.PIPFILE_BYTES)
    # pipenv opens the Pipfile in text mode: universal newlines.
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        data = tomllib.loads(normalized)
    except tomllib.TOMLDecodeError as error:
        raise _toml_problem(path, normalized, error) from None
    except RecursionError:  # arrays nested thousands deep
        raise limits.too_deep(path) from None
    limits.check_depth(path, data)
    _validate(path, normalized, data)
    categories = [name for name in data if name not in NON_CATEGORY_SECTIONS - LOCK_SECTION.keys()]
    limits.check_count(path, "package categories", len(categories), limits.CATEGORIES)
    for name in categories:
        if isinstance(data[name], dict):
            limits.check_count(path, f"packages in [{name}]", len(data[name]), limits.PACKAGES)
    return Pipfile(
        path=path,
        text=text,
        data=data,
        python_version=_python_version(data.get("requires", {})),
        sources=copy.deepcopy(data.get("source", [DEFAULT_SOURCE])),
        hash=pipfile_hash(data),
    )


def pipfile_hash(data: Mapping[str, Any]) -> str:
    """The `_meta.hash.sha256` pipenv 2026.10.3 computes for a Pipfile parsed into `data`.

    Mirrors `pipenv.utils.pipfile.Pipfile.calculate_hash`: plette's data (with the default
    [[source]] when there is none), package names in every category canonicalised (PEP 503),
    [scripts], [pipenv] and [pipfile] left out, compact JSON with sorted keys.
    """
    hashed: dict[str, Any] = {
        "_meta": {
            "sources": data["source"] if "source" in data else [DEFAULT_SOURCE],
            "requires": data.get("requires", {}),
        },
        "default": _canonical(data.get("packages", {})),
        "develop": _canonical(data.get("dev-packages", {})),
    }
    for category, packages in data.items():
        if category not in NON_CATEGORY_SECTIONS and category not in ("default", "develop"):
            hashed[category] = _canonical(packages)
    content = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _canonical(packages: Mapping[str, Any]) -> dict[str, Any]:
    return {canonicalize_name(name): spec for name, spec in packages.items()}


def _python_version(requires: Mapping[str, Any]) -> str | None:
    if requires.get("python_version"):
        return requires["python_version"]
    if requires.get("python_full_version"):
        return ".".join(requires["python_full_version"].split(".")[:2])
    return None


_PYTHON_KEY = re.compile(r"""^\s*(?:requires\s*\.\s*)?(["']?)(python_(?:full_)?version)\1\s*=""")


def with_python_version(text: str, version: str) -> str:
    """The Pipfile `text` whose [requires] asks for Python `version`, every other line as it
    was: `python_version` set, `python_full_version` (a patch release of another Python)
    dropped. The text as it was when it declares no Python."""
    lines = text.split("\n")
    out: list[str] = []
    table: list[str] | None = []
    written = False
    for line in lines:
        header = Lines._HEADER.match(line)
        if header:
            table = _split_key(header["name"])
        key = _PYTHON_KEY.match(line)
        in_requires = table == ["requires"] or (table == [] and "requires" in line.split("=")[0])
        if key and in_requires:
            if written:
                continue  # python_full_version beside python_version: one line says it now
            prefix = line[: key.start(1)]  # indentation, and `requires.` in a dotted key
            out.append(f'{prefix}python_version = "{version}"')
            written = True
            continue
        out.append(line)
    return "\n".join(out)


# ---- problems --------------------------------------------------------------------------


def _toml_problem(path: str, text: str, error: tomllib.TOMLDecodeError) -> Problem:
    # "Cannot declare ('packages', 'x') twice" -> "Cannot declare [packages.x] twice"
    message = re.sub(
        r"\(((?:'[^']*'(?:, )?)+),?\)",
        lambda found: "[" + ".".join(re.findall(r"'([^']*)'", found[1])) + "]",
        str(error),
    )
    found = re.search(r"\(at line (\d+), column \d+\)", message)
    line = int(found[1]) if found else None
    if line is None and "end of document" in message:
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    fix = f"Correct the TOML syntax on line {line}" if line else "Correct the TOML syntax"
    return Problem(
        path,
        f"invalid TOML: {message[:1].lower()}{message[1:]}",
        fix=f"{fix}; {_READABLE}",
        line=line,
    )


def _validate(path: str, text: str, data: Mapping[str, Any]) -> None:
    """Raise the first of pipenv's (plette's) objections to `data`, with its line."""
    lines = Lines(text)

    def problem(
        message: str, fix: str, table: str, key: str = "", *, index: int | None = None
    ) -> Problem:
        return Problem(path, message, fix=fix, line=lines.find(table, key, index=index))

    for name, value in data.items():
        if name == "source":
            if not _is_list_of_tables(value):
                raise problem(
                    "`source` must be an array of tables ([[source]])",
                    "Declare each package index as a [[source]] table with `name` and `url`.",
                    name,
                )
            for index, source in enumerate(value):
                _validate_source(source, index, problem)
        elif not isinstance(value, dict):
            raise problem(
                f"`{name}` must be a table ([{name}]), not {_describe(value)}",
                f"Write `{name}` as a [{name}] table, or remove it.",
                name,
            )
        elif name == "requires":
            for key in ("python_version", "python_full_version"):
                if key in value and not isinstance(value[key], str):
                    raise problem(
                        f"[requires] {key} must be a string, not {_describe(value[key])}",
                        f'Quote the version, e.g. {key} = "3.11".',
                        name,
                        key,
                    )
        elif name == "scripts":
            for script, command in value.items():
                if not command or not isinstance(command, str | list | dict):
                    raise problem(
                        f"[scripts] {script} must be a non-empty command string",
                        f'Write the script as a command, e.g. {script} = "python -m app".',
                        name,
                        script,
                    )
        elif name == "pipenv":
            _validate_pipenv(value, problem)
        elif name not in NON_CATEGORY_SECTIONS or name in LOCK_SECTION:
            for package, spec in value.items():
                _validate_package(name, package, spec, problem)
    _check_hashable(data, problem)


def _validate_source(source: Any, index: int, problem: _Raise) -> None:
    for key in ("name", "url"):
        if not isinstance(source.get(key), str):
            raise problem(
                f"[[source]] number {index + 1} has no `{key}`"
                if key not in source
                else f"[[source]] {key} must be a string, not {_describe(source[key])}",
                'Give every [[source]] a `name` and a `url`, e.g. name = "pypi" and '
                'url = "https://pypi.org/simple".',
                "source",
                key if key in source else "",
                index=index,
            )
    if "verify_ssl" in source and not isinstance(source["verify_ssl"], bool):
        raise problem(
            f"[[source]] verify_ssl must be true or false, not {_describe(source['verify_ssl'])}",
            "Write verify_ssl = true (or false, unquoted).",
            "source",
            "verify_ssl",
            index=index,
        )


def _validate_pipenv(settings: Mapping[str, Any], problem: _Raise) -> None:
    if "allow_prereleases" in settings and not isinstance(settings["allow_prereleases"], bool):
        raise problem(
            "[pipenv] allow_prereleases must be true or false",
            "Write allow_prereleases = true (or false, unquoted).",
            "pipenv",
            "allow_prereleases",
        )
    period = settings.get("cool-down-period")
    if "cool-down-period" in settings and not (
        isinstance(period, str) and re.fullmatch(r"\d+d", period)
    ):
        raise problem(
            f'[pipenv] cool-down-period must look like "30d", not {_describe(period)}',
            'Write the period in days, e.g. cool-down-period = "30d".',
            "pipenv",
            "cool-down-period",
        )


def _validate_package(category: str, package: str, spec: Any, problem: _Raise) -> None:
    where = f"[{category}] {package}"
    if isinstance(spec, bool) or not isinstance(spec, str | int | float | dict):
        custom = "" if category in LOCK_SECTION else _CUSTOM_CATEGORY
        raise problem(
            f"{where} must be a version string or a table, not {_describe(spec)}",
            f'Write e.g. {package} = "*" or {package} = {{version = ">=1.0", extras = [...]}}'
            f".{custom}",
            category,
            package,
        )
    if not isinstance(spec, dict):
        return
    unknown = sorted(set(spec) - KNOWN_PACKAGE_KEYS)
    if unknown:
        raise problem(
            f"{where} has unknown option(s) {', '.join(unknown)}",
            "Use only options pipenv knows: version, extras, markers, index, editable, path, "
            "file, git, ref, subdirectory, hashes... (a git commit goes in `ref`).",
            category,
            package,
        )
    for key, (kind, expected) in PACKAGE_KEY_TYPES.items():
        if key in spec and not isinstance(spec[key], kind):
            raise problem(
                f"{where}: `{key}` must be {expected}, not {_describe(spec[key])}",
                f"Write `{key}` as {expected}.",
                category,
                package,
            )


def _check_hashable(data: Mapping[str, Any], problem: _Raise) -> None:
    """pipenv hashes tomlkit's objects as JSON: dates, and booleans inside arrays, break it."""
    for trail, value in _unhashable(data):
        if trail[0] in UNHASHED_SECTIONS:
            continue
        where = trail[0] + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in trail[1:]
        )
        index = trail[1] if len(trail) > 1 and isinstance(trail[1], int) else None
        key = next((part for part in trail[1:] if isinstance(part, str)), "")
        if isinstance(value, bool):
            raise problem(
                f"{where} is {str(value).lower()} inside an array, which pipenv cannot hash",
                f'Quote it ("{str(value).lower()}") or remove it.',
                trail[0],
                key,
                index=index,
            )
        raise problem(
            f"{where} is a TOML date/time, which pipenv cannot hash",
            "Quote the value to make it a string.",
            trail[0],
            key,
            index=index,
        )


def _unhashable(value: Any, trail: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, datetime.date | datetime.time):
        yield trail, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unhashable(item, (*trail, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, bool):
                yield (*trail, index), item
            else:
                yield from _unhashable(item, (*trail, index))


def _is_list_of_tables(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"a {type(value).__name__}"


class Lines:
    """Finds the line where a table or key is written, for `Problem.line` (a best effort)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")

    def __init__(self, text: str):
        self.lines = text.split("\n")

    def find(self, table: str, key: str = "", *, index: int | None = None) -> int | None:
        """The line of `key` in table `table` (its `index`-th occurrence for [[arrays]]).

        Falls back to the table's header, then to a top-level `table = ...` line.
        """
        headers = [i for i, line in enumerate(self.lines) if self._header(line) == [table]]
        if index is not None:
            headers = headers[index : index + 1]
        for start in headers:
            if key:
                end = next(
                    (i for i in range(start + 1, len(self.lines)) if self._header(self.lines[i])),
                    len(self.lines),
                )
                for i in range(start + 1, end):
                    if _assigns(self.lines[i], key):
                        return i + 1
                subtable = [table, key]
                for i in range(start + 1, len(self.lines)):
                    if self._header(self.lines[i]) == subtable:
                        return i + 1
            return start + 1
        for i, line in enumerate(self.lines):
            if key and self._header(line) == [table, key]:
                return i + 1
        for i, line in enumerate(self.lines):
            if _assigns(line, table):
                return i + 1
        return None

    def _header(self, line: str) -> list[str] | None:
        found = self._HEADER.match(line)
        return _split_key(found["name"]) if found else None


def _assigns(line: str, key: str) -> bool:
    """Whether `line` starts with `key =` or `key.` (bare or quoted)."""
    pattern = rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*[=.]"""
    return re.match(pattern, line) is not None


def _split_key(dotted: str) -> list[str]:
    """`packages."zope.interface"` -> ["packages", "zope.interface"] (no escapes in quotes)."""
    parts = re.findall(r"""\s*("[^"]*"|'[^']*'|[^.\s]+)\s*(?:\.|$)""", dotted)
    return [part[1:-1] if part[:1] in "\"'" and len(part) > 1 else part for part in parts]
