"""A stateful fake GitLab (REST v4) on 127.0.0.1, for the bot under test.

It keeps real git objects (`fakes/git.py`), branches, merge requests and issues (each with its
own iid sequence, as on GitLab), notes, award emoji, commit statuses and project members with
access levels. Requests authenticate with a personal/project access token (`PRIVATE-TOKEN`),
and writes need Developer access, as on GitLab. It behaves like GitLab where the bot could go
wrong: `create` on an existing file and `update` on a missing one are 400s, `execute_filemode`
counts only on a `chmod` action, a second open merge request for a branch is a 409, a commit
status cannot move into the state it is in.

    gitlab = FakeGitLab(token=TOKEN).start()
    gitlab.create_project("group/app", {"Pipfile": TEXT})
    push = gitlab.push("group/app", {"Pipfile": NEW})
    ... the bot talks to gitlab.url ...
    gitlab.merge_requests("group/app"); gitlab.notes("group/app", 1)
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from aiohttp import web

from fakes.git import Commit, Content, GitStore, Push, now_iso
from fakes.server import ThreadedServer

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
MAX_NOTE = 1_000_000
MAX_DESCRIPTION = 1_048_576


@dataclass
class User:
    id: int
    username: str
    bot: bool = False

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.username.title(),
            "state": "active",
            "bot": self.bot,
        }


@dataclass
class Note:
    id: int
    body: str
    author: User
    noteable_type: str  # "MergeRequest" | "Issue"
    noteable_iid: int
    created_at: str
    updated_at: str
    emoji: list[tuple[str, str]] = field(default_factory=list)  # (username, name)


@dataclass
class Issue:
    """An issue or a merge request (`source_branch` set): their iids are counted apart."""

    iid: int
    title: str
    description: str
    author: User
    created_at: str
    updated_at: str
    state: str = "opened"  # opened | closed | merged
    labels: list[str] = field(default_factory=list)
    notes: list[int] = field(default_factory=list)
    # merge requests only
    source_branch: str = ""
    target_branch: str = ""
    source_project_id: int = 0
    draft: bool = False


@dataclass(kw_only=True)
class Project(GitStore):
    id: int
    path: str  # path_with_namespace
    default_branch: str
    members: dict[int, int] = field(default_factory=dict)  # user id: access level
    fork_of: int | None = None  # the project this one was forked from
    issues: dict[int, Issue] = field(default_factory=dict)
    merge_requests: dict[int, Issue] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int

    @property
    def write(self) -> bool:
        return self.method not in ("GET", "HEAD")


class HTTPError(Exception):
    def __init__(self, status: int, message: Any):
        super().__init__(str(message))
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    query: dict[str, str]
    json: Any
    user: User
    match: re.Match[str]

    def arg(self, name: str) -> str:
        return unquote(self.match[name])


Route = tuple[str, re.Pattern[str], Callable[[Request], tuple[int, Any]]]


class FakeGitLab(ThreadedServer):
    name = "fake-gitlab"

    def __init__(self, *, token: str, bot_username: str = "thoth-bot") -> None:
        self._ids = itertools.count(100)
        self.bot = User(next(self._ids), bot_username, bot=True)
        self.users: dict[str, User] = {bot_username: self.bot}
        self.tokens = {token: self.bot}
        self.projects: dict[int, Project] = {}
        self.calls: list[Call] = []
        self.bot_commits: list[tuple[str, str]] = []  # (project path, sha) the bot created
        self._notes: dict[int, Note] = {}
        self._lock = threading.RLock()
        self._faults: list[tuple[str, re.Pattern[str], int, dict[str, str]]] = []
        self._holds: list[list[Any]] = []  # [method, pattern, requests let through, gate]
        self._waiting = 0
        self._routes: list[Route] = list(self._route_table())
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        super().__init__(app)

    # ---- test-facing API ---------------------------------------------------------------

    def user(self, username: str) -> User:
        with self._lock:
            if username not in self.users:
                self.users[username] = User(next(self._ids), username)
            return self.users[username]

    def create_project(
        self,
        path: str,
        files: Mapping[str, str | tuple[str, str]] | None = None,
        *,
        default_branch: str = "main",
        bot_access: int = DEVELOPER,
    ) -> Project:
        with self._lock:
            project = Project(id=next(self._ids), path=path, default_branch=default_branch)
            project.members[self.bot.id] = bot_access
            tree = project.build_tree(project.put_files(files or {"README.md": "# app\n"}))
            sha = project.put_commit(tree, (), "Initial commit", "jsmith")
            project.refs[f"heads/{default_branch}"] = sha
            self.projects[project.id] = project
            return project

    def fork_project(self, path: str, fork_path: str) -> Project:
        """`fork_path`, a fork of `path` by someone else: the bot is no member of it."""
        with self._lock:
            parent = self.project(path)
            fork = Project(
                id=next(self._ids),
                path=fork_path,
                default_branch=parent.default_branch,
                fork_of=parent.id,
                blobs=dict(parent.blobs),
                trees=dict(parent.trees),
                commits=dict(parent.commits),
                refs={
                    f"heads/{parent.default_branch}": parent.refs[f"heads/{parent.default_branch}"]
                },
            )
            self.projects[fork.id] = fork
            return fork

    def project(self, path: str) -> Project:
        with self._lock:
            for project in self.projects.values():
                if project.path == path:
                    return project
            raise KeyError(path)

    def add_member(self, path: str, username: str, access_level: int) -> User:
        with self._lock:
            user = self.user(username)
            self.project(path).members[user.id] = access_level
            return user

    def push(
        self,
        path: str,
        files: Mapping[str, Content | None],
        *,
        branch: str | None = None,
        message: str = "update",
        author: str = "jsmith",
    ) -> Push:
        """A person's commit on top of `branch` (created from the default branch if new)."""
        with self._lock:
            project = self.project(path)
            push = project.commit_on(
                path,
                branch or project.default_branch,
                project.default_branch,
                files,
                message=message,
                author=author,
            )
            if project.fork_of is not None:  # GitLab keeps a fork's MR commits in its parent too
                project.copy_objects_to(self.projects[project.fork_of])
            return push

    def open_merge_request(
        self,
        path: str,
        *,
        source_branch: str,
        title: str = "Change",
        author: str = "jsmith",
        source_project: str | None = None,
    ) -> Issue:
        """A person's merge request into the default branch (from a fork: `source_project`)."""
        with self._lock:
            project = self.project(path)
            body: dict[str, Any] = {
                "source_branch": source_branch,
                "target_branch": project.default_branch,
                "title": title,
            }
            if source_project is not None:
                body["source_project_id"] = self.project(source_project).id
            return self._new_merge_request(project, body, self.user(author))

    def merge(self, path: str, iid: int) -> str:
        """Merge a merge request whose branch is on top of its target (fast-forward)."""
        with self._lock:
            project = self.project(path)
            mr = project.merge_requests[iid]
            head = project.refs[f"heads/{mr.source_branch}"]
            target = project.refs[f"heads/{mr.target_branch}"]
            assert target in project.ancestors(head), "only fast-forward merges here"
            project.refs[f"heads/{mr.target_branch}"] = head
            del project.refs[f"heads/{mr.source_branch}"]  # remove_source_branch
            mr.state = "merged"
            return head

    def merge_request_head(self, path: str, iid: int) -> str | None:
        """The head commit of a merge request's source branch (in a fork, for a fork's)."""
        with self._lock:
            project = self.project(path)
            return self._source_head(project, project.merge_requests[iid])

    def add_note(self, path: str, iid: int, body: str, *, author: str) -> Note:
        with self._lock:
            project = self.project(path)
            return self._add_note(
                project.merge_requests[iid], "MergeRequest", body, self.user(author)
            )

    def file(self, path: str, ref: str, name: str) -> str | None:
        with self._lock:
            return self.project(path).text(ref, name)

    def mode(self, path: str, ref: str, name: str) -> str | None:
        with self._lock:
            return self.project(path).mode(ref, name)

    def files(self, path: str, ref: str) -> dict[str, str]:
        with self._lock:
            return self.project(path).texts(ref)

    def head(self, path: str, branch: str) -> str | None:
        with self._lock:
            return self.project(path).refs.get(f"heads/{branch}")

    def commit(self, path: str, sha: str) -> Commit:
        with self._lock:
            return self.project(path).commits[sha]

    def merge_requests(self, path: str, state: str | None = None) -> list[Issue]:
        with self._lock:
            return [
                mr
                for mr in self.project(path).merge_requests.values()
                if state is None or mr.state == state
            ]

    def issues(self, path: str, state: str | None = None) -> list[Issue]:
        with self._lock:
            return [
                issue
                for issue in self.project(path).issues.values()
                if state is None or issue.state == state
            ]

    def notes(self, path: str, iid: int, *, on: str = "merge_request") -> list[Note]:
        with self._lock:
            project = self.project(path)
            owner = project.merge_requests if on == "merge_request" else project.issues
            return [self._notes[note_id] for note_id in owner[iid].notes]

    def statuses(self, path: str, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.project(path).statuses.get(sha, []))

    def locks_written(self, since: int = 0) -> list[tuple[str, str, str]]:
        """(where, Pipfile, Pipfile.lock) of every lock the bot's commits since `since` wrote."""
        with self._lock:
            return [
                lock
                for path, sha in self.bot_commits[since:]
                for lock in self.project(path).locks_changed(sha, path)
            ]

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int = 502,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next `times` requests matching answer `status` (an outage, a rate limit)."""
        with self._lock:
            for _ in range(times):
                self._faults.append((method, re.compile(path_pattern), status, dict(headers or {})))

    def hold(self, method: str, path_pattern: str, *, after: int = 0) -> threading.Event:
        """Requests matching, after the first `after` of them, wait until the returned event
        is set."""
        gate = threading.Event()
        with self._lock:
            self._holds.append([method, re.compile(path_pattern), after, gate])
        return gate

    def held(self) -> int:
        """How many requests are waiting at a hold."""
        with self._lock:
            return self._waiting

    def before_stop(self) -> None:
        for *_, gate in self._holds:
            gate.set()

    def calls_since(self, mark: int) -> list[Call]:
        with self._lock:
            return list(self.calls[mark:])

    # ---- plumbing ----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        raw_path = request.raw_path.partition("?")[0]
        await self._wait_at_holds(request.method, raw_path)
        body = None
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return web.json_response({"error": "body is not JSON"}, status=400)
        status, data, headers = self._handle(request, raw_path, body)
        with self._lock:
            self.calls.append(Call(request.method, request.path_qs, status))
            if status < 400:  # gitlab.com's rate limit headers (2,000 calls a minute a user)
                headers = {
                    "RateLimit-Limit": "2000",
                    "RateLimit-Remaining": str(max(0, 2000 - len(self.calls))),
                    "RateLimit-Reset": str(int(time.time()) + 60),
                    **headers,
                }
        if request.method == "HEAD" or status == 204:
            return web.Response(status=status, headers=headers)
        return web.json_response(data, status=status, headers=headers)

    async def _wait_at_holds(self, method: str, raw_path: str) -> None:
        for hold in list(self._holds):
            if hold[0] != method or not hold[1].search(raw_path):
                continue
            with self._lock:
                hold[2] -= 1
                waits = hold[2] < 0
                self._waiting += waits
            if waits:
                await asyncio.get_running_loop().run_in_executor(None, hold[3].wait)
                with self._lock:
                    self._waiting -= 1

    def _handle(
        self, request: web.Request, raw_path: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            for i, (method, pattern, status, headers) in enumerate(self._faults):
                if method == request.method and pattern.search(raw_path):
                    del self._faults[i]
                    return status, {"message": f"{status} (injected by the test)"}, headers
            if not raw_path.startswith("/api/v4/"):
                return 404, {"error": "404 Not Found"}, {}
            path = raw_path[len("/api/v4") :]
            token = request.headers.get("PRIVATE-TOKEN") or request.headers.get(
                "Authorization", ""
            ).removeprefix("Bearer ")
            user = self.tokens.get(token)
            if user is None:
                return 401, {"message": "401 Unauthorized"}, {}
            method = "GET" if request.method == "HEAD" else request.method
            for route_method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match is None or route_method != method:
                    continue
                req = Request(method, dict(parse_qsl(request.query_string)), body, user, match)
                try:
                    result = handler(req)
                except HTTPError as error:
                    return error.status, {"message": error.message}, {}
                status, data = result
                if isinstance(data, tuple):  # a page of a list
                    items, link = data
                    return status, items, ({"Link": link} if link else {})
                return status, data, {}
            return 404, {"error": "404 Not Found"}, {}

    def _route_table(self) -> Iterable[Route]:
        p = r"/projects/(?P<project>[^/]+)"
        mr = p + r"/merge_requests/(?P<iid>\d+)"
        table: list[tuple[str, str, Callable[[Request], tuple[int, Any]]]] = [
            ("GET", r"/user", lambda req: (200, req.user.json())),
            ("GET", r"/users", self._get_users),
            ("GET", p, lambda req: (200, self._project_json(self._project(req)))),
            ("GET", p + r"/repository/branches/(?P<branch>[^/]+)", self._get_branch),
            ("GET", p + r"/repository/files/(?P<file>[^/]+)", self._get_file),
            ("GET", p + r"/repository/compare", self._get_compare),
            ("POST", p + r"/repository/commits", self._post_commit),
            ("GET", p + r"/repository/commits/(?P<sha>\w+)/statuses", self._get_statuses),
            ("POST", p + r"/statuses/(?P<sha>\w+)", self._post_status),
            ("GET", p + r"/members/all/(?P<user>\d+)", self._get_member),
            ("GET", p + r"/merge_requests", self._get_merge_requests),
            ("POST", p + r"/merge_requests", self._post_merge_request),
            ("GET", mr, lambda req: (200, self._mr_json(*self._mr(req)))),
            ("PUT", mr, self._put_merge_request),
            ("GET", mr + r"/diffs", self._get_diffs),
            ("GET", mr + r"/notes", lambda req: self._get_notes(req, "merge_request")),
            ("POST", mr + r"/notes", lambda req: self._post_note(req, "merge_request")),
            ("GET", mr + r"/notes/(?P<note>\d+)", self._get_note),
            ("PUT", mr + r"/notes/(?P<note>\d+)", self._put_note),
            ("POST", mr + r"/notes/(?P<note>\d+)/award_emoji", self._post_emoji),
            ("GET", p + r"/issues", self._get_issues),
            ("POST", p + r"/issues", self._post_issue),
            ("PUT", p + r"/issues/(?P<iid>\d+)", self._put_issue),
            ("POST", p + r"/issues/(?P<iid>\d+)/notes", lambda req: self._post_note(req, "issue")),
        ]
        for method, pattern, handler in table:
            yield method, re.compile(pattern), handler

    # -- projects, users, members --

    def _project(self, req: Request) -> Project:
        key = req.arg("project")
        project = self.projects.get(int(key)) if key.isdigit() else None
        if project is None:
            project = next((p for p in self.projects.values() if p.path == key), None)
        if project is None or self.bot.id not in project.members:
            raise HTTPError(404, "404 Project Not Found")
        return project

    def _require_developer(self, project: Project, user: User) -> None:
        if project.members.get(user.id, 0) < DEVELOPER:
            raise HTTPError(403, "403 Forbidden")

    def _project_json(self, project: Project) -> dict[str, Any]:
        return {
            "id": project.id,
            "name": project.path.rsplit("/", 1)[-1],
            "path": project.path.rsplit("/", 1)[-1],
            "path_with_namespace": project.path,
            "default_branch": project.default_branch,
            "web_url": f"{self.url}/{project.path}",
            "http_url_to_repo": f"{self.url}/{project.path}.git",
        }

    def _get_users(self, req: Request) -> tuple[int, Any]:
        user = self.users.get(req.query.get("username", ""))
        return 200, [user.json()] if user else []

    def _get_member(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        user_id = int(req.match["user"])
        level = project.members.get(user_id)
        user = next((u for u in self.users.values() if u.id == user_id), None)
        if level is None or user is None:
            raise HTTPError(404, "404 Not found")
        return 200, {**user.json(), "access_level": level}

    # -- repository --

    def _commit_json(self, commit: Commit) -> dict[str, Any]:
        return {
            "id": commit.sha,
            "short_id": commit.sha[:8],
            "title": commit.message.splitlines()[0] if commit.message else "",
            "message": commit.message,
            "parent_ids": list(commit.parents),
            "author_name": commit.author,
            "created_at": commit.date,
        }

    def _get_branch(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        name = req.arg("branch")
        sha = project.refs.get(f"heads/{name}")
        if sha is None:
            raise HTTPError(404, "404 Branch Not Found")
        return 200, {
            "name": name,
            "commit": self._commit_json(project.commits[sha]),
            "default": name == project.default_branch,
            "protected": name == project.default_branch,
            "web_url": f"{self.url}/{project.path}/-/tree/{name}",
        }

    def _get_file(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        name, ref = req.arg("file"), req.query.get("ref")
        if not ref:
            raise HTTPError(400, "400 Bad request - ref is missing")
        sha = project.resolve(ref)
        entry = project.files_at(sha).get(name) if sha else None
        if entry is None:
            raise HTTPError(404, "404 File Not Found")
        data = project.blobs[entry[1]]
        return 200, {
            "file_name": name.rsplit("/", 1)[-1],
            "file_path": name,
            "size": len(data),
            "encoding": "base64",
            "content": base64.b64encode(data).decode(),
            "ref": ref,
            "blob_id": entry[1],
            "commit_id": sha,
            "execute_filemode": entry[0] == "100755",
        }

    def _get_compare(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        base = project.resolve(req.query.get("from", ""))
        head = project.resolve(req.query.get("to", ""))
        if base is None or head is None:
            raise HTTPError(404, "404 Ref Not Found")
        return 200, {
            "commit": self._commit_json(project.commits[head]),
            "commits": [],
            "diffs": self._diffs(project, base, head),
            "compare_same_ref": base == head,
        }

    def _diffs(self, project: Project, base: str, head: str) -> list[dict[str, Any]]:
        before, after = project.files_at(base), project.files_at(head)
        return [
            {
                "old_path": name,
                "new_path": name,
                "new_file": name not in before,
                "deleted_file": name not in after,
                "renamed_file": False,
                "a_mode": before.get(name, ("0", ""))[0],
                "b_mode": after.get(name, ("0", ""))[0],
                "diff": "",
            }
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        ]

    def _post_commit(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        self._require_developer(project, req.user)
        body = req.json or {}
        branch = body.get("branch")
        actions = body.get("actions") or []
        if not branch or not body.get("commit_message") or not actions:
            raise HTTPError(400, "branch, commit_message and actions are required")
        current = project.refs.get(f"heads/{branch}")
        start = body.get("start_sha") or body.get("start_branch")
        if start is not None:
            if current is not None and not body.get("force"):
                raise HTTPError(
                    400,
                    f"A branch called '{branch}' already exists. "
                    "Switch to that branch in order to make changes",
                )
            parent = project.resolve(start)
            if parent is None:
                raise HTTPError(400, f"Invalid start {start}")
        elif current is None:
            raise HTTPError(400, "You can only create or edit files when you are on a branch")
        else:
            parent = current
        files = dict(project.files_at(parent))
        for action in actions:
            self._apply(project, files, action)
        sha = project.put_commit(
            project.build_tree(files), (parent,), body["commit_message"], req.user.username
        )
        project.refs[f"heads/{branch}"] = sha
        if req.user is self.bot:
            self.bot_commits.append((project.path, sha))
        return 201, self._commit_json(project.commits[sha])

    def _apply(
        self, project: Project, files: dict[str, tuple[str, str]], action: Mapping[str, Any]
    ) -> None:
        kind, name = action.get("action"), action.get("file_path", "")
        exists = name in files
        if kind in ("update", "delete", "chmod", "move") and not exists:
            raise HTTPError(400, f"A file with this name doesn't exist: {name}")
        if kind == "create" and exists:
            raise HTTPError(400, f"A file with this name already exists: {name}")
        if kind == "delete":
            del files[name]
            return
        if kind == "chmod":
            files[name] = ("100755" if action.get("execute_filemode") else "100644", files[name][1])
            return
        if kind not in ("create", "update"):
            raise HTTPError(400, f"Unknown action {kind!r}")
        content = action.get("content", "")
        data = (
            base64.b64decode(content)
            if action.get("encoding") == "base64"
            else str(content).encode()
        )
        mode = files[name][0] if exists else "100644"  # execute_filemode counts only on chmod
        files[name] = (mode, project.put_blob(data))

    def _post_status(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        self._require_developer(project, req.user)
        sha = req.match["sha"]
        if sha not in project.commits:
            raise HTTPError(404, "404 Commit Not Found")
        body = req.json or {}
        state, name = body.get("state"), body.get("name") or "default"
        if state not in ("pending", "running", "success", "failed", "canceled", "skipped"):
            raise HTTPError(400, "state does not have a valid value")
        if len(body.get("description") or "") > 255:
            raise HTTPError(400, "description is too long (maximum is 255 characters)")
        earlier = [s for s in project.statuses.get(sha, []) if s["name"] == name]
        if earlier and earlier[-1]["status"] == state:
            verb = {"pending": "enqueue", "success": "succeed", "failed": "drop"}.get(state, state)
            raise HTTPError(400, f"Cannot transition status via :{verb} from :{state}")
        status = {
            "id": next(self._ids),
            "sha": sha,
            "status": state,
            "name": name,
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "created_at": now_iso(),
            "author": req.user.json(),
        }
        project.statuses.setdefault(sha, []).append(status)
        return 201, status

    def _get_statuses(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        return 200, list(project.statuses.get(req.match["sha"], []))

    # -- merge requests and issues --

    def _mr(self, req: Request) -> tuple[Project, Issue]:
        project = self._project(req)
        mr = project.merge_requests.get(int(req.match["iid"]))
        if mr is None:
            raise HTTPError(404, "404 Not found")
        return project, mr

    def _mr_json(self, project: Project, mr: Issue) -> dict[str, Any]:
        return {
            "id": mr.iid + 10_000 * project.id,
            "iid": mr.iid,
            "project_id": project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "source_branch": mr.source_branch,
            "target_branch": mr.target_branch,
            "source_project_id": mr.source_project_id,
            "target_project_id": project.id,
            "author": mr.author.json(),
            "labels": list(mr.labels),
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "sha": self._source_head(project, mr),
            "web_url": f"{self.url}/{project.path}/-/merge_requests/{mr.iid}",
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
        }

    def _source_head(self, project: Project, mr: Issue) -> str | None:
        origin = self.projects.get(mr.source_project_id, project)
        return origin.refs.get(f"heads/{mr.source_branch}")

    def _issue_json(self, project: Project, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.iid + 20_000 * project.id,
            "iid": issue.iid,
            "project_id": project.id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "author": issue.author.json(),
            "labels": list(issue.labels),
            "web_url": f"{self.url}/{project.path}/-/issues/{issue.iid}",
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
        }

    def _filter(self, items: Iterable[Issue], query: Mapping[str, str]) -> list[Issue]:
        state = query.get("state", "all")
        result = [
            item
            for item in items
            if (state == "all" or item.state == state)
            and ("author_id" not in query or str(item.author.id) == query["author_id"])
            and query.get("source_branch", item.source_branch) == item.source_branch
            and query.get("target_branch", item.target_branch) == item.target_branch
        ]
        reverse = query.get("sort", "desc") == "desc"
        key = "updated_at" if query.get("order_by") == "updated_at" else "created_at"
        return sorted(result, key=lambda item: (getattr(item, key), item.iid), reverse=reverse)

    def _get_merge_requests(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        found = self._filter(project.merge_requests.values(), req.query)
        return 200, self._page(req, [self._mr_json(project, mr) for mr in found])

    def _text(self, body: Mapping[str, Any], key: str, limit: int) -> str:
        text = str(body.get(key) or "")
        if len(text) > limit:
            raise HTTPError(400, {key: [f"is too long (maximum is {limit} characters)"]})
        return text

    def _labels(self, body: Mapping[str, Any]) -> list[str]:
        labels = body.get("labels") or ""
        names = labels.split(",") if isinstance(labels, str) else labels
        return [name.strip() for name in names if name.strip()]

    def _new_merge_request(self, project: Project, body: Mapping[str, Any], user: User) -> Issue:
        source, target = body.get("source_branch"), body.get("target_branch")
        if not source or not target or not body.get("title"):
            raise HTTPError(400, "source_branch, target_branch and title are required")
        origin = self.projects.get(body.get("source_project_id") or project.id, project)
        for name, where in ((source, origin), (target, project)):
            if f"heads/{name}" not in where.refs:
                raise HTTPError(400, {"message": [f"Branch {name} does not exist"]})
        for other in project.merge_requests.values():
            if other.state == "opened" and (other.source_branch, other.target_branch) == (
                source,
                target,
            ):
                raise HTTPError(
                    409,
                    [
                        f"Another open merge request already exists for this source branch: "
                        f"!{other.iid}"
                    ],
                )
        iid = max(project.merge_requests, default=0) + 1
        mr = Issue(
            iid=iid,
            title=str(body["title"]),
            description=self._text(body, "description", MAX_DESCRIPTION),
            author=user,
            created_at=now_iso(),
            updated_at=now_iso(),
            labels=self._labels(body),
            source_branch=source,
            target_branch=target,
            source_project_id=origin.id,
            draft=str(body["title"]).lower().startswith(("draft:", "[draft]")),
        )
        project.merge_requests[iid] = mr
        return mr

    def _post_merge_request(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        self._require_developer(project, req.user)
        mr = self._new_merge_request(project, req.json or {}, req.user)
        return 201, self._mr_json(project, mr)

    def _edit(self, item: Issue, body: Mapping[str, Any], *, merge_request: bool) -> None:
        if "title" in body:
            item.title = str(body["title"])
        if "description" in body:
            item.description = self._text(body, "description", MAX_DESCRIPTION)
        if "add_labels" in body:
            added = self._labels({"labels": body["add_labels"]})
            item.labels = [*item.labels, *(name for name in added if name not in item.labels)]
        event = body.get("state_event")
        if event == "close":
            item.state = "closed"
        elif event == "reopen":
            item.state = "opened"
        elif event is not None:
            raise HTTPError(400, "state_event does not have a valid value")
        item.updated_at = now_iso()

    def _put_merge_request(self, req: Request) -> tuple[int, Any]:
        project, mr = self._mr(req)
        self._require_developer(project, req.user)
        self._edit(mr, req.json or {}, merge_request=True)
        return 200, self._mr_json(project, mr)

    def _get_diffs(self, req: Request) -> tuple[int, Any]:
        project, mr = self._mr(req)
        head = self._source_head(project, mr)
        target = project.refs.get(f"heads/{mr.target_branch}")
        if head is None or target is None:
            return 200, self._page(req, [])
        base = next(sha for sha in project.ancestors(head) if sha in project.ancestors(target))
        return 200, self._page(req, self._diffs(project, base, head))

    def _get_issues(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        found = self._filter(project.issues.values(), req.query)
        return 200, self._page(req, [self._issue_json(project, issue) for issue in found])

    def _post_issue(self, req: Request) -> tuple[int, Any]:
        project = self._project(req)
        body = req.json or {}
        if not body.get("title"):
            raise HTTPError(400, "title is missing")
        iid = max(project.issues, default=0) + 1
        issue = Issue(
            iid=iid,
            title=str(body["title"]),
            description=self._text(body, "description", MAX_DESCRIPTION),
            author=req.user,
            created_at=now_iso(),
            updated_at=now_iso(),
            labels=self._labels(body),
        )
        project.issues[iid] = issue
        return 201, self._issue_json(project, issue)

    def _put_issue(self, req: Request) -> tuple[int, Any]:
        project, issue = self._noteable(req, "issue")
        self._edit(issue, req.json or {}, merge_request=False)
        return 200, self._issue_json(project, issue)

    # -- notes and award emoji --

    def _note_json(self, note: Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "body": note.body,
            "author": note.author.json(),
            "system": False,
            "noteable_type": note.noteable_type,
            "noteable_iid": note.noteable_iid,
            "created_at": note.created_at,
            "updated_at": note.updated_at,
        }

    def _add_note(self, owner: Issue, kind: str, body: str, author: User) -> Note:
        note = Note(next(self._ids), body, author, kind, owner.iid, now_iso(), now_iso())
        self._notes[note.id] = note
        owner.notes.append(note.id)
        owner.updated_at = now_iso()
        return note

    def _noteable(self, req: Request, on: str) -> tuple[Project, Issue]:
        if on == "merge_request":
            return self._mr(req)
        project = self._project(req)
        issue = project.issues.get(int(req.match["iid"]))
        if issue is None:
            raise HTTPError(404, "404 Not found")
        return project, issue

    def _get_notes(self, req: Request, on: str) -> tuple[int, Any]:
        _, owner = self._noteable(req, on)
        notes = [self._notes[note_id] for note_id in owner.notes]
        if req.query.get("sort", "desc") == "desc":
            notes.reverse()
        return 200, self._page(req, [self._note_json(note) for note in notes])

    def _post_note(self, req: Request, on: str) -> tuple[int, Any]:
        _, owner = self._noteable(req, on)
        body = self._text(req.json or {}, "body", MAX_NOTE)
        if not body:
            raise HTTPError(400, "body is missing")
        kind = "MergeRequest" if on == "merge_request" else "Issue"
        return 201, self._note_json(self._add_note(owner, kind, body, req.user))

    def _find_note(self, req: Request) -> Note:
        _, mr = self._mr(req)
        note_id = int(req.match["note"])
        if note_id not in mr.notes:
            raise HTTPError(404, "404 Note Not Found")
        return self._notes[note_id]

    def _get_note(self, req: Request) -> tuple[int, Any]:
        return 200, self._note_json(self._find_note(req))

    def _put_note(self, req: Request) -> tuple[int, Any]:
        note = self._find_note(req)
        if note.author is not req.user:
            raise HTTPError(403, "403 Forbidden")
        note.body = self._text(req.json or {}, "body", MAX_NOTE)
        note.updated_at = now_iso()
        return 200, self._note_json(note)

    def _post_emoji(self, req: Request) -> tuple[int, Any]:
        note = self._find_note(req)
        name = (req.json or {}).get("name")
        if not name:
            raise HTTPError(400, "name is missing")
        if (req.user.username, name) in note.emoji:
            raise HTTPError(404, "404 Award Emoji Name has already been taken Not Found")
        note.emoji.append((req.user.username, name))
        return 201, {
            "id": next(self._ids),
            "name": name,
            "user": req.user.json(),
            "awardable_id": note.id,
            "awardable_type": "Note",
        }

    # -- pagination --

    def _page(self, req: Request, items: list[Any]) -> tuple[list[Any], str]:
        per_page = min(int(req.query.get("per_page", 20)), 100)
        page = int(req.query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        link = ""
        if page * per_page < len(items):
            query = {**req.query, "page": str(page + 1), "per_page": str(per_page)}
            link = f'<{self.url}/api/v4{req.match.string}?{urlencode(query)}>; rel="next"'
        return chunk, link
