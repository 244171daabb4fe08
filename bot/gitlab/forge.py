"""`Forge` on GitLab (REST v4 through python-gitlab, off the event loop).

Reads that do not depend on each other run at once (a snapshot is two rounds of requests);
a commit is ONE call to the commits API with an action per file. Merge requests are found by
their source branch; the bot's notes by their author (the token's user).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import gitlab

from bot.gitlab.client import GitLabClient
from handlers.forge import (
    SHOWN_AS_STATUS,
    Actor,
    AlreadyExists,
    BranchHead,
    BranchMoved,
    Comment,
    CommitStatus,
    FileContent,
    ForgeError,
    Issue,
    MergeRequest,
    NotFound,
    Refused,
    Repo,
    Snapshot,
    Words,
)

# GitLab access levels -> the roles handlers know (SPEC §7.3: Developer, 30, or above may run
# commands, like GitHub's write).
ROLES = ((50, "admin"), (40, "maintain"), (30, "write"), (20, "triage"), (5, "read"))
STATUS_STATES = {
    "pending": "pending",
    "success": "success",
    "failure": "failed",
    "error": "failed",
    "action_required": "failed",  # no such state: not a success, then
}
MAX_STATUS_DESCRIPTION = 255


def role(access_level: int) -> str:
    for level, name in ROLES:
        if access_level >= level:
            return name
    return "none"


# GitLab takes descriptions and notes of up to 1,000,000 characters.
WORDS = Words(
    merge_request="merge request",
    reference_prefix="!",
    body_limit=999_000,
    who_may_command="the Developer role or above in this project",
    line_url="{web_url}/-/blob/{sha}/{path}#L{line}",
)


class GitLabForge:
    """The bot's view of one GitLab instance. Cheap to build: one per job (it remembers which
    files exist at the commits it read, to choose `create` or `update` when it commits)."""

    words = WORDS

    def __init__(self, client: GitLabClient) -> None:
        self._client = client
        self._exists: dict[tuple[str, str, str], bool] = {}  # (project, sha, path): present
        self._branches: dict[tuple[str, str], bool] = {}  # (project, branch): exists, as seen

    # -- identity ---------------------------------------------------------------------------

    async def is_self(self, actor: Actor) -> bool:
        me = await self._client.me()
        if actor.id is not None and str(actor.id) == str(me["id"]):
            return True
        return bool(actor.login) and actor.login == me["username"]

    # -- reads ------------------------------------------------------------------------------

    async def snapshot(
        self, repo: Repo, *, branch: str, paths: Sequence[str], lock_branch: str
    ) -> Snapshot:
        project = _project(repo)
        me = await self._client.me()
        head, lock, requests, issues = await asyncio.gather(
            self._branch(project, branch),
            self._branch(project, lock_branch),
            self._get_list(
                f"/projects/{project}/merge_requests",
                source_branch=lock_branch,
                target_branch=branch,
                state="opened",
                author_id=me["id"],
            ),
            self._get_list(
                f"/projects/{project}/issues",
                author_id=me["id"],
                state="opened",
                order_by="updated_at",
                sort="desc",
            ),
        )
        if head is None:
            raise NotFound(f"branch {branch!r} does not exist in {repo.full_name}")
        sha = head["commit"]["id"]
        files, request = await asyncio.gather(
            self.read_files(repo, sha=sha, paths=paths),
            self._merge_request(project, requests[0]) if requests else _none(),
        )
        self._branches[(project, branch)] = True
        self._branches[(project, lock_branch)] = lock is not None
        return Snapshot(
            branch=branch,
            sha=sha,
            files=files,
            lock_branch=_branch_head(lock),
            merge_request=request,
            open_issues=tuple(
                Issue(
                    number=issue["iid"],
                    title=issue["title"],
                    url=issue.get("web_url", ""),
                    body=issue.get("description") or "",
                )
                for issue in issues
            ),
        )

    async def read_files(
        self, repo: Repo, *, sha: str, paths: Sequence[str]
    ) -> dict[str, FileContent | None]:
        project = _project(repo)
        contents = await asyncio.gather(*(self._file(project, sha, path) for path in paths))
        return dict(zip(paths, contents, strict=True))

    async def _file(self, project: str, sha: str, path: str) -> FileContent | None:
        url = f"/projects/{project}/repository/files/{quote(path, safe='')}"
        data = await self._get(url, ref=sha)
        self._exists[(project, sha, path)] = data is not None
        if data is None:
            return None
        try:
            text = base64.b64decode(data.get("content") or "").decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None  # binary: not something the bot reads
        return FileContent(text=text, executable=bool(data.get("execute_filemode")))

    async def changed_paths(self, repo: Repo, *, base: str, head: str) -> frozenset[str]:
        data = await self._get(
            f"/projects/{_project(repo)}/repository/compare", **{"from": base, "to": head}
        )
        if data is None:
            raise NotFound(f"cannot compare {base}...{head} in {repo.full_name}")
        paths: set[str] = set()
        for diff in data.get("diffs") or []:
            paths.update(filter(None, (diff.get("old_path"), diff.get("new_path"))))
        return frozenset(paths)

    async def repository(self, full_name: str) -> Repo:
        data = await self._get(f"/projects/{quote(full_name, safe='')}")
        if data is None:
            raise NotFound(f"project {full_name} is not visible to the bot")
        return Repo(
            full_name=data["path_with_namespace"],
            default_branch=data.get("default_branch") or "main",
            web_url=data["web_url"],
            id=data["id"],
        )

    async def merge_request(self, repo: Repo, number: int) -> MergeRequest:
        project = _project(repo)
        data = await self._get(f"/projects/{project}/merge_requests/{number}")
        if data is None:
            raise NotFound(f"merge request !{number} not found in {repo.full_name}")
        return await self._merge_request(project, data)

    async def _merge_request(self, project: str, data: Mapping[str, Any]) -> MergeRequest:
        me = await self._client.me()
        notes = await self._get_list(
            f"/projects/{project}/merge_requests/{data['iid']}/notes",
            sort="asc",
            order_by="created_at",
        )
        return MergeRequest(
            number=data["iid"],
            title=data["title"],
            body=data.get("description") or "",
            source_branch=data["source_branch"],
            target_branch=data["target_branch"],
            bot_comments=tuple(
                Comment(id=note["id"], body=note["body"])
                for note in notes
                if (note.get("author") or {}).get("id") == me["id"] and not note.get("system")
            ),
            head_sha=data.get("sha") or "",
            from_fork=data.get("source_project_id") != data.get("target_project_id"),
        )

    async def merge_request_paths(self, repo: Repo, number: int) -> frozenset[str]:
        diffs = await self._get_list(f"/projects/{_project(repo)}/merge_requests/{number}/diffs")
        paths: set[str] = set()
        for diff in diffs:
            paths.update(filter(None, (diff.get("old_path"), diff.get("new_path"))))
        return frozenset(paths)

    async def comment_as_delivered(
        self, repo: Repo, number: int, comment_id: int | str, author: Actor, body: str
    ) -> bool:
        """The note read back from GitLab: a project hook's secret token is known to every
        maintainer who added the hook, so a note delivery could be forged "from" anyone."""
        note = await self._get(
            f"/projects/{_project(repo)}/merge_requests/{number}/notes/{comment_id}"
        )
        if not isinstance(note, dict):
            return False
        written_by = note.get("author") or {}
        same_author = written_by.get("username") == author.login and (
            author.id is None or written_by.get("id") == author.id
        )
        return same_author and note.get("body") == body

    async def permission(self, repo: Repo, actor: Actor) -> str:
        project = _project(repo)
        user_id = actor.id
        if user_id is None:
            users = await self._get_list("/users", username=actor.login)
            if not users:
                return "none"
            user_id = users[0]["id"]
        member = await self._get(f"/projects/{project}/members/all/{user_id}")
        if member is None or member.get("state", "active") != "active":
            return "none"
        return role(int(member.get("access_level") or 0))

    # -- writes -----------------------------------------------------------------------------

    async def commit_files(
        self,
        repo: Repo,
        *,
        branch: str,
        parent: str,
        files: Mapping[str, FileContent | None],
        message: str,
        force: bool = True,
    ) -> str:
        project = _project(repo)
        present = await self._present(project, parent, list(files))
        actions: list[dict[str, Any]] = []
        for path, content in sorted(files.items()):
            if content is None:
                if present[path]:
                    actions.append({"action": "delete", "file_path": path})
                continue
            actions.append(
                {
                    "action": "update" if present[path] else "create",
                    "file_path": path,
                    "content": content.text,
                }
            )
            # The file mode is its own action: GitLab reads `execute_filemode` only on chmod.
            actions.append(
                {"action": "chmod", "file_path": path, "execute_filemode": content.executable}
            )
        data: dict[str, Any] = {"branch": branch, "commit_message": message, "actions": actions}
        if force:
            branch_exists = self._branches.get((project, branch))
            if branch_exists is None:  # not seen by this job's snapshots
                branch_exists = await self._branch(project, branch) is not None
            data["start_sha"] = parent
            data["force"] = branch_exists
        else:  # someone's branch: a fast-forward of the head that was read, or nothing
            branch_exists = True
            head = await self._branch(project, branch)
            if head is None or head["commit"]["id"] != parent:
                raise BranchMoved(f"branch {branch!r} moved while the bot worked")
        url = f"/projects/{project}/repository/commits"
        try:
            commit = await self._client.run(lambda gl: gl.http_post(url, post_data=data))
        except ForgeError as error:
            if branch_exists or not force or "already exists" not in str(error):
                raise
            # The bot's branch appeared since the snapshot (a crash, a race): rebuild it.
            data["force"] = True
            commit = await self._client.run(lambda gl: gl.http_post(url, post_data=data))
        self._branches[(project, branch)] = True
        return str(commit["id"])

    async def _present(self, project: str, sha: str, paths: Sequence[str]) -> dict[str, bool]:
        """Whether each path exists at `sha` (from the reads of this job, else asked)."""
        unknown = [path for path in paths if (project, sha, path) not in self._exists]
        await asyncio.gather(*(self._exists_at(project, sha, path) for path in unknown))
        return {path: self._exists[(project, sha, path)] for path in paths}

    async def _exists_at(self, project: str, sha: str, path: str) -> None:
        url = f"/projects/{project}/repository/files/{quote(path, safe='')}"

        def head(gl: gitlab.Gitlab) -> bool:
            try:
                gl.http_request("head", url, query_data={"ref": sha})
            except gitlab.exceptions.GitlabHttpError as error:
                if error.response_code == 404:
                    return False
                raise
            return True

        self._exists[(project, sha, path)] = await self._client.run(head)

    async def create_merge_request(
        self,
        repo: Repo,
        *,
        source_branch: str,
        target_branch: str,
        title: str,
        body: str,
        labels: Sequence[str],
    ) -> MergeRequest:
        project = _project(repo)
        data = {
            "source_branch": source_branch,
            "target_branch": target_branch,
            "title": title,
            "description": body,
            "labels": ",".join(labels),
            "remove_source_branch": True,
        }
        try:
            created = await self._client.run(
                lambda gl: gl.http_post(f"/projects/{project}/merge_requests", post_data=data)
            )
        except AlreadyExists:  # 409: one is open already (a crash, a race): use it
            me = await self._client.me()
            found = await self._get_list(
                f"/projects/{project}/merge_requests",
                source_branch=source_branch,
                target_branch=target_branch,
                state="opened",
                author_id=me["id"],
            )
            if not found:
                raise
            created = found[0]
        return await self._merge_request(project, created)

    async def update_merge_request(
        self, repo: Repo, number: int, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> None:
        await self._put(
            f"/projects/{_project(repo)}/merge_requests/{number}",
            {
                "title": title,
                "description": body,
                **({"add_labels": ",".join(labels)} if labels else {}),
            },
        )

    async def close_merge_request(self, repo: Repo, number: int) -> None:
        await self._put(
            f"/projects/{_project(repo)}/merge_requests/{number}", {"state_event": "close"}
        )

    async def create_comment(self, repo: Repo, number: int, body: str) -> Comment:
        return await self._note(f"/projects/{_project(repo)}/merge_requests/{number}/notes", body)

    async def comment_on_issue(self, repo: Repo, number: int, body: str) -> Comment:
        return await self._note(f"/projects/{_project(repo)}/issues/{number}/notes", body)

    async def _note(self, url: str, body: str) -> Comment:
        note = await self._client.run(lambda gl: gl.http_post(url, post_data={"body": body}))
        return Comment(id=note["id"], body=note["body"])

    async def update_comment(
        self, repo: Repo, number: int, comment_id: int | str, body: str
    ) -> None:
        await self._put(
            f"/projects/{_project(repo)}/merge_requests/{number}/notes/{comment_id}",
            {"body": body},
        )

    async def react(self, repo: Repo, number: int, comment_id: int | str, reaction: str) -> None:
        url = f"/projects/{_project(repo)}/merge_requests/{number}/notes/{comment_id}/award_emoji"
        try:
            await self._client.run(lambda gl: gl.http_post(url, post_data={"name": reaction}))
        except (Refused, NotFound, AlreadyExists):  # already awarded (a retried job)
            pass

    async def set_status(self, repo: Repo, sha: str, status: CommitStatus) -> str:
        data = {
            "state": STATUS_STATES[status.state],
            "name": status.context,
            "description": status.description[:MAX_STATUS_DESCRIPTION],
        }
        if status.target_url:
            data["target_url"] = status.target_url
        url = f"/projects/{_project(repo)}/statuses/{sha}"
        try:
            await self._client.run(lambda gl: gl.http_post(url, post_data=data))
        except Refused as error:
            # GitLab refuses to move a status into the state it is already in.
            if "transition" not in str(error):
                raise
        return SHOWN_AS_STATUS  # no checks API: the note carries the rest

    async def create_issue(
        self, repo: Repo, *, title: str, body: str, labels: Sequence[str]
    ) -> Issue:
        data = {"title": title, "description": body, "labels": ",".join(labels)}
        url = f"/projects/{_project(repo)}/issues"
        issue = await self._client.run(lambda gl: gl.http_post(url, post_data=data))
        return Issue(number=issue["iid"], title=issue["title"], url=issue["web_url"], body=body)

    async def update_issue(self, repo: Repo, number: int, *, body: str) -> None:
        await self._put(f"/projects/{_project(repo)}/issues/{number}", {"description": body})

    async def close_issue(self, repo: Repo, number: int) -> None:
        await self._put(f"/projects/{_project(repo)}/issues/{number}", {"state_event": "close"})

    # -- plumbing ---------------------------------------------------------------------------

    async def _get(self, url: str, **query: Any) -> Any:
        """GET one object; None on 404."""

        def get(gl: gitlab.Gitlab) -> Any:
            try:
                return gl.http_get(url, query_data=query)
            except gitlab.exceptions.GitlabHttpError as error:
                if error.response_code == 404:
                    return None
                raise

        return await self._client.run(get)

    async def _get_list(self, url: str, **query: Any) -> list[Any]:
        """Every page of a list."""
        return await self._client.run(
            lambda gl: list(gl.http_list(url, query_data=query, get_all=True))
        )

    async def _branch(self, project: str, branch: str) -> dict[str, Any] | None:
        return await self._get(f"/projects/{project}/repository/branches/{quote(branch, safe='')}")

    async def _put(self, url: str, data: Mapping[str, Any]) -> None:
        await self._client.run(lambda gl: gl.http_put(url, post_data=dict(data)))


def _project(repo: Repo) -> str:
    """The project's id in a URL: its number where known, else its encoded path."""
    return str(repo.id) if repo.id is not None else quote(repo.full_name, safe="")


def _branch_head(branch: Mapping[str, Any] | None) -> BranchHead | None:
    if branch is None:
        return None
    commit = branch["commit"]
    return BranchHead(
        sha=commit["id"],
        parents=tuple(commit.get("parent_ids") or ()),
        message=commit.get("message") or "",
    )


async def _none() -> None:
    return None
