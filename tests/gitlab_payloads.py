"""Real GitLab deliveries (tests/fixtures/gitlab, from go-gitlab's testdata and a captured
gitlab.com delivery), adapted to a test's project.

The structure is GitLab's; only identities change: the project, the commits the fake GitLab
really holds, the users. Headers are those GitLab sends, with the hook's secret token and, when
a signing token is given, Standard Webhooks signatures.
"""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from fakes.git import Push
from fakes.gitlab import FakeGitLab, Project, User

from bot.signing import standard_webhook_headers

FIXTURES = Path(__file__).parent / "fixtures" / "gitlab"


@cache
def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(_fixture(name))


def project_json(gitlab: FakeGitLab, project: Project) -> dict[str, Any]:
    data = fixture("webhooks/push.json")["project"]
    web_url = f"{gitlab.url}/{project.path}"
    data.update(
        id=project.id,
        name=project.path.rsplit("/", 1)[-1],
        path_with_namespace=project.path,
        namespace=project.path.split("/")[0],
        default_branch=project.default_branch,
        web_url=web_url,
        homepage=web_url,
        git_http_url=f"{web_url}.git",
        http_url=f"{web_url}.git",
    )
    return data


def push(
    gitlab: FakeGitLab,
    pushes: list[Push],
    *,
    user: User | None = None,
    total_commits_count: int | None = None,
    listed: int | None = None,
) -> dict[str, Any]:
    """A `Push Hook` for consecutive pushes to one branch (one commit each). GitLab lists the
    newest 20 commits: `listed` keeps only that many of the newest."""
    project = gitlab.project(pushes[0].repo)
    user = user or gitlab.user("jsmith")
    payload = fixture("webhooks/push.json")
    template = payload["commits"][0]
    commits = []
    for each in pushes:
        entry = copy.deepcopy(template)
        entry.update(
            id=each.after,
            message=each.message,
            title=each.message,
            url=f"{gitlab.url}/{project.path}/-/commit/{each.after}",
            added=list(each.added),
            modified=list(each.modified),
            removed=list(each.removed),
        )
        commits.append(entry)
    if listed is not None:
        commits = commits[-listed:]
    payload.update(
        before=pushes[0].before,
        after=pushes[-1].after,
        ref=f"refs/heads/{pushes[0].branch}",
        checkout_sha=pushes[-1].after,
        user_id=user.id,
        user_name=user.username.title(),
        user_username=user.username,
        project_id=project.id,
        project=project_json(gitlab, project),
        commits=commits,
        total_commits_count=total_commits_count or len(pushes),
    )
    return payload


def merge_request(
    gitlab: FakeGitLab, path: str, iid: int, *, action: str = "open", user: User | None = None
) -> dict[str, Any]:
    project = gitlab.project(path)
    mr = project.merge_requests[iid]
    user = user or mr.author
    payload = fixture("webhooks/merge_request.json")
    head = gitlab.merge_request_head(path, iid) or ""
    attributes = payload["object_attributes"]
    attributes.update(
        iid=iid,
        title=mr.title,
        source_branch=mr.source_branch,
        target_branch=mr.target_branch,
        source_project_id=mr.source_project_id,
        target_project_id=project.id,
        action=action,
        draft=mr.draft,
        work_in_progress=mr.draft,
        url=f"{gitlab.url}/{path}/-/merge_requests/{iid}",
    )
    attributes["last_commit"].update(id=head)
    if action == "update":
        attributes["oldrev"] = project.commits[head].parents[0]
    payload["user"].update(id=user.id, username=user.username)
    payload.update(project=project_json(gitlab, project))
    return payload


def note(gitlab: FakeGitLab, path: str, iid: int, note_id: int, body: str, user: User) -> dict:
    """A `Note Hook` for a note on merge request `iid`."""
    project = gitlab.project(path)
    mr = project.merge_requests[iid]
    payload = fixture("webhooks/note_merge_request.json")
    payload["object_attributes"].update(
        id=note_id, note=body, author_id=user.id, project_id=project.id, action="create"
    )
    payload["user"].update(id=user.id, username=user.username)
    payload["merge_request"].update(
        iid=iid,
        source_branch=mr.source_branch,
        target_branch=mr.target_branch,
        source_project_id=mr.source_project_id,
        target_project_id=project.id,
    )
    payload.update(project_id=project.id, project=project_json(gitlab, project))
    return payload


def project_create(gitlab: FakeGitLab, path: str) -> dict[str, Any]:
    """A `System Hook` announcing a new project."""
    project = gitlab.project(path)
    payload = fixture("systemhooks/project_create.json")
    payload.update(
        name=path.rsplit("/", 1)[-1],
        path=path.rsplit("/", 1)[-1],
        path_with_namespace=path,
        project_id=project.id,
    )
    return payload


def repository_update(gitlab: FakeGitLab, each: Push) -> dict[str, Any]:
    """A `System Hook` saying a project's repository changed (no paths in it)."""
    project = gitlab.project(each.repo)
    payload = fixture("systemhooks/repository_update.json")
    payload.update(project_id=project.id, project=project_json(gitlab, project))
    payload["changes"] = [
        {"before": each.before, "after": each.after, "ref": f"refs/heads/{each.branch}"}
    ]
    payload["refs"] = [f"refs/heads/{each.branch}"]
    return payload


def headers(
    event: str,
    body: bytes,
    *,
    token: str | None,
    idempotency_key: str | None = None,
    signing_token: str | None = None,
) -> dict[str, str]:
    """What GitLab sends with a hook delivery (see captured/push.headers.txt)."""
    result = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/18.6.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Webhook-UUID": "7f1b5c1e-7a64-4d8b-9a3c-1d1c2f0f6a11",
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
    }
    if token is not None:
        result["X-Gitlab-Token"] = token
    if signing_token is not None:
        result.update(standard_webhook_headers(signing_token, f"msg_{uuid.uuid4().hex}", body))
    return result
