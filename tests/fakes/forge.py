"""An in-memory `Forge` (handlers/forge.py): the protocol without HTTP, for handler tests that
run in milliseconds. `tests/test_forge_contract.py` holds it to the same scenarios as the GitHub
and GitLab adapters over their fake servers, so what passes here passes there."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from fakes.git import Content, GitStore
from handlers.forge import (
    SHOWN_IN_FULL,
    Actor,
    BranchHead,
    BranchMoved,
    Comment,
    CommitStatus,
    FileContent,
    Issue,
    MergeRequest,
    NotFound,
    Repo,
    Snapshot,
    Words,
)

WORDS = Words(
    merge_request="merge request",
    reference_prefix="!",
    body_limit=65_000,
    who_may_command="write access",
)
EXECUTABLE = "100755"
K = TypeVar("K")
V = TypeVar("V")


@dataclass
class Said:
    """A comment, by whom."""

    id: int
    body: str
    author: str


@dataclass
class Request:
    number: int
    title: str
    body: str
    source_branch: str
    target_branch: str
    author: str
    labels: tuple[str, ...] = ()
    state: str = "open"
    comments: list[Said] = field(default_factory=list)
    reactions: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Ticket:
    number: int
    title: str
    body: str
    author: str
    labels: tuple[str, ...] = ()
    state: str = "open"
    comments: list[Said] = field(default_factory=list)


@dataclass
class Project:
    repo: Repo
    git: GitStore
    roles: dict[str, str] = field(default_factory=dict)
    requests: dict[int, Request] = field(default_factory=dict)
    issues: dict[int, Ticket] = field(default_factory=dict)
    statuses: dict[str, dict[str, CommitStatus]] = field(default_factory=dict)


class FakeForge:
    """Repositories in memory; the bot is `bot_login`."""

    def __init__(self, bot_login: str = "thoth-bot", words: Words = WORDS) -> None:
        self.bot_login = bot_login
        self.words = words
        self.projects: dict[str, Project] = {}
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1000)

    # ---- what a test arranges ---------------------------------------------------------

    def create_repo(self, full_name: str, files: Mapping[str, str]) -> Repo:
        repo = Repo(full_name, "main", f"https://forge.test/{full_name}", id=full_name)
        git = GitStore()
        tree = git.build_tree(git.put_files(dict(files)))
        git.refs["heads/main"] = git.put_commit(tree, (), "Initial commit", "someone")
        self.projects[full_name] = Project(repo, git)
        return repo

    def push(self, full_name: str, files: Mapping[str, Content | None], *, branch: str) -> str:
        """A person's commit on `branch` (made from main when new); its sha."""
        git = self.projects[full_name].git
        push = git.commit_on(full_name, branch, "main", files, message="update", author="someone")
        return push.after

    def open_merge_request(self, full_name: str, source_branch: str, author: str) -> int:
        project = self.projects[full_name]
        number = next(self._numbers)
        project.requests[number] = Request(number, "Change", "", source_branch, "main", author)
        return number

    def grant(self, full_name: str, login: str, role: str) -> None:
        self.projects[full_name].roles[login] = role

    def add_comment(self, full_name: str, number: int, body: str, author: str) -> int:
        said = Said(next(self._ids), body, author)
        self._request(self.projects[full_name], number).comments.append(said)
        return said.id

    # ---- the Forge protocol ------------------------------------------------------------

    async def is_self(self, actor: Actor) -> bool:
        return actor.login == self.bot_login

    async def snapshot(
        self, repo: Repo, *, branch: str, paths: Sequence[str], lock_branch: str
    ) -> Snapshot:
        project = self._project(repo.full_name)
        sha = project.git.resolve(f"heads/{branch}")
        if sha is None:
            raise NotFound(f"branch {branch!r} does not exist in {repo.full_name}")
        lock_sha = project.git.refs.get(f"heads/{lock_branch}")
        lock = None
        if lock_sha is not None:
            commit = project.git.commits[lock_sha]
            lock = BranchHead(lock_sha, commit.parents, commit.message)
        request = next(
            (
                r
                for r in project.requests.values()
                if r.state == "open" and r.source_branch == lock_branch
                and r.target_branch == branch
            ),
            None,
        )
        issues = [
            i for i in project.issues.values() if i.state == "open" and i.author == self.bot_login
        ]
        return Snapshot(
            branch=branch,
            sha=sha,
            files=self._files(project, sha, paths),
            lock_branch=lock,
            merge_request=self._merge_request(project, request) if request else None,
            open_issues=tuple(self._issue(i) for i in reversed(issues)),
        )

    async def read_files(
        self, repo: Repo, *, sha: str, paths: Sequence[str]
    ) -> dict[str, FileContent | None]:
        project = self._project(repo.full_name)
        if sha not in project.git.commits:
            raise NotFound(f"commit {sha} not found in {repo.full_name}")
        return self._files(project, sha, paths)

    async def changed_paths(self, repo: Repo, *, base: str, head: str) -> frozenset[str]:
        git = self._project(repo.full_name).git
        if base not in git.commits or head not in git.commits:
            raise NotFound(f"cannot compare {base}...{head} in {repo.full_name}")
        before, after = git.files_at(base), git.files_at(head)
        return frozenset(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))

    async def repository(self, full_name: str) -> Repo:
        return self._project(full_name).repo

    async def merge_request(self, repo: Repo, number: int) -> MergeRequest:
        project = self._project(repo.full_name)
        return self._merge_request(project, self._request(project, number))

    async def merge_request_paths(self, repo: Repo, number: int) -> frozenset[str]:
        project = self._project(repo.full_name)
        request = self._request(project, number)
        base = project.git.refs[f"heads/{request.target_branch}"]
        head = project.git.refs[f"heads/{request.source_branch}"]
        return await self.changed_paths(repo, base=base, head=head)

    async def comment_as_delivered(
        self, repo: Repo, number: int, comment_id: int | str, author: Actor, body: str
    ) -> bool:
        request = self._request(self._project(repo.full_name), number)
        return any(
            c.id == comment_id and c.author == author.login and c.body == body
            for c in request.comments
        )

    async def permission(self, repo: Repo, actor: Actor) -> str:
        return self._project(repo.full_name).roles.get(actor.login, "none")

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
        git = self._project(repo.full_name).git
        head = git.refs.get(f"heads/{branch}")
        if not force and head is not None and head != parent:
            raise BranchMoved(f"branch {branch!r} moved while the bot worked")
        new = dict(git.files_at(parent))
        for path, content in files.items():
            if content is None:
                new.pop(path, None)
            else:
                mode = EXECUTABLE if content.executable else "100644"
                new.update(git.put_files({path: (content.text, mode)}))
        sha = git.put_commit(git.build_tree(new), (parent,), message, self.bot_login)
        git.refs[f"heads/{branch}"] = sha
        return sha

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
        project = self._project(repo.full_name)
        for request in project.requests.values():  # one is open already (a crash, a race)
            if (request.state, request.source_branch, request.target_branch) == (
                "open",
                source_branch,
                target_branch,
            ):
                return self._merge_request(project, request)
        number = next(self._numbers)
        project.requests[number] = Request(
            number, title, body, source_branch, target_branch, self.bot_login, tuple(labels)
        )
        return self._merge_request(project, project.requests[number])

    async def update_merge_request(
        self, repo: Repo, number: int, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> None:
        request = self._request(self._project(repo.full_name), number)
        request.title, request.body = title, body
        request.labels = (*request.labels, *(x for x in labels if x not in request.labels))

    async def close_merge_request(self, repo: Repo, number: int) -> None:
        self._request(self._project(repo.full_name), number).state = "closed"

    async def create_comment(self, repo: Repo, number: int, body: str) -> Comment:
        said = Said(next(self._ids), body, self.bot_login)
        self._request(self._project(repo.full_name), number).comments.append(said)
        return Comment(said.id, body)

    async def update_comment(
        self, repo: Repo, number: int, comment_id: int | str, body: str
    ) -> None:
        request = self._request(self._project(repo.full_name), number)
        said = next((c for c in request.comments if c.id == comment_id), None)
        if said is None:
            raise NotFound(f"no comment {comment_id} on {number}")
        said.body = body

    async def react(self, repo: Repo, number: int, comment_id: int | str, reaction: str) -> None:
        request = self._request(self._project(repo.full_name), number)
        if (int(comment_id), reaction) not in request.reactions:  # once, as the forges do
            request.reactions.append((int(comment_id), reaction))

    async def comment_on_issue(self, repo: Repo, number: int, body: str) -> Comment:
        issue = self._ticket(self._project(repo.full_name), number)
        said = Said(next(self._ids), body, self.bot_login)
        issue.comments.append(said)
        return Comment(said.id, body)

    async def set_status(self, repo: Repo, sha: str, status: CommitStatus) -> str:
        statuses = self._project(repo.full_name).statuses.setdefault(sha, {})
        statuses[status.context] = status
        return SHOWN_IN_FULL

    async def create_issue(
        self, repo: Repo, *, title: str, body: str, labels: Sequence[str]
    ) -> Issue:
        project = self._project(repo.full_name)
        number = next(self._numbers)
        project.issues[number] = Ticket(number, title, body, self.bot_login, tuple(labels))
        return self._issue(project.issues[number])

    async def update_issue(self, repo: Repo, number: int, *, body: str) -> None:
        self._ticket(self._project(repo.full_name), number).body = body

    async def close_issue(self, repo: Repo, number: int) -> None:
        self._ticket(self._project(repo.full_name), number).state = "closed"

    # ---- plumbing ----------------------------------------------------------------------

    def _project(self, full_name: str) -> Project:
        return _found(self.projects, full_name, f"repository {full_name}")

    @staticmethod
    def _request(project: Project, number: int) -> Request:
        where = project.repo.full_name
        return _found(project.requests, number, f"merge request {number} in {where}")

    @staticmethod
    def _ticket(project: Project, number: int) -> Ticket:
        return _found(project.issues, number, f"issue {number} in {project.repo.full_name}")

    @staticmethod
    def _files(project: Project, sha: str, paths: Sequence[str]) -> dict[str, FileContent | None]:
        present = project.git.files_at(sha)
        files: dict[str, FileContent | None] = {}
        for path in paths:
            entry = present.get(path)
            files[path] = (
                FileContent(project.git.blobs[entry[1]].decode(), executable=entry[0] == EXECUTABLE)
                if entry
                else None
            )
        return files

    def _merge_request(self, project: Project, request: Request) -> MergeRequest:
        return MergeRequest(
            number=request.number,
            title=request.title,
            body=request.body,
            source_branch=request.source_branch,
            target_branch=request.target_branch,
            bot_comments=tuple(
                Comment(c.id, c.body) for c in request.comments if c.author == self.bot_login
            ),
            head_sha=project.git.refs.get(f"heads/{request.source_branch}", ""),
        )

    @staticmethod
    def _issue(ticket: Ticket) -> Issue:
        return replace(
            Issue(ticket.number, ticket.title, f"https://forge.test/issues/{ticket.number}"),
            body=ticket.body,
        )


def _found(items: Mapping[K, V], key: K, what: str) -> V:
    """`items[key]`, or `NotFound` naming `what`, as the forges answer."""
    if key not in items:
        raise NotFound(f"{what} not found")
    return items[key]
