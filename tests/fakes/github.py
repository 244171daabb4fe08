"""A stateful fake GitHub (REST v3 + GraphQL v4) on 127.0.0.1, for the bot under test.

It keeps real git objects (blobs, trees and commits hashed the way git hashes them), refs,
pull requests, issues, comments, labels, statuses and reactions, and it authenticates like
GitHub: the App's JWT (RS256, verified with the App's public key) for `/app` endpoints, an
installation token everywhere else, and an installation only sees its own repositories.
GraphQL queries are answered by `github_graphql.py` against `github_schema.graphql`, a subset of
GitHub's published schema (checked by `tests/test_github_graphql_schema.py`).

    github = FakeGitHub(app_id=1, public_key=PEM).start()   # its own thread and event loop
    github.create_repo("octo/app", {"Pipfile": TEXT}, installation=7)
    push = github.push("octo/app", {"Pipfile": NEW_TEXT})     # a person's push: before/after
    ... the bot talks to github.url ...
    github.pulls("octo/app"); github.comments("octo/app", 1); github.calls

It serves both layouts: github.com's (`/repos/...`, `/graphql`) and GitHub Enterprise
Server's (`/api/v3/repos/...`, `/api/graphql`). Every request is recorded in `calls`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
from aiohttp import web

from fakes.git import Commit, Content, GitStore, Push, now_iso
from fakes.github_graphql import GraphQLMixin
from fakes.server import ThreadedServer

MAX_BODY = 65536  # GitHub's limit on issue, pull request and comment bodies
MAX_STATUS_DESCRIPTION = 140
ANNOTATION_FIELDS = {"path", "start_line", "end_line", "annotation_level", "message"}
CHECK_CONCLUSIONS = (
    "action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale",
    "timed_out",
)  # fmt: skip
FILE_MODES = {"100644", "100755", "040000", "160000", "120000"}


@dataclass
class Comment:
    id: int
    body: str
    user: str
    created_at: str
    updated_at: str
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (user, content)


@dataclass
class Issue:
    """An issue, or the issue side of a pull request (they share numbers, as on GitHub)."""

    number: int
    title: str
    body: str
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)
    # pull requests only
    is_pull: bool = False
    head: str = ""  # branch name
    head_repo: str = ""  # full name of the repository holding `head` (a fork for forked PRs)
    base: str = ""
    draft: bool = False
    merged: bool = False
    closed_head_sha: str | None = None


@dataclass(kw_only=True)
class Repo(GitStore):
    full_name: str
    id: int
    default_branch: str
    private: bool = False
    fork_of: str | None = None
    issues: dict[int, Issue] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[int, dict[str, Any]] = field(default_factory=dict)  # id: the check run
    labels: set[str] = field(default_factory=set)
    permissions: dict[str, str] = field(default_factory=dict)  # login: admin|maintain|write|...


# ---- the server ---------------------------------------------------------------------------


class HTTPError(Exception):
    def __init__(self, status: int, message: str, errors: list[Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass
class Request:
    method: str
    path: str  # without the /api/v3 prefix, without the query
    query: dict[str, str]
    json: Any
    installation: int | None  # the token's installation (None for the App's JWT)
    match: re.Match[str]
    base_url: str  # where this API lives, for links


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    graphql: str | None = None  # "query" or "mutation" for POST /graphql

    @property
    def write(self) -> bool:
        """Whether the call changes a repository (minting a token does not)."""
        if self.path.removeprefix("/api/v3").startswith("/app/"):
            return False
        if self.graphql is not None:
            return self.graphql == "mutation"
        return self.method not in ("GET", "HEAD")


Route = tuple[str, re.Pattern[str], Callable[[Request], tuple[int, Any]]]


class FakeGitHub(ThreadedServer, GraphQLMixin):
    name = "fake-github"

    def __init__(self, *, app_id: int, public_key: str, slug: str = "thoth-bot-test") -> None:
        self.app_id = app_id
        self.public_key = public_key
        self.slug = slug
        self.bot_login = f"{slug}[bot]"
        self.calls: list[Call] = []
        self.repos: dict[str, Repo] = {}
        self.installations: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # token: (installation, expiry)
        self.token_lifetime = 3600.0
        self.users: dict[str, str] = {}  # login: "User" | "Bot"
        self.truncate_blobs_over: int | None = None  # GraphQL Blob.text truncation
        self.bot_commits: list[tuple[str, str]] = []  # (repository, sha) the App created
        # (method, path, status, time.monotonic()) of every injected failure, and of every
        # request: `request_times` lets tests check how long the bot waited.
        self.fault_times: list[tuple[str, str, int, float]] = []
        self.request_times: list[tuple[str, str, float]] = []
        # GitHub's secondary limits on content-creating requests, per token, as its docs give
        # them ((80, 60.0), (500, 3600.0): 80 a minute, 500 an hour), on `clock`; off: ().
        self.content_limits: tuple[tuple[int, float], ...] = ()
        # Installations that were not granted `checks: write` (their check runs are refused).
        self.without_checks: set[int] = set()
        # Each request to the Checks API: (method, number of annotations it carried).
        self.check_requests: list[tuple[str, int]] = []
        self.clock: Callable[[], float] = time.monotonic
        self.secondary_limit_errors = 0
        self._content_times: dict[str, collections.deque[float]] = {}
        self._ids = itertools.count(1000)
        self._comments: dict[int, Comment] = {}
        self._lock = threading.RLock()
        self._faults: list[tuple[str, re.Pattern[str], int, dict[str, str], str]] = []
        self._holds: list[tuple[str, re.Pattern[str], threading.Event]] = []
        self._routes: list[Route] = list(self._route_table())
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        super().__init__(app)

    def before_stop(self) -> None:
        for _, _, gate in self._holds:
            gate.set()

    # ---- test-facing API ---------------------------------------------------------------

    def create_repo(
        self,
        full_name: str,
        files: Mapping[str, str | bytes | tuple[str, str]] | None = None,
        *,
        installation: int,
        default_branch: str = "main",
        private: bool = False,
        fork_of: str | None = None,
        author: str = "octocat",
    ) -> Repo:
        """A repository with one commit holding `files` (path: text, or (text, mode))."""
        with self._lock:
            repo = Repo(
                full_name=full_name,
                id=next(self._ids),
                default_branch=default_branch,
                private=private,
                fork_of=fork_of,
            )
            self.repos[full_name] = repo
            entry = self.installations.setdefault(
                installation, {"account": full_name.split("/")[0], "repos": []}
            )
            entry["repos"].append(full_name)
            self.users.setdefault(author, "User")
            repo.permissions[author] = "admin"
            tree = repo.build_tree(repo.put_files(files or {}))
            repo.refs[f"heads/{default_branch}"] = repo.put_commit(tree, (), "Initial", author)
            return repo

    def fork(self, full_name: str, fork_name: str) -> Repo:
        """`fork_name`, a fork of `full_name` the App is not installed on."""
        with self._lock:
            parent = self.repos[full_name]
            fork = Repo(
                full_name=fork_name,
                id=next(self._ids),
                default_branch=parent.default_branch,
                fork_of=full_name,
                blobs=dict(parent.blobs),
                trees=dict(parent.trees),
                commits=dict(parent.commits),
                refs={
                    f"heads/{parent.default_branch}": parent.refs[f"heads/{parent.default_branch}"]
                },
            )
            self.repos[fork_name] = fork
            return fork

    def grant(self, full_name: str, login: str, role: str) -> None:
        """Give `login` a role on the repository: admin, maintain, write, triage or read."""
        with self._lock:
            self.repos[full_name].permissions[login] = role
            self.users.setdefault(login, "User")

    def push(
        self,
        full_name: str,
        files: Mapping[str, Content | None],
        *,
        branch: str | None = None,
        message: str = "update",
        author: str = "octocat",
    ) -> Push:
        """A person's commit on top of `branch` (created from the default branch if new)."""
        with self._lock:
            repo = self.repos[full_name]
            push = repo.commit_on(
                full_name,
                branch or repo.default_branch,
                repo.default_branch,
                files,
                message=message,
                author=author,
            )
            if repo.fork_of is not None:  # a fork's commits are readable in its parent too
                repo.copy_objects_to(self.repos[repo.fork_of])
            return push

    def file(self, full_name: str, ref: str, path: str) -> str | None:
        with self._lock:
            return self.repos[full_name].text(ref, path)

    def mode(self, full_name: str, ref: str, path: str) -> str | None:
        with self._lock:
            return self.repos[full_name].mode(ref, path)

    def files(self, full_name: str, ref: str) -> dict[str, str]:
        with self._lock:
            return self.repos[full_name].texts(ref)

    def head(self, full_name: str, branch: str) -> str | None:
        with self._lock:
            return self.repos[full_name].refs.get(f"heads/{branch}")

    def commit(self, full_name: str, sha: str) -> Commit:
        with self._lock:
            return self.repos[full_name].commits[sha]

    def pulls(self, full_name: str, state: str | None = None) -> list[Issue]:
        with self._lock:
            return [
                issue
                for issue in self.repos[full_name].issues.values()
                if issue.is_pull and (state is None or issue.state == state)
            ]

    def comments_on_open_pulls(self, full_name: str) -> list[Comment]:
        with self._lock:
            return [
                self._comments[cid]
                for issue in self.repos[full_name].issues.values()
                if issue.is_pull and issue.state == "open"
                for cid in issue.comments
            ]

    def issues(self, full_name: str, state: str | None = None) -> list[Issue]:
        with self._lock:
            return [
                issue
                for issue in self.repos[full_name].issues.values()
                if not issue.is_pull and (state is None or issue.state == state)
            ]

    def comments(self, full_name: str, number: int) -> list[Comment]:
        with self._lock:
            issue = self.repos[full_name].issues[number]
            return [self._comments[cid] for cid in issue.comments]

    def statuses(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.repos[full_name].statuses.get(sha, []))

    def locks_written(self, since: int = 0) -> list[tuple[str, str, str]]:
        """(where, Pipfile, Pipfile.lock) of every lock the bot's commits since `since` wrote."""
        with self._lock:
            return [
                lock
                for full_name, sha in self.bot_commits[since:]
                for lock in self.repos[full_name].locks_changed(sha, full_name)
            ]

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int = 502,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        message: str = "Server Error (injected by the test)",
    ) -> None:
        """The next `times` requests matching answer `status` (an outage, a rate limit)."""
        with self._lock:
            for _ in range(times):
                self._faults.append(
                    (method, re.compile(path_pattern), status, dict(headers or {}), message)
                )

    def hold(self, method: str, path_pattern: str) -> threading.Event:
        """Requests matching wait until the returned event is set."""
        gate = threading.Event()
        with self._lock:
            self._holds.append((method, re.compile(path_pattern), gate))
        return gate

    def held(self, method: str, path_pattern: str) -> int:
        """How many requests matching are waiting at a hold (their client may be gone)."""
        with self._lock:
            return sum(
                1
                for call in self.calls
                if call.method == method and re.search(path_pattern, call.path) and call.status == 0
            )

    def calls_since(self, mark: int) -> list[Call]:
        with self._lock:
            return list(self.calls[mark:])

    # ---- plumbing ----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = request.path
        prefix = ""
        if path.startswith("/api/v3/"):
            path, prefix = path[len("/api/v3") :], "/api/v3"
        elif path == "/api/graphql":
            path, prefix = "/graphql", "/api"
        raw = await request.read()
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._answer(400, {"message": "Problems parsing JSON"})
        graphql_kind = None
        if path == "/graphql" and isinstance(body, dict):
            query = str(body.get("query", "")).lstrip()
            graphql_kind = "mutation" if query.startswith("mutation") else "query"
        index = self._record(Call(request.method, request.path_qs, 0, graphql_kind))
        with self._lock:
            self.request_times.append((request.method, path, time.monotonic()))
        for method, pattern, gate in list(self._holds):
            if method == request.method and pattern.search(path):
                await asyncio.get_running_loop().run_in_executor(None, gate.wait)
        if self._over_secondary_limit(request, graphql_kind):
            with self._lock:
                self.calls[index] = Call(request.method, request.path_qs, 403, graphql_kind)
            return self._answer(
                403,
                {
                    "message": "You have exceeded a secondary rate limit. Please wait a few "
                    "minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                },
                {"Retry-After": "60"},
            )
        fault = self._fault(request.method, path)
        if fault is not None:
            status, fault_headers, message = fault
            with self._lock:
                self.calls[index] = Call(request.method, request.path_qs, status, graphql_kind)
                self.fault_times.append((request.method, path, status, time.monotonic()))
            return self._answer(status, {"message": message}, fault_headers)
        status, data = self._handle(request, path, prefix, body)
        with self._lock:
            self.calls[index] = Call(request.method, request.path_qs, status, graphql_kind)
        extra: dict[str, str] = {}
        if isinstance(data, tuple):  # (page, link header)
            data, extra["Link"] = data
        return self._answer(status, data, extra)

    def _over_secondary_limit(self, request: web.Request, graphql_kind: str | None) -> bool:
        """Whether a content-creating request breaks `content_limits` (then counted)."""
        creates = request.method != "GET" and graphql_kind != "query"
        if not self.content_limits or not creates:
            return False
        who = request.headers.get("Authorization", "")
        now = self.clock()
        with self._lock:
            times = self._content_times.setdefault(who, collections.deque())
            longest = max(period for _, period in self.content_limits)
            while times and times[0] <= now - longest:
                times.popleft()
            for limit, period in self.content_limits:
                if sum(1 for at in times if at > now - period) >= limit:
                    self.secondary_limit_errors += 1
                    return True
            times.append(now)
        return False

    def _record(self, call: Call) -> int:
        with self._lock:
            self.calls.append(call)
            return len(self.calls) - 1

    def _answer(self, status: int, data: Any, headers: Mapping[str, str] = {}) -> web.Response:
        headers = {
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(0, 5000 - len(self.calls))),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(min(5000, len(self.calls))),
            **{k: v for k, v in headers.items() if v},
        }
        if status == 204:
            return web.Response(status=204, headers=headers)
        return web.json_response(data, status=status, headers=headers)

    def _fault(self, method: str, path: str) -> tuple[int, dict[str, str], str] | None:
        with self._lock:
            for i, (fault_method, pattern, status, headers, message) in enumerate(self._faults):
                if fault_method == method and pattern.search(path):
                    del self._faults[i]
                    return status, headers, message
        return None

    def _handle(self, request: web.Request, path: str, prefix: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match is None or method != request.method:
                    continue
                try:
                    installation = self._authenticate(request, path)
                    req = Request(
                        request.method,
                        path,
                        dict(parse_qsl(request.query_string)),
                        body,
                        installation,
                        match,
                        f"{self.url}{prefix}",
                    )
                    if "owner" in match.groupdict():
                        self._repo(req)  # 404 for repositories the installation cannot see
                    return handler(req)
                except HTTPError as error:
                    data: dict[str, Any] = {
                        "message": error.message,
                        "documentation_url": "https://docs.github.com/rest",
                    }
                    if error.errors is not None:
                        data["errors"] = error.errors
                    return error.status, data
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com"}

    def _authenticate(self, request: web.Request, path: str) -> int | None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if path.startswith("/app"):
            if scheme.lower() != "bearer":
                raise HTTPError(401, "A JSON web token could not be decoded")
            try:
                claims = jwt.decode(
                    credential,
                    self.public_key,
                    algorithms=["RS256"],
                    options={"require": ["exp", "iat", "iss"]},
                    leeway=60,
                )
            except jwt.PyJWTError as error:
                raise HTTPError(401, f"A JSON web token could not be decoded: {error}") from None
            if str(claims["iss"]) != str(self.app_id):
                raise HTTPError(401, "'Issuer' claim ('iss') must be an Integer")
            if claims["exp"] - claims["iat"] > 660:
                raise HTTPError(401, "'Expiration time' claim ('exp') is too far in the future")
            return None
        if scheme.lower() not in ("token", "bearer"):
            raise HTTPError(401, "Requires authentication")
        token = self.tokens.get(credential)
        if token is None or token[1] < time.time():
            raise HTTPError(401, "Bad credentials")
        return token[0]

    def _repo(self, req: Request) -> Repo:
        full_name = f"{req.match['owner']}/{req.match['repo']}"
        repo = self.repos.get(full_name)
        visible = req.installation is None or (
            repo is not None and full_name in self.installations[req.installation]["repos"]
        )
        if repo is None or not visible:
            raise HTTPError(404, "Not Found")
        return repo

    def _route_table(self) -> Iterable[Route]:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table: list[tuple[str, str, Callable[[Request], tuple[int, Any]]]] = [
            ("GET", r"/app", self._get_app),
            ("POST", r"/app/installations/(?P<id>\d+)/access_tokens", self._post_token),
            ("GET", r"/installation/repositories", self._get_installation_repos),
            ("POST", r"/graphql", self._post_graphql),
            ("GET", repo, self._get_repo),
            ("GET", repo + r"/compare/(?P<base>[^.]+)\.\.\.(?P<head>.+)", self._get_compare),
            ("GET", repo + r"/contents/(?P<path>.+)", self._get_contents),
            ("GET", repo + r"/git/blobs/(?P<sha>\w+)", self._get_blob),
            ("POST", repo + r"/git/blobs", self._post_blob),
            ("GET", repo + r"/git/trees/(?P<sha>\w+)", self._get_tree),
            ("POST", repo + r"/git/trees", self._post_tree),
            ("GET", repo + r"/git/commits/(?P<sha>\w+)", self._get_commit),
            ("POST", repo + r"/git/commits", self._post_commit),
            ("GET", repo + r"/git/ref/(?P<ref>.+)", self._get_ref),
            ("POST", repo + r"/git/refs", self._post_ref),
            ("PATCH", repo + r"/git/refs/(?P<ref>.+)", self._patch_ref),
            ("DELETE", repo + r"/git/refs/(?P<ref>.+)", self._delete_ref),
            ("GET", repo + r"/pulls", self._get_pulls),
            ("POST", repo + r"/pulls", self._post_pull),
            ("GET", repo + r"/pulls/(?P<number>\d+)", self._get_pull),
            ("PATCH", repo + r"/pulls/(?P<number>\d+)", self._patch_pull),
            ("GET", repo + r"/pulls/(?P<number>\d+)/files", self._get_pull_files),
            ("GET", repo + r"/issues", self._get_issues),
            ("POST", repo + r"/issues", self._post_issue),
            ("GET", repo + r"/issues/(?P<number>\d+)", self._get_issue),
            ("PATCH", repo + r"/issues/(?P<number>\d+)", self._patch_issue),
            ("POST", repo + r"/issues/(?P<number>\d+)/labels", self._post_labels),
            ("GET", repo + r"/issues/(?P<number>\d+)/comments", self._get_comments),
            ("POST", repo + r"/issues/(?P<number>\d+)/comments", self._post_comment),
            ("PATCH", repo + r"/issues/comments/(?P<id>\d+)", self._patch_comment),
            ("POST", repo + r"/issues/comments/(?P<id>\d+)/reactions", self._post_reaction),
            ("POST", repo + r"/statuses/(?P<sha>\w+)", self._post_status),
            ("POST", repo + r"/check-runs", self._post_check_run),
            ("PATCH", repo + r"/check-runs/(?P<id>\d+)", self._patch_check_run),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/check-runs", self._get_check_runs),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/statuses", self._get_statuses),
            ("GET", repo + r"/collaborators/(?P<user>[^/]+)/permission", self._get_permission),
        ]
        for method, pattern, handler in table:
            yield method, re.compile(pattern), handler

    # ---- App and installations ---------------------------------------------------------

    def _get_app(self, req: Request) -> tuple[int, Any]:
        return 200, {
            "id": self.app_id,
            "slug": self.slug,
            "name": self.slug,
            "owner": {"login": "thoth-station", "type": "Organization"},
            "html_url": f"https://github.com/apps/{self.slug}",
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write"},
            "events": ["push", "pull_request", "issue_comment", "installation"],
        }

    def _post_token(self, req: Request) -> tuple[int, Any]:
        installation = int(req.match["id"])
        if installation not in self.installations:
            raise HTTPError(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + self.token_lifetime
        self.tokens[token] = (installation, expires)
        return 201, {
            "token": token,
            "expires_at": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write"},
            "repository_selection": "selected",
        }

    def _get_installation_repos(self, req: Request) -> tuple[int, Any]:
        if req.installation is None:
            raise HTTPError(403, "Resource not accessible by integration")
        names = self.installations[req.installation]["repos"]
        items = [self._repo_json(self.repos[name]) for name in names]
        page, link = self._page(req, items)
        return 200, ({"total_count": len(items), "repositories": page}, link)

    # ---- repositories and git data ----------------------------------------------------

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/")
        return {
            "id": repo.id,
            "name": name,
            "full_name": repo.full_name,
            "private": repo.private,
            "fork": repo.fork_of is not None,
            "owner": {"login": owner, "type": "Organization"},
            "html_url": f"https://github.com/{repo.full_name}",
            "default_branch": repo.default_branch,
        }

    def _get_repo(self, req: Request) -> tuple[int, Any]:
        return 200, self._repo_json(self._repo(req))

    def _commit_sha(self, repo: Repo, ref: str) -> str:
        sha = repo.resolve(ref)
        if sha is None:
            raise HTTPError(404, f"No commit found for SHA: {ref}")
        return sha

    def _get_compare(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        base = self._commit_sha(repo, req.match["base"])
        head = self._commit_sha(repo, req.match["head"])
        old, new = repo.files_at(base), repo.files_at(head)
        files = []
        for path in sorted(old.keys() | new.keys()):
            if old.get(path) == new.get(path):
                continue
            status = "added" if path not in old else "removed" if path not in new else "modified"
            files.append(
                {"filename": path, "status": status, "sha": (new.get(path) or old[path])[1]}
            )
        behind = set(repo.ancestors(base))
        commits = [sha for sha in reversed(repo.ancestors(head)) if sha not in behind]
        return 200, {
            "status": "ahead" if commits else "identical",
            "ahead_by": len(commits),
            "total_commits": len(commits),
            "commits": [{"sha": sha} for sha in commits],
            "files": files,
        }

    def _get_contents(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        sha = self._commit_sha(repo, req.query.get("ref", repo.default_branch))
        entry = repo.files_at(sha).get(req.match["path"])
        if entry is None:
            raise HTTPError(404, "Not Found")
        return 200, {
            "type": "file",
            "path": req.match["path"],
            "sha": entry[1],
            "encoding": "base64",
            "content": base64.b64encode(repo.blobs[entry[1]]).decode(),
        }

    def _get_blob(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        data = repo.blobs.get(req.match["sha"])
        if data is None:
            raise HTTPError(404, "Not Found")
        return 200, {
            "sha": req.match["sha"],
            "size": len(data),
            "encoding": "base64",
            "content": base64.b64encode(data).decode(),
        }

    def _post_blob(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        body = req.json or {}
        data = body.get("content", "")
        raw = base64.b64decode(data) if body.get("encoding") == "base64" else data.encode()
        return 201, {"sha": repo.put_blob(raw)}

    def _get_tree(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        sha = req.match["sha"]
        if sha not in repo.trees:
            sha = repo.commits[self._commit_sha(repo, sha)].tree
        if req.query.get("recursive"):
            entries = [
                {"path": p, "mode": m, "type": "blob", "sha": s}
                for p, (m, s) in sorted(repo.flatten(sha).items())
            ]
        else:
            entries = [
                {"path": n, "mode": m, "type": "tree" if m == "040000" else "blob", "sha": s}
                for n, (m, s) in sorted(repo.trees[sha].items())
            ]
        return 200, {"sha": sha, "tree": entries, "truncated": False}

    def _post_tree(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        body = req.json or {}
        base = body.get("base_tree")
        if base is not None and base not in repo.trees:
            raise HTTPError(422, "Invalid tree info", ["base_tree is not a tree"])
        files = repo.flatten(base) if base else {}
        for entry in body.get("tree") or []:
            path, mode = entry.get("path"), entry.get("mode")
            if not path or mode not in FILE_MODES or path.startswith("/"):
                raise HTTPError(422, "Invalid tree info", [f"bad entry {entry!r}"])
            if "content" in entry:
                files[path] = (mode, repo.put_blob(str(entry["content"]).encode()))
            elif entry.get("sha") is None:
                if path not in files:  # GitHub refuses to delete what is not there
                    raise HTTPError(422, "GitRPC::BadObjectState", [f"{path} does not exist"])
                del files[path]
            else:
                if entry["sha"] not in repo.blobs:
                    raise HTTPError(422, "Invalid tree info", [f"no blob {entry['sha']}"])
                files[path] = (mode, entry["sha"])
        sha = repo.build_tree(files)
        return 201, {"sha": sha, "tree": [], "truncated": False}

    def _commit_json(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        return {
            "sha": commit.sha,
            "message": commit.message,
            "tree": {"sha": commit.tree},
            "parents": [{"sha": p} for p in commit.parents],
            "author": {"name": commit.author, "date": commit.date},
        }

    def _get_commit(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        commit = repo.commits.get(req.match["sha"])
        if commit is None:
            raise HTTPError(404, "Not Found")
        return 200, self._commit_json(repo, commit)

    def _post_commit(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        body = req.json or {}
        if body.get("tree") not in repo.trees:
            raise HTTPError(422, "Tree SHA does not exist")
        parents = body.get("parents") or []
        if any(p not in repo.commits for p in parents):
            raise HTTPError(422, "Parent SHA does not exist or is not a commit object")
        if not body.get("message"):
            raise HTTPError(422, "Invalid request", [{"field": "message", "code": "missing"}])
        sha = repo.put_commit(body["tree"], parents, body["message"], self.bot_login)
        self.bot_commits.append((repo.full_name, sha))
        return 201, self._commit_json(repo, repo.commits[sha])

    def _ref_json(self, repo: Repo, ref: str) -> dict[str, Any]:
        return {"ref": f"refs/{ref}", "object": {"sha": repo.refs[ref], "type": "commit"}}

    def _get_ref(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        if req.match["ref"] not in repo.refs:
            raise HTTPError(404, "Not Found")
        return 200, self._ref_json(repo, req.match["ref"])

    def _post_ref(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        body = req.json or {}
        ref, sha = str(body.get("ref", "")), body.get("sha")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise HTTPError(422, "Reference name must start with 'refs/' and have two slashes")
        if sha not in repo.commits:
            raise HTTPError(422, "Object does not exist")
        name = ref.removeprefix("refs/")
        if name in repo.refs:
            raise HTTPError(422, "Reference already exists")
        repo.refs[name] = sha
        return 201, self._ref_json(repo, name)

    def _patch_ref(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        name = req.match["ref"]
        body = req.json or {}
        if name not in repo.refs:
            raise HTTPError(422, "Reference does not exist")
        sha = body.get("sha")
        if sha not in repo.commits:
            raise HTTPError(422, "Object does not exist")
        if not body.get("force") and repo.refs[name] not in repo.ancestors(sha):
            raise HTTPError(422, "Update is not a fast forward")
        repo.refs[name] = sha
        return 200, self._ref_json(repo, name)

    def _delete_ref(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        if repo.refs.pop(req.match["ref"], None) is None:
            raise HTTPError(422, "Reference does not exist")
        return 204, None

    # ---- pull requests and issues ------------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        kind = "Bot" if login == self.bot_login else self.users.get(login, "User")
        return {"login": login, "type": kind, "id": abs(hash(login)) % 10**8}

    def _pull_json(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        head_repo = self.repos[issue.head_repo]
        head_sha = issue.closed_head_sha or head_repo.refs.get(f"heads/{issue.head}")
        head_owner = issue.head_repo.split("/")[0]
        return {
            "number": issue.number,
            "id": issue.number + 5_000_000,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "draft": issue.draft,
            "merged": issue.merged,
            "user": self._user(issue.user),
            "labels": [{"name": name} for name in issue.labels],
            "html_url": f"https://github.com/{repo.full_name}/pull/{issue.number}",
            "url": f"{self.url}/repos/{repo.full_name}/pulls/{issue.number}",
            "head": {
                "ref": issue.head,
                "sha": head_sha,
                "label": f"{head_owner}:{issue.head}",
                "repo": self._repo_json(head_repo),
            },
            "base": {
                "ref": issue.base,
                "sha": repo.refs.get(f"heads/{issue.base}"),
                "label": f"{repo.full_name.split('/')[0]}:{issue.base}",
                "repo": self._repo_json(repo),
            },
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
        }

    def _issue_json(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        data = {
            "number": issue.number,
            "id": issue.number + 6_000_000,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self._user(issue.user),
            "labels": [{"name": name} for name in issue.labels],
            "comments": len(issue.comments),
            "html_url": f"https://github.com/{repo.full_name}/issues/{issue.number}",
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
        }
        if issue.is_pull:
            data["pull_request"] = {
                "url": f"{self.url}/repos/{repo.full_name}/pulls/{issue.number}"
            }
        return data

    def _issue(self, req: Request, *, pull: bool | None = None) -> tuple[Repo, Issue]:
        repo = self._repo(req)
        issue = repo.issues.get(int(req.match["number"]))
        if issue is None or (pull is not None and issue.is_pull != pull):
            raise HTTPError(404, "Not Found")
        return repo, issue

    def _actor(self, req: Request) -> str:
        return self.bot_login if req.installation is not None else self.slug

    def _check_body(self, body: Any, field_name: str = "body") -> str:
        text = "" if body is None else str(body)
        if len(text) > MAX_BODY:
            raise HTTPError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Issue",
                        "code": "custom",
                        "field": field_name,
                        "message": f"{field_name} is too long (maximum is {MAX_BODY} characters)",
                    }
                ],
            )
        return text

    def _get_pulls(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        state = req.query.get("state", "open")
        head, base = req.query.get("head"), req.query.get("base")
        items = []
        for issue in repo.issues.values():
            if not issue.is_pull or (state != "all" and issue.state != state):
                continue
            if head and head != f"{issue.head_repo.split('/')[0]}:{issue.head}":
                continue
            if base and base != issue.base:
                continue
            items.append(self._pull_json(repo, issue))
        page, link = self._page(req, items)
        return 200, (page, link)

    def _post_pull(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        body = req.json or {}
        head, base = str(body.get("head", "")), str(body.get("base", ""))
        owner, _, branch = head.rpartition(":")
        head_repo = repo.full_name if not owner or owner == repo.full_name.split("/")[0] else None
        if head_repo is None:
            head_repo = next(
                (
                    n
                    for n, r in self.repos.items()
                    if r.fork_of == repo.full_name and n.startswith(owner + "/")
                ),
                None,
            )
        if head_repo is None or f"heads/{branch}" not in self.repos[head_repo].refs:
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        if f"heads/{base}" not in repo.refs:
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
            )
        for issue in repo.issues.values():
            if (
                issue.is_pull
                and issue.state == "open"
                and issue.head == branch
                and issue.base == base
                and issue.head_repo == head_repo
            ):
                raise HTTPError(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {head}.",
                        }
                    ],
                )
        if not body.get("title"):
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
            )
        issue = self._new_issue(repo, body, self._actor(req))
        issue.is_pull, issue.head, issue.head_repo, issue.base = True, branch, head_repo, base
        issue.draft = bool(body.get("draft"))
        return 201, self._pull_json(repo, issue)

    def _new_issue(self, repo: Repo, body: Mapping[str, Any], user: str) -> Issue:
        number = len(repo.issues) + 1
        stamp = now_iso()
        issue = Issue(
            number=number,
            title=str(body.get("title")),
            body=self._check_body(body.get("body")),
            user=user,
            created_at=stamp,
            updated_at=stamp,
        )
        repo.issues[number] = issue
        return issue

    def open_pull(
        self,
        full_name: str,
        *,
        head: str,
        base: str | None = None,
        title: str = "A change",
        body: str = "",
        author: str = "octocat",
        head_repo: str | None = None,
        draft: bool = False,
    ) -> Issue:
        """A person opens a pull request (test-facing)."""
        with self._lock:
            repo = self.repos[full_name]
            issue = self._new_issue(repo, {"title": title, "body": body}, author)
            issue.is_pull, issue.head, issue.base = True, head, base or repo.default_branch
            issue.head_repo, issue.draft = head_repo or full_name, draft
            return issue

    def merge_pull(self, full_name: str, number: int, *, author: str = "octocat") -> str:
        """A person merges a pull request (a merge commit on the base); its new sha."""
        with self._lock:
            repo = self.repos[full_name]
            issue = repo.issues[number]
            head_repo = self.repos[issue.head_repo]
            head = head_repo.refs[f"heads/{issue.head}"]
            base = repo.refs[f"heads/{issue.base}"]
            reachable = set(head_repo.ancestors(head))
            merge_base = next(sha for sha in repo.ancestors(base) if sha in reachable)
            old, new = repo.files_at(merge_base), head_repo.files_at(head)
            files = repo.files_at(base)
            for path in old.keys() | new.keys():
                if old.get(path) != new.get(path):
                    if path in new:
                        files[path] = new[path]
                        repo.blobs[new[path][1]] = head_repo.blobs[new[path][1]]
                    else:
                        files.pop(path, None)
            message = f"Merge pull request #{number} from {issue.head}"
            sha = repo.put_commit(repo.build_tree(files), (base, head), message, author)
            repo.refs[f"heads/{issue.base}"] = sha
            self._set_state(repo, issue, "closed", None)
            issue.merged = True
            return sha

    def _get_pull(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req, pull=True)
        return 200, self._pull_json(repo, issue)

    def _patch_pull(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req, pull=True)
        body = req.json or {}
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = self._check_body(body["body"])
        if body.get("state") in ("open", "closed"):
            self._set_state(repo, issue, body["state"], None)
        issue.updated_at = now_iso()
        return 200, self._pull_json(repo, issue)

    def _set_state(self, repo: Repo, issue: Issue, state: str, reason: str | None) -> None:
        if issue.is_pull and state == "closed" and issue.state == "open":
            issue.closed_head_sha = self.repos[issue.head_repo].refs.get(f"heads/{issue.head}")
        if issue.is_pull and state == "open":
            issue.closed_head_sha = None
        issue.state = state
        issue.state_reason = reason if state == "closed" else None

    def _get_pull_files(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req, pull=True)
        head_repo = self.repos[issue.head_repo]
        head = issue.closed_head_sha or head_repo.refs[f"heads/{issue.head}"]
        base = repo.refs[f"heads/{issue.base}"]
        # Three-dot diff: against the merge base (the base's newest ancestor of the head).
        reachable = set(head_repo.ancestors(head)) if head in head_repo.commits else set()
        merge_base = next((sha for sha in repo.ancestors(base) if sha in reachable), base)
        old = repo.files_at(merge_base)
        new = head_repo.files_at(head)
        items = [
            {
                "filename": path,
                "status": "added"
                if path not in old
                else "removed"
                if path not in new
                else "modified",
                "sha": (new.get(path) or old[path])[1],
            }
            for path in sorted(old.keys() | new.keys())
            if old.get(path) != new.get(path)
        ]
        page, link = self._page(req, items)
        return 200, (page, link)

    def _get_issues(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        state = req.query.get("state", "open")
        creator = req.query.get("creator")
        items = [
            self._issue_json(repo, issue)
            for issue in sorted(repo.issues.values(), key=lambda i: i.number, reverse=True)
            if (state == "all" or issue.state == state) and (not creator or issue.user == creator)
        ]
        page, link = self._page(req, items)
        return 200, (page, link)

    def _post_issue(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        body = req.json or {}
        if not body.get("title"):
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "Issue", "field": "title", "code": "missing_field"}],
            )
        issue = self._new_issue(repo, body, self._actor(req))
        issue.labels = self._labels(repo, body.get("labels") or [])
        return 201, self._issue_json(repo, issue)

    def _labels(self, repo: Repo, names: Iterable[Any]) -> list[str]:
        result = []
        for name in names:
            name = name["name"] if isinstance(name, dict) else str(name)
            repo.labels.add(name)
            if name not in result:
                result.append(name)
        return result

    def _get_issue(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req)
        return 200, self._issue_json(repo, issue)

    def _patch_issue(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req)
        body = req.json or {}
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = self._check_body(body["body"])
        if "labels" in body:
            issue.labels = self._labels(repo, body["labels"] or [])
        if body.get("state") in ("open", "closed"):
            self._set_state(repo, issue, body["state"], body.get("state_reason"))
        issue.updated_at = now_iso()
        return 200, self._issue_json(repo, issue)

    def _post_labels(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req)
        body = req.json
        names = body.get("labels") if isinstance(body, dict) else body
        issue.labels = self._labels(repo, [*issue.labels, *(names or [])])
        return 200, [{"name": name} for name in issue.labels]

    def _comment_json(self, repo: Repo, number: int, comment: Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "body": comment.body,
            "user": self._user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "html_url": f"https://github.com/{repo.full_name}/issues/{number}#issuecomment-{comment.id}",
            "issue_url": f"{self.url}/repos/{repo.full_name}/issues/{number}",
        }

    def _get_comments(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req)
        items = [self._comment_json(repo, issue.number, self._comments[c]) for c in issue.comments]
        page, link = self._page(req, items)
        return 200, (page, link)

    def _post_comment(self, req: Request) -> tuple[int, Any]:
        repo, issue = self._issue(req)
        text = self._check_body((req.json or {}).get("body"))
        if not text:
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "IssueComment", "field": "body", "code": "missing_field"}],
            )
        return 201, self._comment_json(
            repo, issue.number, self.add_comment_locked(issue, text, self._actor(req))
        )

    def add_comment_locked(self, issue: Issue, text: str, user: str) -> Comment:
        stamp = now_iso()
        comment = Comment(next(self._ids), text, user, stamp, stamp)
        self._comments[comment.id] = comment
        issue.comments.append(comment.id)
        issue.updated_at = stamp
        return comment

    def add_comment(self, full_name: str, number: int, text: str, *, author: str) -> Comment:
        """A person (or another bot) comments (test-facing)."""
        with self._lock:
            return self.add_comment_locked(self.repos[full_name].issues[number], text, author)

    def _find_comment(self, req: Request) -> tuple[Repo, Issue, Comment]:
        repo = self._repo(req)
        comment_id = int(req.match["id"])
        for issue in repo.issues.values():
            if comment_id in issue.comments:
                return repo, issue, self._comments[comment_id]
        raise HTTPError(404, "Not Found")

    def _patch_comment(self, req: Request) -> tuple[int, Any]:
        repo, issue, comment = self._find_comment(req)
        if comment.user != self._actor(req):
            raise HTTPError(403, "Resource not accessible by integration")
        comment.body = self._check_body((req.json or {}).get("body"))
        comment.updated_at = now_iso()
        return 200, self._comment_json(repo, issue.number, comment)

    def _post_reaction(self, req: Request) -> tuple[int, Any]:
        _, _, comment = self._find_comment(req)
        content = (req.json or {}).get("content")
        if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
            raise HTTPError(422, "Validation Failed", [{"field": "content", "code": "invalid"}])
        reaction = (self._actor(req), content)
        status = 200 if reaction in comment.reactions else 201
        if status == 201:
            comment.reactions.append(reaction)
        return status, {"id": next(self._ids), "content": content, "user": self._user(reaction[0])}

    # ---- the Checks API, validated as GitHub documents it --------------------------------

    def reports(self, full_name: str, sha: str, context: str = "thoth-bot/advise") -> list[dict]:
        """The bot's reports on a commit, newest first, as {state, description, context,
        via}: each state a check run went through ("in_progress" is "pending"; "success" and
        "neutral" are "success"), and each commit status."""
        repo = self.repos[full_name]
        found = [
            {**step, "context": run["name"], "via": "check_run"}
            for run in repo.check_runs.values()
            if run["head_sha"] == sha and run["name"] == context
            for step in run["history"]
        ]
        found += [
            {**status, "via": "status", "order": -index}
            for index, status in enumerate(repo.statuses.get(sha, []))
            if status["context"] == context
        ]
        return sorted(found, key=lambda report: report["order"], reverse=True)

    def check_runs(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        """The check runs of a commit, oldest first."""
        return [run for run in self.repos[full_name].check_runs.values() if run["head_sha"] == sha]

    def _checks_allowed(self, req: Request) -> None:
        if req.installation in self.without_checks:
            raise HTTPError(403, "Resource not accessible by integration")

    def _post_check_run(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        self._checks_allowed(req)
        body = req.json or {}
        if not body.get("name") or not body.get("head_sha"):
            raise HTTPError(422, 'Invalid request.\n\n"name" and "head_sha" are required.')
        if body["head_sha"] not in repo.commits:
            raise HTTPError(422, "No commit found for SHA: " + body["head_sha"])
        run = {
            "id": next(self._ids),
            "name": body["name"],
            "head_sha": body["head_sha"],
            "status": "queued",
            "conclusion": None,
            "output": {"title": None, "summary": None, "text": None, "annotations": []},
            "actions": [],
            "app": {"slug": self.slug},
            "history": [],
        }
        self._record_check_request("POST", body)
        self._update_check_run(run, body)
        repo.check_runs[run["id"]] = run
        return 201, self._check_run_json(run)

    def _patch_check_run(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        self._checks_allowed(req)
        run = repo.check_runs.get(int(req.match["id"]))
        if run is None:
            raise HTTPError(404, "Not Found")
        self._record_check_request("PATCH", req.json or {})
        self._update_check_run(run, req.json or {})
        return 200, self._check_run_json(run)

    def _get_check_runs(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        self._checks_allowed(req)
        sha = repo.resolve(req.match["ref"]) or req.match["ref"]
        runs = [
            self._check_run_json(run)
            for run in repo.check_runs.values()
            if run["head_sha"] == sha
            and ("check_name" not in req.query or run["name"] == req.query["check_name"])
        ]
        return 200, {"total_count": len(runs), "check_runs": runs}

    def _record_check_request(self, method: str, body: Mapping[str, Any]) -> None:
        with self._lock:
            annotations = (body.get("output") or {}).get("annotations") or []
            self.check_requests.append((method, len(annotations)))

    def _update_check_run(self, run: dict[str, Any], body: Mapping[str, Any]) -> None:
        output = body.get("output")
        annotations = (output or {}).get("annotations") or []
        status = body.get("status", "completed" if body.get("conclusion") else run["status"])
        if status not in ("queued", "in_progress", "completed"):
            raise HTTPError(422, "Invalid request.\n\nstatus is not a valid value.")
        conclusion = body.get("conclusion")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            raise HTTPError(422, f"Invalid request.\n\n{conclusion!r} is not a conclusion.")
        if status == "completed" and not (conclusion or run["conclusion"]):
            raise HTTPError(422, "Invalid request.\n\nconclusion is required when completed.")
        if output is not None:
            if not output.get("title") or not output.get("summary"):
                raise HTTPError(422, "Invalid request.\n\noutput needs a title and a summary.")
            if len(output["summary"]) > 65535 or len(output.get("text") or "") > 65535:
                raise HTTPError(422, "Invalid request.\n\nsummary or text over 65535 characters.")
            if len(annotations) > 50:
                raise HTTPError(422, "Invalid request.\n\nNo more than 50 annotations a request.")
            for note in annotations:
                missing = ANNOTATION_FIELDS - set(note)
                if missing or note["annotation_level"] not in ("notice", "warning", "failure"):
                    raise HTTPError(422, f"Invalid request.\n\nannotation {note!r} is invalid.")
                if len(note["message"]) > 64 * 1024:
                    raise HTTPError(422, "Invalid request.\n\nannotation message over 64 KB.")
        actions = body.get("actions")
        if actions is not None:
            if len(actions) > 3:
                raise HTTPError(422, "Invalid request.\n\nNo more than 3 actions.")
            for action in actions:
                if (
                    len(action.get("label", "")) > 20
                    or len(action.get("identifier", "")) > 20
                    or len(action.get("description", "")) > 40
                    or not all(action.get(k) for k in ("label", "identifier", "description"))
                ):
                    raise HTTPError(422, f"Invalid request.\n\naction {action!r} is invalid.")
            run["actions"] = list(actions)
        run["status"] = status
        if conclusion is not None:
            run["conclusion"] = conclusion
        state = (
            "pending"
            if status != "completed"
            else "success"
            if run["conclusion"] in ("success", "neutral")
            else "failure"
        )
        title = (output or {}).get("title") or run["output"]["title"]
        if (
            not run["history"]
            or run["history"][-1]["description"] != title
            or (run["history"][-1]["state"] != state)
        ):
            run["history"].append({"state": state, "description": title, "order": next(self._ids)})
        if output is not None:
            kept = run["output"]["annotations"]
            run["output"] = {
                "title": output["title"],
                "summary": output["summary"],
                "text": output.get("text"),
                "annotations": kept + list(annotations),  # GitHub adds them up
            }

    def _check_run_json(self, run: dict[str, Any]) -> dict[str, Any]:
        output = run["output"]
        return {
            "id": run["id"],
            "name": run["name"],
            "head_sha": run["head_sha"],
            "status": run["status"],
            "conclusion": run["conclusion"],
            "output": {
                "title": output["title"],
                "summary": output["summary"],
                "text": output["text"],
                "annotations_count": len(output["annotations"]),
            },
            "app": run["app"],
        }

    def _post_status(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        sha = req.match["sha"]
        body = req.json or {}
        if sha not in repo.commits:
            raise HTTPError(422, "No commit found for SHA: " + sha)
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise HTTPError(422, "Validation Failed", [{"field": "state", "code": "invalid"}])
        if len(body.get("description") or "") > MAX_STATUS_DESCRIPTION:
            raise HTTPError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Status",
                        "field": "description",
                        "code": "custom",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )
        status = {
            "id": next(self._ids),
            "state": body["state"],
            "description": body.get("description"),
            "context": body.get("context") or "default",
            "target_url": body.get("target_url"),
            "creator": self._user(self._actor(req)),
            "created_at": now_iso(),
        }
        repo.statuses.setdefault(sha, []).insert(0, status)
        return 201, status

    def _get_statuses(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        sha = self._commit_sha(repo, req.match["ref"])
        page, link = self._page(req, repo.statuses.get(sha, []))
        return 200, (page, link)

    def _get_permission(self, req: Request) -> tuple[int, Any]:
        repo = self._repo(req)
        user = req.match["user"]
        permission = repo.permissions.get(user, "read" if not repo.private else "none")
        role = {"maintain": "maintain", "triage": "triage"}.get(permission, permission)
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        return 200, {"permission": legacy, "role_name": role, "user": self._user(user)}

    def _page(self, req: Request, items: list[Any]) -> tuple[list[Any], str]:
        per_page = min(int(req.query.get("per_page", 30)), 100)
        page = max(int(req.query.get("page", 1)), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        if page * per_page < len(items):
            query = {**req.query, "per_page": str(per_page), "page": str(page + 1)}
            links.append(f'<{req.base_url}{req.path}?{urlencode(query)}>; rel="next"')
        return chunk, ", ".join(links)
