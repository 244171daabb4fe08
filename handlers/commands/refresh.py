"""`/thoth refresh`: rebuild the bot's own merge request from its base, fresh advice, even over
other people's commits on the bot's branch."""

from __future__ import annotations

from handlers import render
from handlers.commands.parse import Command
from handlers.context import Context
from handlers.events import CommentEvent
from handlers.forge import MergeRequest
from handlers.merge_request import is_lock_request
from handlers.plan import Problems
from handlers.proposal import (
    CLOSED,
    NOTHING,
    OPENED,
    read_branch,
    read_checkout,
    update_lock_request,
)


async def run(ctx: Context, event: CommentEvent, request: MergeRequest, command: Command) -> str:
    words = ctx.forge.words
    if not is_lock_request(request):
        return (
            f"`/thoth refresh` rebuilds thoth-bot's own {words.merge_request}; this one is not. "
            "`/thoth lock` commits refreshed locks to this branch."
        )
    base_branch = request.target_branch
    try:
        snapshot = await read_branch(ctx, event.repo, base_branch)
        base = await read_checkout(ctx, event.repo, snapshot.sha, snapshot.files)
        result = await update_lock_request(
            ctx, snapshot, base, base.config.environments, force=True, rebuild=True
        )
    except Problems as failure:
        return render.problems_reply(failure.problems)
    if result.outcome in (CLOSED, NOTHING):
        return f"`{base_branch}` already holds up-to-date locks and hooks: nothing to propose."
    pull = result.merge_request
    where = (
        words.reference(pull.number) if pull is not None and pull.number != request.number else "it"
    )
    if result.outcome == OPENED:
        return f"Rebuilt the locks on top of `{base_branch}` and opened {where}."
    return f"Rebuilt this {words.merge_request} as one commit on top of `{base_branch}`."
