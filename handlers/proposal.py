"""The bot's ONE merge request per base branch: plan it, rebuild it, or close it (SPEC §7.1).

Shared by the push handler, onboarding and `/thoth refresh`: each reads the base branch
(`read_branch`, the forge's `Snapshot`) and what a lock needs at its head (`read_checkout`),
then calls `update_lock_request` with the environments it wants advised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from handlers import annotations, render
from handlers.context import Context, lock_branch_name
from handlers.ensure import ensure_comment, ensure_lock_request
from handlers.forge import CommitStatus, FileContent, MergeRequest, Repo, Snapshot
from handlers.pipfile import parse_pipfile
from handlers.pipfile_lock import parse_lock
from handlers.plan import LockPlan, paths_to_read, plan_locks, read_config
from handlers.problems import Problem
from handlers.repo_config import CONFIG_PATH, RepoConfig, RuntimeEnvironment

# What `update_lock_request` did.
OPENED, UPDATED, UNCHANGED, CLOSED, NOTHING, HUMAN_EDITED = (
    "opened", "updated", "unchanged", "closed", "nothing to do", "edited by someone else",
)  # fmt: skip


@dataclass(frozen=True)
class Checkout:
    """One consistent read of a commit (a branch's head, a merge request's): its configuration
    and every file a lock needs."""

    repo: Repo
    sha: str
    config: RepoConfig
    files: dict[str, FileContent | None]


@dataclass(frozen=True)
class Result:
    outcome: str
    merge_request: MergeRequest | None = None
    plan: LockPlan | None = None  # what the merge request proposes, when it was written


async def report_proposal(ctx: Context, base: Checkout, result: Result) -> None:
    """The report on the branch's head when its merge request was opened or changed: the
    guidance and the notes on its Pipfiles (GitHub: the head's check run)."""
    if result.plan is None or result.outcome not in (OPENED, UPDATED, HUMAN_EDITED):
        return
    plan = result.plan
    if result.outcome == HUMAN_EDITED and result.merge_request is not None:
        reference = ctx.forge.words.reference(result.merge_request.number)
        await ctx.forge.set_status(
            base.repo,
            base.sha,
            CommitStatus(
                "action_required",
                f"Someone's commits are on thoth-bot's branch: `/thoth refresh` on {reference} "
                "rebuilds it",
                summary=render.proposal_summary(plan, ctx.forge.words),
            ),
        )
        return
    where = (
        f"Proposed in {ctx.forge.words.reference(result.merge_request.number)}"
        if result.merge_request is not None
        else "Proposed"
    )
    await ctx.forge.set_status(
        base.repo,
        base.sha,
        CommitStatus(
            "success",
            f"{where}: " + ", ".join(lock.environment.name for lock in plan.locks),
            summary=render.proposal_summary(plan, ctx.forge.words),
            annotations=annotations.of_plan(plan, base.files),
            warnings=any(
                g.type in ("WARNING", "ERROR") for lock in plan.locks for g in lock.guidance
            ),
        ),
    )


async def read_branch(ctx: Context, repo: Repo, branch: str) -> Snapshot:
    """The branch's head with its root files, the bot's branch and merge request for it."""
    return await ctx.forge.snapshot(
        repo, branch=branch, paths=paths_to_read(), lock_branch=lock_branch_name(branch)
    )


async def read_checkout(
    ctx: Context, repo: Repo, sha: str, files: Mapping[str, FileContent | None] | None = None
) -> Checkout:
    """The configuration at `sha` and every file its runtime environments need, read at that
    commit (`files`: those already read there). Raises `Problems`."""
    found = dict(files) if files is not None else {}
    missing = [path for path in paths_to_read() if path not in found]
    if missing:
        found.update(await ctx.forge.read_files(repo, sha=sha, paths=missing))
    config = read_config(found, ctx.policy)
    missing = [path for path in paths_to_read(config) if path not in found]
    if missing:
        found.update(await ctx.forge.read_files(repo, sha=sha, paths=missing))
    return Checkout(repo=repo, sha=sha, config=config, files=found)


async def advise(
    ctx: Context,
    repo: Repo,
    config: RepoConfig,
    files: Mapping[str, FileContent | None],
    environments: Sequence[RuntimeEnvironment],
    *,
    force: bool = False,
    hooks: bool | None = None,
    recommendation_type: str | None = None,
) -> LockPlan:
    """`plan_locks` with the job's adviser, policy and retry rule. Raises `Problems`."""
    return await plan_locks(
        adviser=ctx.adviser,
        policy=ctx.policy,
        config=config,
        environments=environments,
        files=files,
        origin=repo.web_url,
        force=force,
        report_retryable=ctx.last_attempt,
        hooks=hooks,
        recommendation_type=recommendation_type,
    )


def bot_edited(snapshot: Snapshot) -> bool:
    """Whether the bot's branch holds only the bot's own commit (or does not exist)."""
    head = snapshot.lock_branch
    return head is None or render.DIGEST_TRAILER in head.message


async def update_lock_request(
    ctx: Context,
    snapshot: Snapshot,
    base: Checkout,
    environments: Sequence[RuntimeEnvironment],
    *,
    force: bool = False,
    rebuild: bool = False,
    extra: Mapping[str, FileContent] | None = None,
) -> Result:
    """Advise `environments` and make the bot's merge request propose what differs.

    Locks the open merge request already proposes for other environments are kept while they
    still match their Pipfile, and so is an added `.thoth.yaml` while the base lacks one. If
    nothing differs, an open merge request is closed. Someone else's commits on the bot's
    branch are never overwritten unless `rebuild` (`/thoth refresh`). `base` is the checkout
    of `snapshot`'s head. Raises `Problems`.
    """
    repo, branch = base.repo, snapshot.branch
    plan = await advise(ctx, repo, base.config, base.files, environments, force=force)
    plan = await _carry_over(ctx, snapshot, base, environments, plan, extra or {})
    request = snapshot.merge_request
    if not plan.files:
        if request is None:
            return Result(NOTHING)
        await ctx.forge.create_comment(
            repo, request.number, render.superseded_comment(branch, ctx.forge.words)
        )
        await ctx.forge.close_merge_request(repo, request.number)
        return Result(CLOSED, request)
    if request is not None and not rebuild and not bot_edited(snapshot):
        await ensure_comment(
            ctx.forge,
            repo,
            request.number,
            request.bot_comments,
            render.HUMAN_EDIT_MARKER,
            render.human_edit_comment(lock_branch_name(branch), ctx.forge.words),
        )
        return Result(HUMAN_EDITED, request, plan)
    labels = base.config.labels if base.config.labels is not None else ctx.policy.labels
    merge_request, changed = await ensure_lock_request(
        ctx.forge,
        repo,
        base=branch,
        lock_branch=lock_branch_name(branch),
        snapshot=snapshot,
        plan=plan,
        labels=labels,
    )
    outcome = OPENED if request is None else UPDATED if changed else UNCHANGED
    return Result(outcome, merge_request, plan)


async def _carry_over(
    ctx: Context,
    snapshot: Snapshot,
    base: Checkout,
    environments: Sequence[RuntimeEnvironment],
    plan: LockPlan,
    extra: Mapping[str, FileContent],
) -> LockPlan:
    """Add `extra` files, and keep what the open merge request proposes beyond this advise.

    The branch is rebuilt as one commit on the new head; a lock it already proposed for another
    environment stays in it while that lock still matches the environment's Pipfile, and an
    added `.thoth.yaml` stays while the base branch has none.
    """
    files = base.files
    carried = dict(plan.files)
    carried.update({path: content for path, content in extra.items() if files.get(path) != content})
    others = [env for env in base.config.environments if env not in environments]
    if snapshot.merge_request is not None and snapshot.lock_branch is not None:
        listed = render.committed_paths(snapshot.lock_branch.message)
        candidates = [env.lock_path for env in others if env.lock_path in listed]
        if files.get(CONFIG_PATH) is None and CONFIG_PATH not in carried and CONFIG_PATH in listed:
            candidates.append(CONFIG_PATH)
        proposed = await ctx.forge.read_files(
            base.repo, sha=snapshot.lock_branch.sha, paths=candidates
        )
        for env in others:
            lock, pipfile = proposed.get(env.lock_path), files.get(env.pipfile_path)
            current = files.get(env.lock_path)
            if lock is None or pipfile is None or (current and current.text == lock.text):
                continue
            if _lock_matches(env, lock, pipfile):
                carried[env.lock_path] = lock
        if proposed.get(CONFIG_PATH) is not None:
            carried[CONFIG_PATH] = proposed[CONFIG_PATH]  # type: ignore[assignment]
    return dataclasses.replace(plan, files=carried, config_added=CONFIG_PATH in carried)


def _lock_matches(env: RuntimeEnvironment, lock: FileContent, pipfile: FileContent) -> bool:
    try:
        expected = parse_pipfile(env.pipfile_path, pipfile.text).hash
    except Problem:
        return False
    data = parse_lock(env.lock_path, lock.text) or {}
    return data.get("_meta", {}).get("hash", {}).get("sha256") == expected
