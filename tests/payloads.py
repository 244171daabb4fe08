"""Real GitHub deliveries (tests/fixtures/github, from octokit/webhooks), adapted to a test's repo.

The structure is GitHub's; only identities change: the repository, the commits the fake GitHub
really holds, the installation, the sender. Bodies are signed as GitHub signs them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "github"
NULL_SHA = "0" * 40


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(_fixture(name))


def repository(full_name: str, default_branch: str = "main") -> dict[str, Any]:
    """The payload's `repository` object, renamed to `full_name`."""
    data = fixture("push/with-new-branch.payload.json")["repository"]
    owner, name = full_name.split("/")
    data.update(
        name=name,
        full_name=full_name,
        html_url=f"https://github.com/{full_name}",
        url=f"https://github.com/{full_name}",
        default_branch=default_branch,
        master_branch=default_branch,
    )
    data["owner"].update(login=owner, name=owner)
    return data


def commit_entry(
    sha: str, *, added=(), modified=(), removed=(), message="update"
) -> dict[str, Any]:
    entry = fixture("push/with-new-branch.payload.json")["commits"][0]
    entry.update(
        id=sha,
        tree_id=hashlib.sha1(sha.encode()).hexdigest(),
        message=message,
        added=list(added),
        modified=list(modified),
        removed=list(removed),
    )
    return entry


def push(
    full_name: str,
    *,
    before: str,
    after: str,
    commits: list[Any] = (),  # objects with sha/added/modified/removed, or ready dicts
    branch: str = "main",
    default_branch: str = "main",
    installation_id: int,
    sender: str = "octocat",
    sender_type: str = "User",
    ref: str | None = None,
    deleted: bool = False,
) -> dict[str, Any]:
    payload = fixture("push/with-new-branch.payload.json")
    entries = [c if isinstance(c, dict) else _entry(c) for c in commits]
    payload.update(
        ref=ref or f"refs/heads/{branch}",
        before=before,
        after=after,
        created=before == NULL_SHA,
        deleted=deleted,
        forced=False,
        compare=f"https://github.com/{full_name}/compare/{before[:12]}...{after[:12]}",
        commits=entries,
        head_commit=entries[-1] if entries else None,
        repository=repository(full_name, default_branch),
        installation={"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="},
    )
    payload["pusher"].update(name=sender)
    payload["sender"].update(login=sender, type=sender_type)
    return payload


def _entry(commit: Any) -> dict[str, Any]:
    return commit_entry(
        commit.sha,
        added=commit.added,
        modified=commit.modified,
        removed=commit.removed,
        message=getattr(commit, "message", "update"),
    )


def push_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(
    event: str, body: bytes, secret: str | None, delivery: str | None = None
) -> dict[str, str]:
    result = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/test",
    }
    if secret is not None:
        result["X-Hub-Signature-256"] = signature(secret, body)
    return result


