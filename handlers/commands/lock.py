"""`/thoth lock`: commit the refreshed locks to the merge request's own branch."""

from __future__ import annotations

from handlers.commands.branch import commit_refreshed
from handlers.commands.parse import Command
from handlers.context import Context
from handlers.events import CommentEvent
from handlers.forge import MergeRequest


async def run(ctx: Context, event: CommentEvent, request: MergeRequest, command: Command) -> str:
    return await commit_refreshed(ctx, event, request, locks=True, hooks=False)
