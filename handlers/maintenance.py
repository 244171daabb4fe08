"""Lock maintenance: a repository whose Pipfiles do not change is re-advised all the same, on
its schedule or when an advisory concerns its lock, so that its lock does not rot.

The default branch is advised with its Pipfiles as they are (no cached result); when a lock
would change, the bot's ONE merge request is opened or refreshed (`update_lock_request`), its
table saying what changed and why. Repositories without a Pipfile get nothing; a repository
whose `thoth-bot` manager says `schedule: off` gets no scheduled run (advisories still count).
"""

from __future__ import annotations

from handlers.context import Context
from handlers.ensure import report_failure, resolve_failure
from handlers.events import MaintainEvent
from handlers.forge import NotFound
from handlers.plan import Problems
from handlers.proposal import read_branch, read_checkout, report_proposal, update_lock_request
from handlers.served import note_checkout


async def on_maintain(event: MaintainEvent, ctx: Context) -> None:
    try:
        repo = await ctx.forge.repository(event.full_name)
        snapshot = await read_branch(ctx, repo, repo.default_branch)
    except NotFound:
        ctx.log.info("%s or its default branch is gone: nothing to maintain", event.full_name)
        return
    try:
        base = await read_checkout(ctx, repo, snapshot.sha, snapshot.files)
        await note_checkout(ctx.served, repo.full_name, base.config, base.files)
        if event.reason == "schedule" and base.config.schedule == "off":
            ctx.log.info("%s turned scheduled maintenance off", repo.full_name)
            return
        present = [env for env in base.config.environments if base.files.get(env.pipfile_path)]
        if not present:
            ctx.log.info("%s has no Pipfile: nothing to maintain", repo.full_name)
            return
        result = await update_lock_request(ctx, snapshot, base, present, force=True)
        await report_proposal(ctx, base, result)
        ctx.log.info("maintained %s (%s): %s", repo.full_name, event.reason, result.outcome)
    except Problems as failure:
        await report_failure(
            ctx.forge,
            repo,
            branch=snapshot.branch,
            snapshot=snapshot,
            problems=failure.problems,
            labels=ctx.policy.labels,
        )
        return
    await resolve_failure(ctx.forge, repo, branch=snapshot.branch, snapshot=snapshot)
