"""Git objects as git hashes them, for the fake forges: blobs, trees, commits and refs."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git_hash(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


@dataclass
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: str
    date: str


Content = str | bytes | tuple[str, str]  # text or bytes, or (text, mode) such as "100755"


@dataclass(frozen=True)
class Push:
    """What a person's push did, for building the webhook payload."""

    repo: str  # the repository's full name (GitLab: the project's path)
    branch: str
    before: str
    after: str
    added: tuple[str, ...]
    modified: tuple[str, ...]
    removed: tuple[str, ...]
    message: str = "update"

    @property
    def sha(self) -> str:
        return self.after


@dataclass(kw_only=True)
class GitStore:
    """One repository's objects and refs ("heads/main": sha)."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # name: mode, sha
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    # -- objects --

    def put_blob(self, data: bytes) -> str:
        sha = _git_hash("blob", data)
        self.blobs[sha] = data
        return sha

    def put_tree(self, entries: Mapping[str, tuple[str, str]]) -> str:
        def key(name: str) -> bytes:  # git sorts trees as if their names ended in "/"
            return (name + ("/" if entries[name][0] == "040000" else "")).encode()

        data = b"".join(
            f"{entries[name][0].lstrip('0')} {name}\0".encode() + bytes.fromhex(entries[name][1])
            for name in sorted(entries, key=key)
        )
        sha = _git_hash("tree", data)
        self.trees[sha] = dict(entries)
        return sha

    def put_commit(self, tree: str, parents: Iterable[str], message: str, author: str) -> str:
        parents = tuple(parents)
        stamp = int(time.time())
        text = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
        text += f"author {author} <{author}@users.noreply.github.com> {stamp} +0000\n"
        text += f"committer GitHub <noreply@github.com> {stamp} +0000\n\n{message}"
        sha = _git_hash("commit", text.encode())
        self.commits[sha] = Commit(sha, tree, parents, message, author, now_iso())
        return sha

    def put_files(self, files: Mapping[str, Content]) -> dict[str, tuple[str, str]]:
        """path: (mode, blob sha) of `files`, their blobs stored."""
        entries = {}
        for path, content in files.items():
            mode = "100644"
            if isinstance(content, tuple):
                content, mode = content
            data = content.encode() if isinstance(content, str) else content
            entries[path] = (mode, self.put_blob(data))
        return entries

    def commit_on(
        self,
        name: str,
        branch: str,
        start: str,
        files: Mapping[str, Content | None],
        *,
        message: str,
        author: str,
    ) -> Push:
        """One commit on `branch` (made from branch `start` if new) changing `files` (None:
        deleted), as a person's push makes it."""
        before = self.refs.get(f"heads/{branch}")
        parent = before or self.refs[f"heads/{start}"]
        current = self.files_at(parent)
        new = dict(current)
        for path, content in files.items():
            if content is None:
                new.pop(path, None)
            else:
                new.update(self.put_files({path: content}))
        sha = self.put_commit(self.build_tree(new), (parent,), message, author)
        self.refs[f"heads/{branch}"] = sha
        return Push(
            repo=name,
            branch=branch,
            before=before or "0" * 40,
            after=sha,
            added=tuple(sorted(p for p in new if p not in current)),
            modified=tuple(sorted(p for p in new if p in current and new[p] != current[p])),
            removed=tuple(sorted(p for p in current if p not in new)),
            message=message,
        )

    def copy_objects_to(self, other: GitStore) -> None:
        """Make this store's objects readable in `other` (a fork's in its parent)."""
        for store in ("blobs", "trees", "commits"):
            getattr(other, store).update(getattr(self, store))

    def text(self, ref: str, path: str) -> str | None:
        sha = self.resolve(ref)
        entry = self.files_at(sha).get(path) if sha else None
        return self.blobs[entry[1]].decode() if entry else None

    def mode(self, ref: str, path: str) -> str | None:
        entry = self.files_at(self.resolve(ref) or "").get(path)
        return entry[0] if entry else None

    def texts(self, ref: str) -> dict[str, str]:
        return {
            path: self.blobs[sha].decode()
            for path, (_, sha) in self.files_at(self.resolve(ref) or "").items()
        }

    def flatten(self, tree_sha: str, prefix: str = "") -> dict[str, tuple[str, str]]:
        """path: (mode, blob sha) of every file under a tree."""
        files = {}
        for name, (mode, sha) in self.trees[tree_sha].items():
            path = f"{prefix}{name}"
            if mode == "040000":
                files.update(self.flatten(sha, path + "/"))
            else:
                files[path] = (mode, sha)
        return files

    def build_tree(self, files: Mapping[str, tuple[str, str]]) -> str:
        """The tree of a flat path: (mode, sha) mapping, subtrees included."""
        here: dict[str, tuple[str, str]] = {}
        below: dict[str, dict[str, tuple[str, str]]] = {}
        for path, entry in files.items():
            head, _, rest = path.partition("/")
            if rest:
                below.setdefault(head, {})[rest] = entry
            else:
                here[head] = entry
        for name, subfiles in below.items():
            here[name] = ("040000", self.build_tree(subfiles))
        return self.put_tree(here)

    def files_at(self, commit_sha: str) -> dict[str, tuple[str, str]]:
        return self.flatten(self.commits[commit_sha].tree)

    def resolve(self, ref: str) -> str | None:
        """A branch name, "refs/heads/x", "heads/x" or a commit sha -> commit sha."""
        for candidate in (ref, f"heads/{ref}", ref.removeprefix("refs/")):
            if candidate in self.refs:
                return self.refs[candidate]
        return ref if ref in self.commits else None

    def ancestors(self, sha: str) -> list[str]:
        seen, order, todo = set(), [], [sha]
        while todo:
            current = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            order.append(current)
            todo.extend(self.commits[current].parents)
        return order

    def locks_changed(self, sha: str, where: str) -> list[tuple[str, str, str]]:
        """(where@sha:path, Pipfile, Pipfile.lock) of each lock commit `sha` added or changed."""
        commit = self.commits[sha]
        files = self.files_at(sha)
        before = self.files_at(commit.parents[0]) if commit.parents else {}
        changed = []
        for path, entry in sorted(files.items()):
            if not path.endswith("Pipfile.lock") or before.get(path) == entry:
                continue
            pipfile = files.get(path.removesuffix(".lock"))
            changed.append(
                (
                    f"{where}@{sha[:8]}:{path}",
                    self.blobs[pipfile[1]].decode() if pipfile else "",
                    self.blobs[entry[1]].decode(),
                )
            )
        return changed
