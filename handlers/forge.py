"""The one `Forge` protocol every handler is written against.

GitHub and GitLab implement it in `bot/`; handlers never learn which one they talk to.
Reads are batched (`snapshot`, `read_files`) so that a forge can answer them in one round
trip; writes are small primitives that handlers compose into idempotent "ensure" steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Repo:
    """A repository (GitHub) or project (GitLab) as the handlers see it."""

    full_name: str  # "owner/name", or GitLab's path_with_namespace
    default_branch: str
    web_url: str
    id: int | str | None = None


@dataclass(frozen=True)
class Actor:
    login: str
    is_bot: bool = False
    id: int | str | None = None  # the forge's user id, where it knows people by id (GitLab)


@dataclass(frozen=True)
class FileContent:
    text: str
    executable: bool = False


@dataclass(frozen=True)
class Comment:
    id: int | str
    body: str


@dataclass(frozen=True)
class MergeRequest:
    number: int
    title: str
    body: str
    source_branch: str
    target_branch: str
    # The bot's own comments on it, oldest first (sticky comments are found by marker here).
    bot_comments: tuple[Comment, ...] = ()
    head_sha: str = ""
    from_fork: bool = False  # the source branch lives in another repository


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    url: str
    body: str = ""


@dataclass(frozen=True)
class BranchHead:
    """The head commit of a branch: enough to know whether it needs rewriting."""

    sha: str
    parents: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of a branch and of the bot's state around it."""

    branch: str
    sha: str  # the branch head that `files` were read at
    files: Mapping[str, FileContent | None]  # None: no such file
    lock_branch: BranchHead | None = None  # the bot's branch, when it exists
    merge_request: MergeRequest | None = None  # the open MR from the bot's branch into `branch`
    # Open issues opened by the bot, newest activity first: number, title and URL (not the body).
    open_issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class Annotation:
    """A note on one line of a file, shown where the forge can (GitHub's checks)."""

    path: str
    line: int
    level: str  # "failure" | "warning" | "notice"
    message: str
    title: str = ""


@dataclass(frozen=True)
class Action:
    """A button on the report (GitHub's check run actions)."""

    identifier: str
    label: str
    description: str


@dataclass(frozen=True)
class CommitStatus:
    """The bot's report on a commit: one line and a state everywhere; where the forge has
    room (GitHub's check runs), the Markdown `summary` and `annotations` on file lines too."""

    # "pending" | "success" | "failure" | "error" | "action_required" (a person must choose)
    state: str
    description: str
    context: str = "thoth-bot/advise"
    target_url: str | None = None
    summary: str = ""
    annotations: tuple[Annotation, ...] = ()
    warnings: bool = False  # a success with warnings (a check run concludes "neutral")
    actions: tuple[Action, ...] = ()


# How `Forge.set_status` showed a report.
SHOWN_IN_FULL = "in full"  # summary and annotations too (a check run)
SHOWN_AS_STATUS = "as a status"  # one line and a state


@dataclass(frozen=True)
class Words:
    """How a forge's people name things, and how much text it takes: what `render` needs to
    write for this forge."""

    merge_request: str  # "pull request" | "merge request"
    reference_prefix: str  # "#" (GitHub: `#12`) | "!" (GitLab: `!12`)
    body_limit: int  # characters of an issue, merge request or comment body, with a margin
    who_may_command: str  # who may run `/thoth` commands, in the forge's terms
    checks: bool = False  # it can show a report in full (GitHub's check runs), if allowed
    # A link to one line of a file at a commit: {web_url}, {sha}, {path}, {line} ("": none).
    line_url: str = ""

    def reference(self, number: int) -> str:
        """A merge request's reference, which the forge renders as a link."""
        return f"{self.reference_prefix}{number}"


