"""What the bot reads from a repository, bounded: every limit in one place (SPEC §10).

A repository is written by strangers; the bot keeps serving every other repository whatever
one of them holds. Each file has a size cap, nested data a depth cap, and the things that
multiply work (runtime environments, categories, packages, commands) a count cap. The caps are
far above real files (`docs/security.md` says where they come from); going over one is a
`Problem` that names the file and the limit, posted like every other failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handlers.problems import Problem

# The largest real files seen (bench/corpus, Thoth's own repositories): a Pipfile of 2 KiB with
# 80 packages, a .thoth.yaml of 1 KiB with 3 runtime environments, a lock of 600 KiB.
PIPFILE_BYTES = 64 * 1024
CONFIG_BYTES = 32 * 1024  # parsed in about 30 ms at most (libyaml)
LOCK_BYTES = 8 * 1024 * 1024
DEPTH = 12  # nesting of mappings and lists in a Pipfile or .thoth.yaml
RUNTIME_ENVIRONMENTS = 20
CATEGORIES = 20  # package categories of one Pipfile ([packages], [dev-packages], custom)
PACKAGES = 500  # packages of one category
COMMANDS = 5  # /thoth commands acted on in one comment


def check_size(path: str, text: str, limit: int) -> None:
    """A Problem when `text` (the file at `path`) is over `limit` bytes."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > limit:
        raise Problem(
            path,
            f"is {size:,} bytes, over thoth-bot's limit of {limit:,} bytes for this file",
            fix="Keep the file under the limit (real ones are a few KiB); move what is not "
            "configuration elsewhere.",
            line=1,
        )


def too_deep(path: str, limit: int = DEPTH) -> Problem:
    return Problem(
        path,
        f"nests tables or lists more than {limit} levels deep, over thoth-bot's limit",
        fix="Flatten the file: real ones nest three or four levels.",
        line=1,
    )


def check_depth(path: str, data: Any, limit: int = DEPTH) -> None:
    """A Problem when mappings and lists in `data` nest deeper than `limit`."""
    level = [(data, 1)]
    while level:
        value, depth = level.pop()
        if isinstance(value, Mapping):
            children: Sequence[Any] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            raise too_deep(path, limit)
        level += [(child, depth + 1) for child in children]


def check_count(path: str, what: str, count: int, limit: int, line: int | None = None) -> None:
    """A Problem when a file holds more than `limit` of `what`."""
    if count > limit:
        raise Problem(
            path,
            f"has {count} {what}, over thoth-bot's limit of {limit}",
            fix=f"Keep to {limit} {what} at most; split the repository's stacks otherwise.",
            line=line,
        )
