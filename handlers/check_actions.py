"""The buttons of the bot's report on a commit (GitHub's check runs): "Re-run" advises the
head again (a merge request's, or the default branch's); the actions "Lock this PR" and
"Advise --force" do what `/thoth lock` and `/thoth advise --force` do, for the same people
(write access: one refusal per person and merge request), and reply in the merge request."""

from __future__ import annotations

from handlers import commands, render
from handlers.commands.parse import Command
from handlers.comments import WRITE_ROLES
from handlers.context import Context
from handlers.events import CheckEvent, CommentEvent, MaintainEvent
from handlers.maintenance import on_maintain
from handlers.merge_request import advise_merge_request

# What each of the report's actions (`actions.py`) runs.
_COMMANDS = {
    "lock": Command("lock", (), "/thoth lock"),
    "advise-force": Command("advise", ("--force",), "/thoth advise --force"),
}


def wants_check(event: CheckEvent) -> bool:
    return event.action == "rerun" or event.action in _COMMANDS


async def on_check(event: CheckEvent, ctx: Context) -> None:
    forge, repo = ctx.forge, event.repo
    if event.number is None:  # a branch's head, not a merge request's
        if event.action == "rerun":
            await on_maintain(MaintainEvent(repo.full_name, reason="rerun"), ctx)
        return
    request = await forge.merge_request(repo, event.number)
    if request.head_sha != event.head_sha:
        ctx.log.info("%s moved on from %s: its new head has its own report", repo, event.head_sha)
        return
    if event.action == "rerun":
        await advise_merge_request(ctx, repo, request, force=True)
        return
    login = event.sender.login
    if await forge.permission(repo, event.sender) not in WRITE_ROLES:
        marker = render.refusal_marker(login)
        if not any(marker in comment.body for comment in request.bot_comments):
            await forge.create_comment(repo, event.number, render.refusal(login, forge.words))
        return
    command = _COMMANDS[event.action]
    pressed = CommentEvent(
        repo=repo,
        number=event.number,
        on_merge_request=True,
        comment_id=0,
        body=command.line,
        author=event.sender,
    )
    answer = await commands.COMMANDS[command.name](ctx, pressed, request, command)
    await forge.create_comment(
        repo, event.number, render.command_reply(login, [(command.line, answer)], forge.words)
    )
