"""Idempotent "ensure" steps: whatever state the forge is in, converge on ONE result.

A redelivered webhook, a retried job or a restart after a crash runs these again; each looks at
what the snapshot says exists (found by stable branch names and hidden markers) and writes only
what differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from handlers import annotations, render
from handlers.forge import (
    Comment,
    CommitStatus,
    FileContent,
    Forge,
    Issue,
    MergeRequest,
    Repo,
    Snapshot,
)
from handlers.plan import LockPlan
from handlers.problems import Problem

SECURITY_LABEL = "security"  # on the bot's merge request while it fixes known vulnerabilities


def content_digest(files: Mapping[str, FileContent | None]) -> str:
    """A stable digest of what a commit should hold, recorded in the commit message."""
    digest = hashlib.sha256()
    for path in sorted(files):
        content = files[path]
        digest.update(path.encode() + b"\0")
        if content is None:
            digest.update(b"-\0")
        else:
            digest.update(b"x" if content.executable else b"f")
            digest.update(content.text.encode() + b"\0")
    return "sha256:" + digest.hexdigest()


async def ensure_lock_request(
    forge: Forge,
    repo: Repo,
    *,
    base: str,
    lock_branch: str,
    snapshot: Snapshot,
    plan: LockPlan,
    labels: Sequence[str],
) -> tuple[MergeRequest, bool]:
    """The bot's branch: one commit on top of `base` holding `plan.files`; ONE open MR shows it.

    Returns the merge request and whether anything had to be written.
    """
    digest = content_digest(plan.files)
    head = snapshot.lock_branch
    up_to_date = (
        head is not None
        and head.parents == (snapshot.sha,)
        and f"{render.DIGEST_TRAILER} {digest}" in head.message
    )
    if not up_to_date:
        await forge.commit_files(
            repo,
            branch=lock_branch,
            parent=snapshot.sha,
            files=plan.files,
            message=render.commit_message(plan, digest),
        )
    title = render.lock_request_title(
        base, onboarding=plan.config_added, advisories=plan.advisories_fixed
    )
    if plan.advisories_fixed and SECURITY_LABEL not in labels:
        labels = [*labels, SECURITY_LABEL]
    body = render.lock_request_body(plan, base, forge.words)
    request = snapshot.merge_request
    changed = not up_to_date
    if request is None:
        request = await forge.create_merge_request(
            repo,
            source_branch=lock_branch,
            target_branch=base,
            title=title,
            body=body,
            labels=labels,
        )
    elif request.title != title or request.body.strip() != body.strip():
        added = [SECURITY_LABEL] if plan.advisories_fixed and request.title != title else []
        await forge.update_merge_request(
            repo, request.number, title=title, body=body, labels=added
        )
        changed = True
    changed |= (
        await ensure_comment(
            forge,
            repo,
            request.number,
            request.bot_comments,
            render.GUIDANCE_MARKER,
            render.guidance_comment(plan, forge.words),
        )
        is not None
    )
    return request, changed


async def ensure_comment(
    forge: Forge,
    repo: Repo,
    number: int,
    existing: Sequence[Comment],
    marker: str,
    body: str,
) -> Comment | None:
    """One comment carrying `marker` on merge request or issue `number`, holding `body`.

    Returns the comment written (created or edited), None when it already said `body`.
    """
    for comment in existing:
        if marker in comment.body:
            if comment.body.strip() == body.strip():
                return None
            await forge.update_comment(repo, number, comment.id, body)
            return Comment(id=comment.id, body=body)
    return await forge.create_comment(repo, number, body)


def failure_issue(snapshot: Snapshot) -> Issue | None:
    for issue in snapshot.open_issues:
        if issue.title == render.FAILURE_TITLE:
            return issue
    return None


async def report_failure(
    forge: Forge,
    repo: Repo,
    *,
    branch: str,
    snapshot: Snapshot,
    problems: Sequence[Problem],
    labels: Sequence[str],
) -> None:
    """A failed status on the commit and ONE open issue saying what to fix (SPEC §7.6)."""
    body = render.failure_body(
        problems, branch=branch, sha=snapshot.sha, words=forge.words, web_url=repo.web_url
    )
    await forge.set_status(
        repo,
        snapshot.sha,
        CommitStatus(
            state="failure",
            description=render.status_description(problems),
            summary=render.unmarked(body),
            annotations=annotations.of_problems(problems),
        ),
    )
    issue = failure_issue(snapshot)
    if issue is None:
        await forge.create_issue(repo, title=render.FAILURE_TITLE, body=body, labels=labels)
    else:
        await forge.update_issue(repo, issue.number, body=body)


async def resolve_failure(forge: Forge, repo: Repo, *, branch: str, snapshot: Snapshot) -> None:
    """Close the failure issue, if one is open, with a comment saying it is fixed."""
    issue = failure_issue(snapshot)
    if issue is None:
        return
    await forge.comment_on_issue(repo, issue.number, render.resolved_comment(branch, snapshot.sha))
    await forge.close_issue(repo, issue.number)
