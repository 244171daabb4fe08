"""A job that never finished, however often it was started (it stopped the bot each time: out
of memory, a crash), is not run again. This says so, once, where the job's own failure would
have been said (SPEC §7.6): the failure issue and the commit's status for a push or an
onboarding, the guidance comment and the status for a merge request, a reply to a command."""

from __future__ import annotations

from handlers import render
from handlers.context import Context
from handlers.ensure import ensure_comment, report_failure
from handlers.events import CommentEvent, Event, MergeRequestEvent, OnboardEvent, PushEvent
from handlers.forge import CommitStatus, ForgeError
from handlers.problems import Problem
from handlers.proposal import read_branch

WHERE = "thoth-bot"


def abandoned(starts: int) -> Problem:
    return Problem(
        WHERE,
        f"thoth-bot started this work {starts} times and it never finished: it stopped the "
        "bot each time (out of memory, or a crash), so the bot gave it up",
        fix="Look for what is unusual in this change (a very large or deeply nested file, a "
        "huge dependency tree) and push a fix; the bot's operator can see the job in its logs.",
    )


async def give_up(event: Event, ctx: Context, starts: int) -> None:
    problem = abandoned(starts)
    if isinstance(event, PushEvent | OnboardEvent):
        if isinstance(event, PushEvent):
            repo = event.repo
        else:
            repo = await ctx.forge.repository(event.full_name)
        name = repo.full_name
        try:
            snapshot = await read_branch(ctx, repo, repo.default_branch)
        except ForgeError:
            ctx.log.warning("gave up a job on %s, which has no default branch", name)
            return
        await report_failure(
            ctx.forge,
            repo,
            branch=snapshot.branch,
            snapshot=snapshot,
            problems=[problem],
            labels=ctx.policy.labels,
        )
    elif isinstance(event, MergeRequestEvent):
        request = await ctx.forge.merge_request(event.repo, event.number)
        await ensure_comment(
            ctx.forge,
            event.repo,
            event.number,
            request.bot_comments,
            render.GUIDANCE_MARKER,
            render.failure_comment([problem], ctx.forge.words),
        )
        description = render.status_description([problem])
        await ctx.forge.set_status(
            event.repo, event.head_sha, CommitStatus("failure", description)
        )
    elif isinstance(event, CommentEvent):
        await ctx.forge.create_comment(
            event.repo, event.number, f"@{event.author.login} {problem.message}. {problem.fix}\n"
        )