class Forge(Protocol):
    """What the handlers need from a forge. Every method may raise `ForgeError`."""

    words: Words

    async def is_self(self, actor: Actor) -> bool:
        """Whether `actor` is this bot's own account."""

    async def snapshot(
        self,
        repo: Repo,
        *,
        branch: str,
        paths: Sequence[str],
        lock_branch: str,
    ) -> Snapshot:
        """Files at `branch`'s head, the bot's `lock_branch` with its open MR, open bot issues."""

    async def read_files(
        self, repo: Repo, *, sha: str, paths: Sequence[str]
    ) -> dict[str, FileContent | None]:
        """More files at a commit already seen in a snapshot."""

    async def changed_paths(self, repo: Repo, *, base: str, head: str) -> frozenset[str]:
        """Paths that differ between two commits (the compare API)."""

    async def repository(self, full_name: str) -> Repo:
        """A repository by name (its default branch and web URL)."""

    async def merge_request(self, repo: Repo, number: int) -> MergeRequest:
        """One merge request, with its head commit and the bot's comments on it."""

    async def merge_request_paths(self, repo: Repo, number: int) -> frozenset[str]:
        """Paths the merge request changes (every page of them)."""

    async def comment_as_delivered(
        self, repo: Repo, number: int, comment_id: int | str, author: Actor, body: str
    ) -> bool:
        """Whether the forge holds this comment on merge request `number`, by `author`, with
        `body`: where a delivery's sender could be someone other than the forge (a webhook
        secret many people hold), what the delivery says is checked before it is acted on."""
        ...

    async def permission(self, repo: Repo, actor: Actor) -> str:
        """`actor`'s role: "admin", "maintain", "write", "triage", "read" or "none"."""

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
        """Make `branch` point at ONE new commit on top of `parent` holding `files`, creating
        the branch if need be.

        A None value deletes the path. With `force`, the branch is moved whatever it held;
        without, only a fast-forward is allowed (someone else's branch): `BranchMoved`
        otherwise. Returns the new sha.
        """

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
        """Open a merge request (labels applied where the forge allows)."""

    async def update_merge_request(
        self, repo: Repo, number: int, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> None:
        """Edit the title and description of a merge request, and add `labels` to it."""

    async def close_merge_request(self, repo: Repo, number: int) -> None:
        """Close a merge request without merging it."""

    async def create_comment(self, repo: Repo, number: int, body: str) -> Comment:
        """Comment on merge request `number`."""

    async def update_comment(
        self, repo: Repo, number: int, comment_id: int | str, body: str
    ) -> None:
        """Edit one of the bot's comments on merge request `number`."""

    async def react(self, repo: Repo, number: int, comment_id: int | str, reaction: str) -> None:
        """React to a comment on merge request `number` ("eyes", "+1"...)."""

    async def comment_on_issue(self, repo: Repo, number: int, body: str) -> Comment:
        """Comment on issue `number` (GitLab numbers issues and merge requests apart)."""

    async def set_status(self, repo: Repo, sha: str, status: CommitStatus) -> str:
        """Report on a commit; how it was shown (`SHOWN_IN_FULL`, `SHOWN_AS_STATUS`: where the
        forge could show more, it was not allowed to)."""

    async def create_issue(
        self, repo: Repo, *, title: str, body: str, labels: Sequence[str]
    ) -> Issue:
        """Open an issue."""

    async def update_issue(self, repo: Repo, number: int, *, body: str) -> None:
        """Edit an issue's description."""

    async def close_issue(self, repo: Repo, number: int) -> None:
        """Close an issue."""


class ForgeError(Exception):
    """The forge refused or failed a call; the job layer decides whether to retry. What
    happened is the class (below), in the forge's own words the message: a handler never
    sees a status code."""

    retryable_by_default = False

    def __init__(
        self, message: str, *, retryable: bool | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.retry_after = retry_after  # seconds the forge asked us to wait (rate limits)


class NotFound(ForgeError):
    """No such repository, branch, commit, merge request or user (or not visible to the bot)."""


class Forbidden(ForgeError):
    """The bot's credentials do not allow it."""


class AlreadyExists(ForgeError):
    """What the call would create exists already (a branch, a merge request, a reaction)."""


class BranchMoved(ForgeError):
    """A branch the bot may only fast-forward has moved since it was read."""


class Refused(ForgeError):
    """The forge refused the request as it was made (invalid for the forge)."""


class RateLimited(ForgeError):
    """The forge's rate limit: retry after `retry_after` seconds."""

    retryable_by_default = True


class Unavailable(ForgeError):
    """The forge could not be reached or failed (a 5xx, a timeout): retry later."""

    retryable_by_default = True
