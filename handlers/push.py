"""A push to the default branch that changes a runtime environment's Pipfile (SPEC §7.1)."""

from __future__ import annotations

from handlers.context import Context
from handlers.ensure import report_failure, resolve_failure
from handlers.events import PushEvent
from handlers.plan import Problems, relevant_path
from handlers.proposal import (
    Checkout,
    read_branch,
    read_checkout,
    report_proposal,
    update_lock_request,
)
from handlers.repo_config import CONFIG_PATH, RuntimeEnvironment
from handlers.served import note_checkout


def wants_push(event: PushEvent) -> bool:
    """Cheap, payload-only filter: pushes to the default branch that may touch a Pipfile, a
    lock, the hooks or `.thoth.yaml`."""
    if event.deleted or event.branch != event.repo.default_branch:
        return False
    if event.changed_paths is None:
        return True  # the payload does not say; the handler will ask the forge
    return any(relevant_path(path) for path in event.changed_paths)


async def on_push(event: PushEvent, ctx: Context) -> None:
    if not wants_push(event) or await ctx.forge.is_self(event.sender):
        return
    repo = event.repo
    snapshot = await read_branch(ctx, repo, repo.default_branch)
    try:
        base = await read_checkout(ctx, repo, snapshot.sha, snapshot.files)
        await note_checkout(ctx.served, repo.full_name, base.config, base.files)
        affected = await _affected(ctx, event, base, open_request=bool(snapshot.merge_request))
        if not affected:
            ctx.log.info("push to %s changes no runtime environment's Pipfile", repo.full_name)
            return
        result = await update_lock_request(ctx, snapshot, base, affected)
        await report_proposal(ctx, base, result)
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


async def _affected(
    ctx: Context, event: PushEvent, base: Checkout, *, open_request: bool
) -> list[RuntimeEnvironment]:
    """Runtime environments to advise: those whose Pipfile the push changed, all of them when it
    changed `.thoth.yaml`, and all of them when it changed a lock or hook while the bot's merge
    request is open (it may hold what the push brought, and then be closed)."""
    environments = list(base.config.environments)
    if event.changed_paths is not None:
        changed: frozenset[str] | None = event.changed_paths
    elif event.created:
        changed = None  # a new branch: nothing to compare with, every environment counts
    else:
        changed = await ctx.forge.changed_paths(event.repo, base=event.before, head=event.after)
    if changed is None or CONFIG_PATH in changed:
        return environments
    affected = [env for env in environments if env.pipfile_path in changed]
    if not affected and open_request:
        return environments if any(relevant_path(path) for path in changed) else []
    return affected
