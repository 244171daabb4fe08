"""A push to the default branch that changes a runtime environment's Pipfile (SPEC §7.1)."""

from __future__ import annotations

from collections.abc import Mapping

from handlers.context import Context, lock_branch_name
from handlers.ensure import ensure_lock_request, report_failure, resolve_failure
from handlers.events import PushEvent
from handlers.forge import FileContent, Repo, Snapshot
from handlers.lockfile import parse_lock
from handlers.locking import LockPlan, Problems, paths_to_read, plan_locks, read_config
from handlers.pipfile import parse_pipfile
from handlers.problems import Problem
from handlers.repo_config import CONFIG_PATH, RepoConfig, RuntimeEnvironment


def wants_push(event: PushEvent) -> bool:
    """Cheap, payload-only filter: pushes to the default branch that may touch a Pipfile."""
    if event.deleted or event.branch != event.repo.default_branch:
        return False
    if event.changed_paths is None:
        return True  # the payload does not say; the handler will ask the forge
    return any(_relevant(path) for path in event.changed_paths)


def _relevant(path: str) -> bool:
    return path == CONFIG_PATH or path.rsplit("/", 1)[-1] == "Pipfile"


async def on_push(event: PushEvent, ctx: Context) -> None:
    if not wants_push(event) or await ctx.forge.is_self(event.sender):
        return
    forge, repo, base = ctx.forge, event.repo, event.repo.default_branch
    lock_branch = lock_branch_name(base)
    snapshot = await forge.snapshot(
        repo, branch=base, paths=paths_to_read(), lock_branch=lock_branch
    )
    try:
        config = read_config(snapshot.files, ctx.policy)
        files = await _all_files(ctx, repo, snapshot, config)
        affected = await _affected(ctx, event, config)
        if not affected:
            ctx.log.info("push to %s changes no runtime environment's Pipfile", repo.full_name)
            return
        plan = await plan_locks(
            adviser=ctx.adviser,
            policy=ctx.policy,
            config=config,
            environments=affected,
            files=files,
            origin=repo.web_url,
            report_retryable=ctx.last_attempt,
        )
    except Problems as failure:
        await report_failure(
            forge,
            repo,
            branch=base,
            snapshot=snapshot,
            problems=failure.problems,
            labels=ctx.policy.labels,
        )
        return
    plan = await _carry_over(ctx, repo, snapshot, config, affected, files, plan)
    if plan.files:
        await ensure_lock_request(
            forge,
            repo,
            base=base,
            lock_branch=lock_branch,
            snapshot=snapshot,
            plan=plan,
            labels=config.labels if config.labels is not None else ctx.policy.labels,
        )
    await resolve_failure(forge, repo, branch=base, snapshot=snapshot)


async def _all_files(
    ctx: Context, repo: Repo, snapshot: Snapshot, config: RepoConfig
) -> dict[str, FileContent | None]:
    """The snapshot's files plus the overlays' ones, read at the same commit."""
    files = dict(snapshot.files)
    missing = [path for path in paths_to_read(config) if path not in files]
    if missing:
        files.update(await ctx.forge.read_files(repo, sha=snapshot.sha, paths=missing))
    return files


async def _affected(ctx: Context, event: PushEvent, config: RepoConfig) -> list[RuntimeEnvironment]:
    """Runtime environments whose Pipfile (or whose configuration) this push changed."""
    if event.changed_paths is not None:
        changed: frozenset[str] | None = event.changed_paths
    elif event.created:
        changed = None  # a new branch: nothing to compare with, every environment counts
    else:
        changed = await ctx.forge.changed_paths(event.repo, base=event.before, head=event.after)
    if changed is None or CONFIG_PATH in changed:
        return list(config.environments)
    return [env for env in config.environments if env.pipfile_path in changed]


async def _carry_over(
    ctx: Context,
    repo: Repo,
    snapshot: Snapshot,
    config: RepoConfig,
    affected: list[RuntimeEnvironment],
    files: Mapping[str, FileContent | None],
    plan: LockPlan,
) -> LockPlan:
    """Keep the open merge request's locks of environments this push did not touch.

    The branch is rebuilt as one commit on the new head; a lock it already proposed for another
    environment stays in it while that lock still matches the environment's Pipfile.
    """
    others = [env for env in config.environments if env not in affected]
    if not others or snapshot.merge_request is None or snapshot.lock_branch is None:
        return plan
    proposed = await ctx.forge.read_files(
        repo, sha=snapshot.lock_branch.sha, paths=[env.lock_path for env in others]
    )
    carried = dict(plan.files)
    for env in others:
        lock = proposed.get(env.lock_path)
        current = files.get(env.lock_path)
        pipfile = files.get(env.pipfile_path)
        if lock is None or pipfile is None or (current and current.text == lock.text):
            continue
        if _lock_matches(env, lock, pipfile):
            carried[env.lock_path] = lock
    return LockPlan(
        locks=plan.locks,
        files=carried,
        hooks_written=plan.hooks_written,
        hooks_left_alone=plan.hooks_left_alone,
        notes=plan.notes,
    )


def _lock_matches(env: RuntimeEnvironment, lock: FileContent, pipfile: FileContent) -> bool:
    try:
        expected = parse_pipfile(env.pipfile_path, pipfile.text).hash
    except Problem:
        return False
    data = parse_lock(env.lock_path, lock.text) or {}
    return data.get("_meta", {}).get("hash", {}).get("sha256") == expected
