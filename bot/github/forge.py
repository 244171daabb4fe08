"""`Forge` on GitHub: GraphQL for reads (one round trip), REST git data API for writes."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import gidgethub
from gidgethub.abc import GitHubAPI

from bot.forge_errors import http_error
from bot.github import queries
from handlers.forge import (
    SHOWN_AS_STATUS,
    SHOWN_IN_FULL,
    Actor,
    Annotation,
    BranchHead,
    BranchMoved,
    Comment,
    CommitStatus,
    FileContent,
    Forbidden,
    ForgeError,
    Issue,
    MergeRequest,
    NotFound,
    Refused,
    Repo,
    Snapshot,
    Unavailable,
    Words,
)

log = logging.getLogger(__name__)

EXECUTABLE_MODE = 0o100755
ADVISE_CHECK = CommitStatus.context  # "thoth-bot/advise", the name the snapshot asks for
# The Checks API's limits: 50 annotations a request, 65,535 characters of summary, 64 KB a
# message; titles are kept to one line.
ANNOTATIONS = 50
CHECK_TEXT_LIMIT = 65_535
ANNOTATION_MESSAGE_LIMIT = 60_000
CHECK_TITLE_LIMIT = 255
T = TypeVar("T")


# GitHub refuses issue, pull request and comment bodies over 65,536 characters.
WORDS = Words(
    merge_request="pull request",
    reference_prefix="#",
    body_limit=65_000,
    who_may_command="write access to this repository",
    checks=True,  # a Problem's line gets the check run's annotation, not a link
)


class GitHubForge:
    """One installation's view of GitHub. Cheap to build: one per job."""

    words = WORDS

    def __init__(self, api: GitHubAPI, *, graphql_url: str, app_slug: Callable[[], Awaitable[str]]):
        self._api = api
        self._graphql_url = graphql_url
        self._app_slug = app_slug
        # What this job's snapshots saw: commit -> tree, (repository, branch) -> exists.
        self._trees: dict[str, str] = {}
        self._branches: dict[tuple[str, str], bool] = {}
        # (repo, sha, name): its check run's id, None: none yet (what this job saw).
        self._check_runs: dict[tuple[str, str, str], int | None] = {}
        self._checks_denied = False  # the installation was not granted `checks: write`

    # -- identity ---------------------------------------------------------------------------

    async def bot_logins(self) -> set[str]:
        slug = await self._app_slug()
        # REST says "slug[bot]", GraphQL says "slug".
        return {f"{slug}[bot]", slug}

    async def is_self(self, actor: Actor) -> bool:
        return actor.login in await self.bot_logins()

    # -- reads ------------------------------------------------------------------------------

    async def snapshot(
        self, repo: Repo, *, branch: str, paths: Sequence[str], lock_branch: str
    ) -> Snapshot:
        owner, name = _split(repo)
        data = await self._graphql(
            queries.snapshot_query(len(paths)),
            owner=owner,
            name=name,
            branchRef=f"refs/heads/{branch}",
            branch=branch,
            lockRef=f"refs/heads/{lock_branch}",
            lockBranch=lock_branch,
            **queries.path_variables(paths),
        )
        repository = data.get("repository")
        if repository is None:
            raise NotFound(f"repository {repo.full_name} is not visible to the app")
        head = (repository.get("branch") or {}).get("target")
        if head is None:
            raise NotFound(f"branch {branch!r} does not exist in {repo.full_name}")
        files = await self._files(repo, head, paths)
        logins = await self.bot_logins()
        lock = _branch_head((repository.get("lockBranch") or {}).get("target"))
        self._trees[head["oid"]] = head["tree"]["oid"]
        # The head's own report, if it has one: updated in place, found without another call.
        runs = [
            run["databaseId"]
            for suite in (head.get("checkSuites") or {}).get("nodes") or []
            for run in ((suite or {}).get("checkRuns") or {}).get("nodes") or []
            if run and run.get("databaseId")
        ]
        self._check_runs[(repo.full_name, head["oid"], ADVISE_CHECK)] = runs[0] if runs else None
        self._branches[(repo.full_name, branch)] = True
        self._branches[(repo.full_name, lock_branch)] = lock is not None
        return Snapshot(
            branch=branch,
            sha=head["oid"],
            files=files,
            lock_branch=lock,
            merge_request=_first_merge_request(repository.get("pullRequests"), logins),
            open_issues=tuple(
                Issue(number=node["number"], title=node["title"], url=node["url"])
                for node in repository["issues"]["nodes"]
                if (node.get("author") or {}).get("login") in logins
            ),
        )

    async def read_files(
        self, repo: Repo, *, sha: str, paths: Sequence[str]
    ) -> dict[str, FileContent | None]:
        if not paths:
            return {}
        owner, name = _split(repo)
        data = await self._graphql(
            queries.files_query(len(paths)),
            owner=owner,
            name=name,
            sha=sha,
            **queries.path_variables(paths),
        )
        commit = (data.get("repository") or {}).get("object")
        if commit is None:
            raise NotFound(f"commit {sha} not found in {repo.full_name}")
        return await self._files(repo, commit, paths)

    async def _files(
        self, repo: Repo, commit: Mapping[str, Any], paths: Sequence[str]
    ) -> dict[str, FileContent | None]:
        files: dict[str, FileContent | None] = {}
        for i, path in enumerate(paths):
            entry = commit.get(f"f{i}")
            blob = (entry or {}).get("object")
            if entry is None or blob is None or "text" not in blob:
                files[path] = None  # absent, or a directory/submodule
                continue
            text = blob.get("text")
            if blob.get("isTruncated") or (text is None and not blob.get("isBinary")):
                text = await self._blob_text(repo, entry["oid"])
            if text is None:
                files[path] = None  # binary: not something the bot reads
                continue
            files[path] = FileContent(text=text, executable=entry["mode"] == EXECUTABLE_MODE)
        return files

    async def _blob_text(self, repo: Repo, oid: str) -> str:
        blob = await self._call(self._api.getitem(f"/repos/{repo.full_name}/git/blobs/{oid}"))
        return base64.b64decode(blob["content"]).decode("utf-8", errors="replace")

    async def changed_paths(self, repo: Repo, *, base: str, head: str) -> frozenset[str]:
        url = f"/repos/{repo.full_name}/compare/{base}...{head}"
        paths: set[str] = set()

        async def collect() -> None:
            async for changed in self._api.getiter(url, iterable_key="files"):
                paths.add(changed["filename"])
                if changed.get("previous_filename"):
                    paths.add(changed["previous_filename"])

        await self._call(collect())
        return frozenset(paths)

    async def repository(self, full_name: str) -> Repo:
        data = await self._call(self._api.getitem(f"/repos/{full_name}"))
        return Repo(
            full_name=data["full_name"],
            default_branch=data["default_branch"],
            web_url=data["html_url"],
            id=data["id"],
        )

    async def merge_request(self, repo: Repo, number: int) -> MergeRequest:
        owner, name = _split(repo)
        data = await self._graphql(
            queries.PULL_REQUEST_QUERY, owner=owner, name=name, number=number
        )
        pull = (data.get("repository") or {}).get("pullRequest")
        if pull is None:
            raise NotFound(f"pull request #{number} not found in {repo.full_name}")
        return _merge_request(pull, await self.bot_logins())

    async def merge_request_paths(self, repo: Repo, number: int) -> frozenset[str]:
        paths: set[str] = set()

        async def collect() -> None:
            url = f"/repos/{repo.full_name}/pulls/{number}/files?per_page=100"
            async for changed in self._api.getiter(url):
                paths.add(changed["filename"])
                if changed.get("previous_filename"):
                    paths.add(changed["previous_filename"])

        await self._call(collect())
        return frozenset(paths)

    async def comment_as_delivered(
        self, repo: Repo, number: int, comment_id: int | str, author: Actor, body: str
    ) -> bool:
        """Always: a GitHub App's webhook secret is shared by GitHub and the operator alone,
        so a delivery that passed its signature was sent by GitHub."""
        return True

    async def permission(self, repo: Repo, actor: Actor) -> str:
        url = f"/repos/{repo.full_name}/collaborators/{quote(actor.login)}/permission"
        try:
            data = await self._call(self._api.getitem(url))
        except NotFound:  # not a collaborator, or not a user at all
            return "none"
        # `permission` is the legacy value (maintain reads "write"); `role_name` the real role.
        return str(data.get("role_name") or data.get("permission") or "none")

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
        entries = [_tree_entry(path, content) for path, content in sorted(files.items())]
        tree = await self._call(
            self._api.post(
                f"/repos/{repo.full_name}/git/trees",
                data={"base_tree": await self._tree_of(repo, parent), "tree": entries},
            )
        )
        commit = await self._call(
            self._api.post(
                f"/repos/{repo.full_name}/git/commits",
                data={"message": message, "tree": tree["sha"], "parents": [parent]},
            )
        )
        exists = self._branches.get((repo.full_name, branch), not force)
        await self._set_branch(repo, branch, commit["sha"], exists=exists, force=force)
        self._branches[(repo.full_name, branch)] = True
        return commit["sha"]

    async def _tree_of(self, repo: Repo, sha: str) -> str:
        """A commit's tree: from this job's snapshots, else asked."""
        if sha not in self._trees:
            url = f"/repos/{repo.full_name}/git/commits/{sha}"
            commit = await self._call(self._api.getitem(url))
            self._trees[sha] = commit["tree"]["sha"]
        return self._trees[sha]

    async def _set_branch(
        self, repo: Repo, branch: str, sha: str, *, exists: bool, force: bool
    ) -> None:
        """Point the branch at `sha`: created when this job has not seen it exist (a branch
        that turns out to exist is then moved), moved otherwise."""
        ref_url = f"/repos/{repo.full_name}/git/refs/heads/{quote(branch, safe='/')}"
        if not exists:
            try:
                await self._call(
                    self._api.post(
                        f"/repos/{repo.full_name}/git/refs",
                        data={"ref": f"refs/heads/{branch}", "sha": sha},
                    )
                )
                return
            except Refused:  # 422: it exists after all (a crash, a race)
                pass
        try:
            await self._call(self._api.patch(ref_url, data={"sha": sha, "force": force}))
        except Refused as error:  # 422 without force: "Update is not a fast forward"
            if force:
                raise
            raise BranchMoved(f"branch {branch!r} moved while the bot worked: {error}") from error

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
        try:
            pull = await self._call(
                self._api.post(
                    f"/repos/{repo.full_name}/pulls",
                    data={
                        "title": title,
                        "head": source_branch,
                        "base": target_branch,
                        "body": body,
                    },
                )
            )
        except Refused:  # 422: one is open already (a crash, a race)
            pull = await self._open_pull(repo, source_branch, target_branch)
            if pull is None:
                raise
        if labels:
            await self._call(
                self._api.post(
                    f"/repos/{repo.full_name}/issues/{pull['number']}/labels",
                    data={"labels": list(labels)},
                )
            )
        return MergeRequest(
            number=pull["number"],
            title=pull["title"],
            body=pull.get("body") or "",
            source_branch=source_branch,
            target_branch=target_branch,
        )

    async def _open_pull(self, repo: Repo, source: str, target: str) -> dict[str, Any] | None:
        owner, _ = _split(repo)
        url = f"/repos/{repo.full_name}/pulls?state=open&head={quote(owner)}:{quote(source)}"
        url += f"&base={quote(target)}"
        pulls = await self._call(self._api.getitem(url))
        return pulls[0] if pulls else None

    async def update_merge_request(
        self, repo: Repo, number: int, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> None:
        await self._call(
            self._api.patch(
                f"/repos/{repo.full_name}/pulls/{number}", data={"title": title, "body": body}
            )
        )
        if labels:
            await self._call(
                self._api.post(
                    f"/repos/{repo.full_name}/issues/{number}/labels",
                    data={"labels": list(labels)},
                )
            )

    async def close_merge_request(self, repo: Repo, number: int) -> None:
        await self._call(
            self._api.patch(f"/repos/{repo.full_name}/pulls/{number}", data={"state": "closed"})
        )

    async def create_comment(self, repo: Repo, number: int, body: str) -> Comment:
        comment = await self._call(
            self._api.post(f"/repos/{repo.full_name}/issues/{number}/comments", data={"body": body})
        )
        return Comment(id=comment["id"], body=comment["body"])

    async def comment_on_issue(self, repo: Repo, number: int, body: str) -> Comment:
        return await self.create_comment(repo, number, body)  # one numbering on GitHub

    async def update_comment(
        self, repo: Repo, number: int, comment_id: int | str, body: str
    ) -> None:
        await self._call(
            self._api.patch(
                f"/repos/{repo.full_name}/issues/comments/{comment_id}", data={"body": body}
            )
        )

    async def react(self, repo: Repo, number: int, comment_id: int | str, reaction: str) -> None:
        await self._call(
            self._api.post(
                f"/repos/{repo.full_name}/issues/comments/{comment_id}/reactions",
                data={"content": reaction},
            )
        )

    async def set_status(self, repo: Repo, sha: str, status: CommitStatus) -> str:
        """A check run named after the status context (branch protection rules name it),
        created or updated in place; where the installation was not granted `checks: write`,
        a commit status."""
        if not self._checks_denied:
            try:
                await self._check_run(repo, sha, status)
                return SHOWN_IN_FULL
            except Forbidden:
                self._checks_denied = True  # for the rest of this job: statuses at once
        await self._commit_status(repo, sha, status)
        return SHOWN_AS_STATUS

    async def _check_run(self, repo: Repo, sha: str, status: CommitStatus) -> None:
        key = (repo.full_name, sha, status.context)
        known = self._check_runs.get(key)  # from this job's snapshot, or its first report
        if key not in self._check_runs:
            found = await self._call(
                self._api.getitem(
                    f"/repos/{repo.full_name}/commits/{sha}/check-runs",
                    {"check_name": status.context, "filter": "latest"},
                )
            )
            runs = [run for run in found.get("check_runs") or [] if run.get("head_sha") == sha]
            known = runs[0]["id"] if runs else None
        title = _one_line(status.description, CHECK_TITLE_LIMIT)
        summary = _bounded(status.summary or status.description, CHECK_TEXT_LIMIT)
        notes = [_annotation(note) for note in status.annotations]
        data: dict[str, Any] = {
            "name": status.context,
            "head_sha": sha,
            "output": {"title": title, "summary": summary, "annotations": notes[:ANNOTATIONS]},
        }
        if status.state == "pending":
            data["status"] = "in_progress"
        else:
            data["status"] = "completed"
            data["conclusion"] = _conclusion(status)
        if status.target_url:
            data["details_url"] = status.target_url
        if status.actions:
            data["actions"] = [
                {"label": a.label, "description": a.description, "identifier": a.identifier}
                for a in status.actions
            ]
        if known is not None:
            url = f"/repos/{repo.full_name}/check-runs/{known}"
            await self._call(self._api.patch(url, data=data))
        else:
            created = await self._call(
                self._api.post(f"/repos/{repo.full_name}/check-runs", data=data)
            )
            known = created["id"]
            url = f"/repos/{repo.full_name}/check-runs/{known}"
        self._check_runs[key] = known
        # GitHub takes 50 annotations a request, and adds up those of later updates.
        for start in range(ANNOTATIONS, len(notes), ANNOTATIONS):
            batch = notes[start : start + ANNOTATIONS]
            output = {"title": title, "summary": summary, "annotations": batch}
            await self._call(self._api.patch(url, data={"output": output}))

    async def _commit_status(self, repo: Repo, sha: str, status: CommitStatus) -> None:
        data: dict[str, Any] = {
            # A status has no "a person must choose": not a success, then.
            "state": "failure" if status.state == "action_required" else status.state,
            "description": _one_line(status.description, 140),
            "context": status.context,
        }
        if status.target_url:
            data["target_url"] = status.target_url
        await self._call(self._api.post(f"/repos/{repo.full_name}/statuses/{sha}", data=data))

    async def create_issue(
        self, repo: Repo, *, title: str, body: str, labels: Sequence[str]
    ) -> Issue:
        issue = await self._call(
            self._api.post(
                f"/repos/{repo.full_name}/issues",
                data={"title": title, "body": body, "labels": list(labels)},
            )
        )
        return Issue(number=issue["number"], title=issue["title"], url=issue["html_url"], body=body)

    async def update_issue(self, repo: Repo, number: int, *, body: str) -> None:
        await self._call(
            self._api.patch(f"/repos/{repo.full_name}/issues/{number}", data={"body": body})
        )

    async def close_issue(self, repo: Repo, number: int) -> None:
        await self._call(
            self._api.patch(
                f"/repos/{repo.full_name}/issues/{number}",
                data={"state": "closed", "state_reason": "completed"},
            )
        )

    # -- plumbing ---------------------------------------------------------------------------

    async def _graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        return await self._call(self._api.graphql(query, endpoint=self._graphql_url, **variables))

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except gidgethub.HTTPException as error:
            status = int(error.status_code)
            raise http_error(
                status, f"GitHub answered {status}: {error}", rate_limited=_rate_limited(error)
            ) from error
        except gidgethub.GraphQLException as error:
            raise ForgeError(f"GitHub GraphQL error: {error}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Unavailable(f"GitHub unreachable: {error!r}") from error


async def installation_repositories(api: GitHubAPI) -> list[str]:
    """Every repository an installation can see (`repository_selection: all`)."""
    try:
        return [
            entry["full_name"]
            async for entry in api.getiter(
                "/installation/repositories?per_page=100", iterable_key="repositories"
            )
        ]
    except gidgethub.HTTPException as error:
        status = int(error.status_code)
        raise http_error(
            status, f"GitHub answered {status} listing the installation's repositories"
        ) from error


def _split(repo: Repo) -> tuple[str, str]:
    owner, _, name = repo.full_name.partition("/")
    return owner, name


def _tree_entry(path: str, content: FileContent | None) -> dict[str, Any]:
    if content is None:
        return {"path": path, "mode": "100644", "type": "blob", "sha": None}
    mode = "100755" if content.executable else "100644"
    return {"path": path, "mode": mode, "type": "blob", "content": content.text}


def _branch_head(target: Mapping[str, Any] | None) -> BranchHead | None:
    if not target:
        return None
    parents = tuple(node["oid"] for node in (target.get("parents") or {}).get("nodes", []))
    return BranchHead(sha=target["oid"], parents=parents, message=target.get("message") or "")


def _first_merge_request(
    connection: Mapping[str, Any] | None, logins: set[str]
) -> MergeRequest | None:
    nodes = (connection or {}).get("nodes") or []
    return _merge_request(nodes[0], logins) if nodes else None


def _merge_request(pull: Mapping[str, Any], logins: set[str]) -> MergeRequest:
    comments = tuple(
        Comment(id=node["databaseId"], body=node["body"])
        for node in pull["comments"]["nodes"]
        if (node.get("author") or {}).get("login") in logins
    )
    return MergeRequest(
        number=pull["number"],
        title=pull["title"],
        body=pull.get("body") or "",
        source_branch=pull["headRefName"],
        target_branch=pull["baseRefName"],
        bot_comments=comments,
        head_sha=pull.get("headRefOid") or "",
        from_fork=bool(pull.get("isCrossRepository")),
    )


def _rate_limited(error: gidgethub.HTTPException) -> bool:
    return int(error.status_code) == 403 and "rate limit" in str(error).lower()


def _conclusion(status: CommitStatus) -> str:
    if status.state == "success":
        return "neutral" if status.warnings else "success"
    if status.state == "action_required":
        return "action_required"
    return "failure"


def _annotation(note: Annotation) -> dict[str, Any]:
    found: dict[str, Any] = {
        "path": note.path,
        "start_line": note.line,
        "end_line": note.line,
        "annotation_level": note.level,
        "message": _bounded(note.message, ANNOTATION_MESSAGE_LIMIT),
    }
    if note.title:
        found["title"] = _one_line(note.title, CHECK_TITLE_LIMIT)
    return found


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