def pull_request(
    full_name: str,
    *,
    number: int,
    head_sha: str,
    head_branch: str,
    action: str = "opened",
    base_branch: str = "main",
    head_repo: str | None = None,
    draft: bool = False,
    installation_id: int,
    sender: str = "octocat",
) -> dict[str, Any]:
    """`pull_request` opened (or reopened, synchronize...), from pull_request/opened."""
    name = "synchronize" if action == "synchronize" else "opened"
    if action == "reopened":
        name = "reopened"
    payload = fixture(f"pull_request/{name}.payload.json")
    pull = payload["pull_request"]
    repo = repository(full_name)
    head = repository(head_repo) if head_repo else repo
    pull.update(number=number, draft=draft, state="open")
    pull["user"].update(login=sender, type="User")
    pull["head"].update(
        ref=head_branch, sha=head_sha, label=f"{head['owner']['login']}:{head_branch}", repo=head
    )
    pull["base"].update(ref=base_branch, label=f"{repo['owner']['login']}:{base_branch}", repo=repo)
    payload.update(action=action, number=number, repository=repo)
    payload["installation"] = {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9u"}
    payload["sender"].update(login=sender, type="User")
    if action == "synchronize":
        payload["after"] = head_sha
    return payload


def issue_comment(
    full_name: str,
    *,
    number: int,
    body: str,
    comment_id: int,
    author: str = "octocat",
    author_type: str = "User",
    on_pull_request: bool = True,
    installation_id: int,
    action: str = "created",
) -> dict[str, Any]:
    """`issue_comment` created, from issue_comment/created.with-installation. None of GitHub's
    examples is on a pull request: `issue.pull_request` is added as GitHub adds it."""
    payload = fixture("issue_comment/created.with-installation.payload.json")
    repo = repository(full_name)
    issue, comment = payload["issue"], payload["comment"]
    issue.update(number=number, html_url=f"https://github.com/{full_name}/pull/{number}")
    if on_pull_request:
        issue["pull_request"] = {
            "url": f"https://api.github.com/repos/{full_name}/pulls/{number}",
            "html_url": f"https://github.com/{full_name}/pull/{number}",
            "diff_url": f"https://github.com/{full_name}/pull/{number}.diff",
            "patch_url": f"https://github.com/{full_name}/pull/{number}.patch",
            "merged_at": None,
        }
    comment.update(id=comment_id, body=body)
    comment["user"].update(login=author, type=author_type)
    payload.update(action=action, repository=repo)
    payload["installation"] = {"id": installation_id, "node_id": "MDIzOkludGVncmF0aW9u"}
    payload["sender"].update(login=author, type=author_type)
    return payload


def installation_created(
    installation_id: int, repositories: list[str], *, selection: str = "selected"
) -> dict[str, Any]:
    payload = fixture("installation/created.payload.json")
    payload["installation"].update(id=installation_id, repository_selection=selection)
    payload["repositories"] = [_listed(name) for name in repositories]
    return payload


def installation_repositories_added(installation_id: int, added: list[str]) -> dict[str, Any]:
    payload = fixture("installation_repositories/added.payload.json")
    payload["installation"].update(id=installation_id)
    payload["repositories_added"] = [_listed(name) for name in added]
    return payload


def _listed(full_name: str) -> dict[str, Any]:
    return {
        "id": int(hashlib.sha1(full_name.encode()).hexdigest()[:8], 16),
        "node_id": "MDEwOlJlcG9zaXRvcnk=",
        "name": full_name.split("/")[1],
        "full_name": full_name,
        "private": False,
    }


def check_run(
    full_name: str,
    *,
    action: str,
    head_sha: str,
    pull: tuple[int, str] | None,
    installation_id: int,
    sender: str,
    identifier: str | None = None,
    name: str = "thoth-bot/advise",
) -> dict[str, Any]:
    """A `check_run` delivery (`rerequested`, or `requested_action` with `identifier`) about
    the bot's check run on `head_sha`, of pull request `pull` = (number, head branch)."""
    fixture_name = "requested_action" if action == "requested_action" else "rerequested"
    payload = fixture(f"check_run/{fixture_name}.payload.json")
    run = payload["check_run"]
    run.update(name=name, head_sha=head_sha)
    run["pull_requests"] = [_pull_ref(full_name, pull, head_sha)] if pull else []
    run["check_suite"]["head_sha"] = head_sha
    run["check_suite"]["head_branch"] = pull[1] if pull else "main"
    payload["action"] = action
    if identifier is not None:
        payload["requested_action"] = {"identifier": identifier}
    return _from(payload, full_name, installation_id, sender)


def check_suite(
    full_name: str,
    *,
    head_sha: str,
    pull: tuple[int, str] | None,
    installation_id: int,
    sender: str,
) -> dict[str, Any]:
    """A `check_suite` `rerequested` delivery for `head_sha`."""
    payload = fixture("check_suite/rerequested.payload.json")
    suite = payload["check_suite"]
    suite.update(head_sha=head_sha, head_branch=pull[1] if pull else "main")
    suite["pull_requests"] = [_pull_ref(full_name, pull, head_sha)] if pull else []
    return _from(payload, full_name, installation_id, sender)


def _pull_ref(full_name: str, pull: tuple[int, str], head_sha: str) -> dict[str, Any]:
    number, branch = pull
    return {
        "url": f"https://api.github.com/repos/{full_name}/pulls/{number}",
        "id": number,
        "number": number,
        "head": {"ref": branch, "sha": head_sha, "repo": {"name": full_name.split("/")[1]}},
        "base": {"ref": "main", "sha": NULL_SHA, "repo": {"name": full_name.split("/")[1]}},
    }


def _from(payload: dict[str, Any], full_name: str, installation_id: int, sender: str) -> dict:
    payload["repository"] = repository(full_name)
    payload["installation"] = {"id": installation_id, "node_id": "MDIz"}
    payload["sender"] = {**payload["sender"], "login": sender, "type": "User"}
    payload.pop("organization", None)
    return payload
