"""A merge request that changes a runtime environment's Pipfile gets advice (SPEC §7.2).

Its head is advised for the hardware of each environment it touches; the result is ONE sticky
guidance comment (found again by its marker and edited) and a `thoth-bot/advise` status on the
head commit. Nothing is ever pushed here: forks are advised read-only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from handlers import annotations, render
from handlers.actions import ACTIONS
from handlers.context import Context, lock_branch_name
from handlers.ensure import ensure_comment
from handlers.events import MergeRequestEvent
from handlers.forge import SHOWN_AS_STATUS, CommitStatus, MergeRequest, Repo
from handlers.plan import LockPlan, Problems, relevant_path
from handlers.proposal import Checkout, advise, read_checkout
from handlers.repo_config import CONFIG_PATH, RepoConfig, RuntimeEnvironment


def is_lock_request(request: MergeRequest | MergeRequestEvent) -> bool:
    """Whether this is the bot's own merge request (its branch, in the same repository)."""
    return not request.from_fork and request.source_branch == lock_branch_name(
        request.target_branch
    )


async def on_merge_request(event: MergeRequestEvent, ctx: Context) -> None:
    if is_lock_request(event):
        return  # the bot's own pull request: its guidance is kept by the lock request itself
    changed = await ctx.forge.merge_request_paths(event.repo, event.number)
    if not any(relevant_path(path) for path in changed):
        return
    request = await ctx.forge.merge_request(event.repo, event.number)
    await advise_merge_request(ctx, event.repo, request, changed=changed)


async def advise_merge_request(
    ctx: Context,
    repo: Repo,
    request: MergeRequest,
    *,
    changed: frozenset[str] | None = None,
    names: Sequence[str] = (),
    force: bool = False,
    recommendation_type: str | None = None,
) -> str:
    """Advise the head for the environments whose Pipfile `changed` touches (all when None, or
    those `names`), keep the sticky guidance comment and the status. Returns one line for a
    reply. Environments named but not declared are a `ValueError`.

    With `recommendation_type`, what that type would lock instead, as the reply, and nothing
    else changes."""
    sha = request.head_sha
    forge = ctx.forge
    try:
        head = await read_checkout(ctx, repo, sha)
        environments = _select(head.config, changed, names)
        if not environments:
            return "No runtime environment's Pipfile changes here: nothing to advise."
        if recommendation_type is not None:
            return await _preview(ctx, repo, head, environments, sha, recommendation_type, force)
        await forge.set_status(
            repo, sha, CommitStatus("pending", "Thoth is advising " + _names(environments))
        )
        plan = await advise(
            ctx, repo, head.config, head.files, environments, force=force, hooks=False
        )
    except Problems as failure:
        comment = render.failure_comment(failure.problems, ctx.forge.words, repo.web_url, sha)
        await _sticky(ctx, repo, request, comment)
        description = render.status_description(failure.problems)
        report = CommitStatus(
            "failure",
            description,
            summary=render.unmarked(comment),
            annotations=annotations.of_problems(failure.problems),
        )
        await _report(ctx, repo, request, report)
        return f"Advising failed: {description}. The guidance comment says how to fix it."
    guidance = render.merge_request_guidance(plan, sha, ctx.forge.words)
    await _sticky(ctx, repo, request, guidance)
    summary = _summary(plan)
    report = CommitStatus(
        "success",
        summary,
        summary=render.unmarked(guidance),
        annotations=annotations.of_plan(plan, head.files),
        warnings=any(g.type in ("WARNING", "ERROR") for lock in plan.locks for g in lock.guidance),
    )
    await _report(ctx, repo, request, report)
    return summary


async def _report(ctx: Context, repo: Repo, request: MergeRequest, report: CommitStatus) -> None:
    """The report on the head; where the forge could show it in full but was not allowed to
    (a GitHub App without `checks: write`), said once in the merge request."""
    report = dataclasses.replace(report, actions=ACTIONS)
    shown = await ctx.forge.set_status(repo, request.head_sha, report)
    if shown == SHOWN_AS_STATUS and ctx.forge.words.checks:
        await ensure_comment(
            ctx.forge,
            repo,
            request.number,
            request.bot_comments,
            render.CHECKS_MARKER,
            render.checks_notice(ctx.forge.words),
        )


async def _preview(
    ctx: Context,
    repo: Repo,
    head: Checkout,
    environments: Sequence[RuntimeEnvironment],
    sha: str,
    recommendation_type: str,
    force: bool,
) -> str:
    """What `recommendation_type` would lock, said in the reply only."""
    try:
        plan = await advise(
            ctx,
            repo,
            head.config,
            head.files,
            environments,
            force=force,
            hooks=False,
            recommendation_type=recommendation_type,
        )
    except Problems as failure:
        return (
            f"Recommendation type `{recommendation_type}` finds no lock: "
            f"{render.status_description(failure.problems)}."
        )
    return render.type_preview(plan, sha, recommendation_type, ctx.forge.words)


def _select(
    config: RepoConfig, changed: frozenset[str] | None, names: Sequence[str]
) -> list[RuntimeEnvironment]:
    environments = list(config.environments)
    if names:
        known = {env.name for env in environments}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"no runtime environment named {', '.join(unknown)}; this repository has "
                f"{', '.join(sorted(known)) or 'none'}"
            )
        return [env for env in environments if env.name in names]
    if changed is None or CONFIG_PATH in changed:
        return environments
    return [env for env in environments if env.pipfile_path in changed]


async def _sticky(ctx: Context, repo: Repo, request: MergeRequest, body: str) -> None:
    await ensure_comment(
        ctx.forge, repo, request.number, request.bot_comments, render.GUIDANCE_MARKER, body
    )


def _names(environments: Sequence[RuntimeEnvironment]) -> str:
    return ", ".join(env.name for env in environments)


def _summary(plan: LockPlan) -> str:
    stale = [lock.environment.name for lock in plan.locks if lock.changed]
    advised = ", ".join(lock.environment.name for lock in plan.locks)
    if not stale:
        return f"Advised {advised}: the locks are up to date"
    return f"Advised {advised}: the lock of {', '.join(stale)} needs refreshing (/thoth lock)"
