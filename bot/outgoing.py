"""Every text the bot posts passes here on its way to a forge (SPEC §10).

`Outgoing` wraps a forge client: comments, merge request and issue titles and bodies, commit
messages and status descriptions are scrubbed by the same scrubber as the logs (the configured
secrets and anything shaped like a credential, `bot.logs.redact`). On GitLab, a line that
GitLab would run as a quick action (`/merge`, `/approve`, `/label ~x`...: GitLab executes them
in notes and descriptions posted through the API, with the bot's role) is made plain text by a
zero-width space before its slash. Reads pass through untouched.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.logs import redact
from handlers.forge import Comment, CommitStatus, FileContent, Forge, Issue, MergeRequest, Repo

_QUICK_ACTION = re.compile(r"^([ \t>]*)/", re.MULTILINE)


def outgoing_text(text: str, *, quick_actions: bool) -> str:
    """`text` as the bot may post it: scrubbed, and on GitLab without a quick action."""
    text = redact(text)
    if quick_actions:
        text = _QUICK_ACTION.sub("\\1\u200b/", text)
    return text


class Outgoing:
    """A `Forge` whose every posted text is scrubbed (and, on GitLab, inert to quick actions)."""

    def __init__(self, inner: Forge, *, quick_actions: bool = False) -> None:
        self._inner = inner
        self._quick_actions = quick_actions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # the reads, and the writes that carry no text

    def _text(self, text: str) -> str:
        return outgoing_text(text, quick_actions=self._quick_actions)

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
        return await self._inner.commit_files(
            repo,
            branch=branch,
            parent=parent,
            files=files,
            message=redact(message),
            force=force,
        )

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
        return await self._inner.create_merge_request(
            repo,
            source_branch=source_branch,
            target_branch=target_branch,
            title=self._text(title),
            body=self._text(body),
            labels=labels,
        )

    async def update_merge_request(
        self, repo: Repo, number: int, *, title: str, body: str, labels: Sequence[str] = ()
    ) -> None:
        await self._inner.update_merge_request(
            repo, number, title=self._text(title), body=self._text(body), labels=labels
        )

    async def create_comment(self, repo: Repo, number: int, body: str) -> Comment:
        return await self._inner.create_comment(repo, number, self._text(body))

    async def update_comment(
        self, repo: Repo, number: int, comment_id: int | str, body: str
    ) -> None:
        await self._inner.update_comment(repo, number, comment_id, self._text(body))

    async def comment_on_issue(self, repo: Repo, number: int, body: str) -> Comment:
        return await self._inner.comment_on_issue(repo, number, self._text(body))

    async def set_status(self, repo: Repo, sha: str, status: CommitStatus) -> str:
        return await self._inner.set_status(
            repo,
            sha,
            dataclasses.replace(
                status,
                description=redact(status.description),
                summary=self._text(status.summary) if status.summary else "",
                annotations=tuple(
                    dataclasses.replace(
                        note, message=self._text(note.message), title=redact(note.title)
                    )
                    for note in status.annotations
                ),
            ),
        )

    async def create_issue(
        self, repo: Repo, *, title: str, body: str, labels: Sequence[str]
    ) -> Issue:
        return await self._inner.create_issue(
            repo, title=self._text(title), body=self._text(body), labels=labels
        )

    async def update_issue(self, repo: Repo, number: int, *, body: str) -> None:
        await self._inner.update_issue(repo, number, body=self._text(body))
