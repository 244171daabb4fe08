"""`/thoth advise [ENV...] [--force] [--type TYPE]`: advise the head again and refresh the
guidance comment; with `--type`, say what that recommendation type would lock instead."""

from __future__ import annotations

import re
from collections.abc import Sequence

from handlers.commands.parse import Command
from handlers.context import Context
from handlers.events import CommentEvent
from handlers.forge import MergeRequest
from handlers.merge_request import advise_merge_request
from handlers.render import code
from handlers.repo_config import RECOMMENDATION_TYPES

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def check(args: Sequence[str]) -> str | None:
    try:
        _, names, _ = _options(args)
    except ValueError as error:
        return str(error)
    for name in names:
        if not _NAME.match(name):
            return f"{code(name)} is not a runtime environment name."
    return None


def _options(args: Sequence[str]) -> tuple[bool, list[str], str | None]:
    """(--force, the environments named, --type's type)."""
    force, names, kind = False, [], None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--force":
            force = True
        elif arg == "--type" or arg.startswith("--type="):
            kind = arg.partition("=")[2] or (rest.pop(0) if rest else "")
            if kind not in RECOMMENDATION_TYPES:
                types = ", ".join(f"`{t}`" for t in RECOMMENDATION_TYPES)
                raise ValueError(f"`--type` takes one of {types}, not {code(kind)}.")
        elif arg.startswith("-"):
            raise ValueError(f"`/thoth advise` knows only `--force` and `--type`, not {code(arg)}.")
        else:
            names.append(arg)
    return force, names, kind


async def run(ctx: Context, event: CommentEvent, request: MergeRequest, command: Command) -> str:
    force, names, kind = _options(command.args)
    try:
        return await advise_merge_request(
            ctx, event.repo, request, names=names, force=force, recommendation_type=kind
        )
    except ValueError as error:
        return f"{code(command.line)}: {error}."
