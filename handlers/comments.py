"""Comments on merge requests: run the `/thoth` commands in them (SPEC §7.3).

Bots, the bot itself included, are never answered. People without write access get a short
refusal; the others get an `eyes` reaction at once and one reply with what each command did.
"""

from __future__ import annotations

import logging

from handlers import commands, limits, render
from handlers.context import Context
from handlers.events import CommentEvent

log = logging.getLogger(__name__)
WRITE_ROLES = frozenset({"admin", "maintain", "write"})


def wants_comment(event: CommentEvent) -> bool:
    """Payload-only: a person's comment on a merge request with a `/thoth` line."""
    return (
        event.on_merge_request
        and not event.author.is_bot
        and bool(commands.parse_commands(event.body))
    )


async def on_comment(event: CommentEvent, ctx: Context) -> None:
    if not wants_comment(event) or await ctx.forge.is_self(event.author):
        return
    forge, repo, login = ctx.forge, event.repo, event.author.login
    if not await forge.comment_as_delivered(
        repo, event.number, event.comment_id, event.author, event.body
    ):
        log.warning("ignored a comment the forge does not hold as delivered: %s", event.comment_id)
        return
    if await forge.permission(repo, event.author) not in WRITE_ROLES:
        await _refuse(ctx, event)
        return
    await forge.react(repo, event.number, event.comment_id, "eyes")
    request = await forge.merge_request(repo, event.number)
    answers = []
    found = commands.parse_commands(event.body)
    found, skipped = found[: limits.COMMANDS], found[limits.COMMANDS :]
    for command in found:
        problem = commands.check(command)
        if problem is not None:
            answers.append((command.line, f"{problem}\n\n{commands.help_text(forge.words)}"))
            continue
        answers.append(
            (command.line, await commands.COMMANDS[command.name](ctx, event, request, command))
        )
    if skipped:
        answers.append(
            (
                skipped[0].line,
                f"Not run, nor the {len(skipped) - 1} `/thoth` line(s) after it: thoth-bot runs "
                f"at most {limits.COMMANDS} commands of one comment. Post the others in another.",
            )
        )
    await forge.create_comment(
        repo, event.number, render.command_reply(login, answers, forge.words)
    )


async def _refuse(ctx: Context, event: CommentEvent) -> None:
    """One refusal comment per person and merge request; later ones get a reaction only."""
    forge, repo = ctx.forge, event.repo
    marker = render.refusal_marker(event.author.login)
    request = await forge.merge_request(repo, event.number)
    if any(marker in comment.body for comment in request.bot_comments):
        await forge.react(repo, event.number, event.comment_id, "confused")
        return
    await forge.create_comment(repo, event.number, render.refusal(event.author.login, forge.words))
