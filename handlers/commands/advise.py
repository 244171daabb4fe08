"""`/thoth advise [ENV...] [--force]`: advise the head again and refresh the guidance comment."""

from __future__ import annotations

import re
from collections.abc import Sequence

from handlers.commands.parse import Command
from handlers.context import Context
from handlers.events import CommentEvent
from handlers.forge import MergeRequest
from handlers.merge_request import advise_merge_request

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def check(args: Sequence[str]) -> str | None:
    for arg in args:
        if arg.startswith("-") and arg != "--force":
            return f"`/thoth advise` knows only `--force`, not `{arg}`."
        if not arg.startswith("-") and not _NAME.match(arg):
            return f"`{arg}` is not a runtime environment name."
    return None


async def run(ctx: Context, event: CommentEvent, request: MergeRequest, command: Command) -> str:
    names = [arg for arg in command.args if not arg.startswith("-")]
    try:
        return await advise_merge_request(
            ctx, event.repo, request, names=names, force="--force" in command.args
        )
    except ValueError as error:
        return f"`{command.line}`: {error}."
