"""What `/thoth lock` and `/thoth hooks` share: commit refreshed files to the merge request's
own branch, as one commit on top of its head (never a force-push: it is someone else's)."""

from __future__ import annotations

from handlers import render
from handlers.context import Context
from handlers.events import CommentEvent
from handlers.forge import BranchMoved, MergeRequest
from handlers.merge_request import is_lock_request
from handlers.plan import Problems
from handlers.proposal import advise, read_branch, read_checkout


async def commit_refreshed(
    ctx: Context, event: CommentEvent, request: MergeRequest, *, locks: bool, hooks: bool
) -> str:
    what = "locks" if locks else "`.s2i` hooks"
    noun = ctx.forge.words.merge_request
    if request.from_fork:
        return (
            f"This {noun}'s branch lives in a fork, where thoth-bot cannot push. Its "
            f"author can refresh the {what} with `thoth-bot advise . --write`, or give the "
            "branch to this repository."
        )
    if is_lock_request(request):
        return f"This is thoth-bot's own {noun}: rebuild it with `/thoth refresh`."
    branch = request.source_branch
    try:
        snapshot = await read_branch(ctx, event.repo, branch)
        base = await read_checkout(ctx, event.repo, snapshot.sha, snapshot.files)
        environments = base.config.environments if locks else ()
        plan = await advise(ctx, event.repo, base.config, base.files, environments, hooks=hooks)
    except Problems as failure:
        return render.problems_reply(failure.problems)
    if not plan.files:
        return f"The {what} on `{branch}` are already up to date."
    try:
        sha = await ctx.forge.commit_files(
            event.repo,
            branch=branch,
            parent=base.sha,
            files=plan.files,
            message=render.branch_commit_message(
                plan, event.author.login, request.number, ctx.forge.words
            ),
            force=False,
        )
    except BranchMoved:
        return f"`{branch}` moved while thoth-bot worked on it: run the command again."
    paths = ", ".join(f"`{path}`" for path in sorted(plan.files))
    return f"Committed {paths} to `{branch}` ({sha[:12]})."
