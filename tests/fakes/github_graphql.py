"""The fake GitHub's GraphQL v4 endpoint: graphql-core executes queries against
`github_schema.graphql` (a subset of GitHub's published schema) with resolvers over the
fake's state."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import GraphQLSchema, build_schema, graphql_sync

if TYPE_CHECKING:
    from fakes.github import Issue, Repo, Request

SCHEMA_PATH = Path(__file__).with_name("github_schema.graphql")


@cache
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


class GraphQLMixin:
    """`POST /graphql` for `FakeGitHub`; reads only the fake's state."""

    repos: dict[str, Repo]
    installations: dict[int, dict[str, Any]]
    users: dict[str, str]
    slug: str
    bot_login: str
    truncate_blobs_over: int | None
    _comments: dict[int, Any]

    def _post_graphql(self, req: Request) -> tuple[int, Any]:
        body = req.json or {}
        result = graphql_sync(
            schema(),
            str(body.get("query", "")),
            root_value={
                "repository": lambda info, owner, name, **_: self._gql_repo(req, owner, name)
            },
            variable_values=body.get("variables") or {},
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [
                {"message": error.message, "path": error.path, "type": "INVALID"}
                for error in result.errors
            ]
        return 200, answer

    def _gql_repo(self, req: Request, owner: str, name: str) -> dict[str, Any] | None:
        full_name = f"{owner}/{name}"
        repo = self.repos.get(full_name)
        if repo is None or (
            req.installation is not None
            and full_name not in self.installations[req.installation]["repos"]
        ):
            raise LookupError(f"Could not resolve to a Repository with the name '{full_name}'.")
        return {
            "__typename": "Repository",
            "id": f"R_{repo.id}",
            "databaseId": repo.id,
            "name": name,
            "nameWithOwner": full_name,
            "url": f"https://github.com/{full_name}",
            "ref": lambda info, qualifiedName: self._gql_ref(repo, qualifiedName),
            "defaultBranchRef": lambda info: self._gql_ref(repo, repo.default_branch),
            "object": lambda info, oid=None, expression=None: self._gql_object(
                repo, oid or expression
            ),
            "pullRequest": lambda info, number: (
                self._gql_pull(repo, repo.issues[number])
                if number in repo.issues and repo.issues[number].is_pull
                else None
            ),
            "issue": lambda info, number: (
                self._gql_issue(repo, repo.issues[number])
                if number in repo.issues and not repo.issues[number].is_pull
                else None
            ),
            "pullRequests": lambda info, **args: self._gql_connection(
                [
                    self._gql_pull(repo, i)
                    for i in repo.issues.values()
                    if i.is_pull
                    and (
                        not args.get("states")
                        or i.state.upper() in args["states"]
                        or (i.merged and "MERGED" in args["states"])
                    )
                    and args.get("headRefName") in (None, i.head)
                    and args.get("baseRefName") in (None, i.base)
                ],
                args,
            ),
            "issues": lambda info, **args: self._gql_connection(
                [
                    self._gql_issue(repo, i)
                    for i in self._ordered(repo, args)
                    if not i.is_pull
                    and (not args.get("states") or i.state.upper() in args["states"])
                ],
                args,
            ),
        }

    def _ordered(self, repo: Repo, args: Mapping[str, Any]) -> list[Issue]:
        order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "DESC"}
        key = {"UPDATED_AT": "updated_at", "CREATED_AT": "created_at"}.get(
            order["field"], "created_at"
        )
        issues = sorted(repo.issues.values(), key=lambda i: (getattr(i, key), i.number))
        return issues[::-1] if order["direction"] == "DESC" else issues

    def _gql_connection(self, nodes: list[Any], args: Mapping[str, Any]) -> dict[str, Any]:
        first, last = args.get("first"), args.get("last")
        if first is None and last is None:
            raise ValueError("You must provide a `first` or `last` value to properly paginate.")
        if (first or last or 0) > 100:
            raise ValueError("Requesting more than 100 records on a connection is not allowed.")
        window = nodes[:first] if first is not None else nodes[-last:] if last else []
        return {
            "nodes": window,
            "edges": [{"cursor": str(i), "node": n} for i, n in enumerate(window)],
            "totalCount": len(nodes),
            "pageInfo": {
                "hasNextPage": len(nodes) > len(window),
                "hasPreviousPage": False,
                "startCursor": "0" if window else None,
                "endCursor": str(len(window) - 1) if window else None,
            },
        }

    def _gql_ref(self, repo: Repo, name: str) -> dict[str, Any] | None:
        short = name.removeprefix("refs/heads/")
        qualified = f"heads/{short}" if not name.startswith("refs/tags/") else name[5:]
        if qualified not in repo.refs:
            return None
        return {
            "__typename": "Ref",
            "id": f"REF_{repo.id}_{qualified}",
            "name": qualified.split("/", 1)[1],
            "prefix": f"refs/{qualified.split('/', 1)[0]}/",
            "target": lambda info: self._gql_commit(repo, repo.refs[qualified]),
        }

    def _gql_object(self, repo: Repo, oid: str | None) -> dict[str, Any] | None:
        if oid in repo.commits:
            return self._gql_commit(repo, oid)
        return None

    def _gql_commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        commit = repo.commits[sha]
        return {
            "__typename": "Commit",
            "id": f"C_{sha}",
            "oid": sha,
            "abbreviatedOid": sha[:7],
            "message": commit.message,
            "messageHeadline": commit.message.split("\n", 1)[0],
            "committedDate": commit.date,
            "authoredDate": commit.date,
            "tree": {"__typename": "Tree", "id": f"T_{commit.tree}", "oid": commit.tree},
            "parents": lambda info, **args: self._gql_connection(
                [self._gql_commit(repo, p) for p in commit.parents], args
            ),
            "file": lambda info, path: self._gql_file(repo, commit.tree, path),
            "url": f"https://github.com/{repo.full_name}/commit/{sha}",
            "checkSuites": lambda info, **args: {"nodes": [self._gql_check_suite(repo, sha)]},
        }

    def _gql_check_suite(self, repo: Repo, sha: str) -> dict[str, Any]:
        """The commit's check runs, in one suite (the fake has one App)."""

        def runs(info: Any, filterBy: Mapping[str, Any] | None = None, **_: Any) -> dict:
            name = (filterBy or {}).get("checkName")
            return {
                "nodes": [
                    {
                        "__typename": "CheckRun",
                        "id": f"CR_{run['id']}",
                        "databaseId": run["id"],
                        "name": run["name"],
                    }
                    for run in repo.check_runs.values()
                    if run["head_sha"] == sha and (name is None or run["name"] == name)
                ]
            }

        return {"__typename": "CheckSuite", "id": f"CS_{sha}", "checkRuns": runs}

    def _gql_file(self, repo: Repo, tree: str, path: str) -> dict[str, Any] | None:
        mode, sha, kind = "040000", tree, "tree"
        for part in [p for p in path.strip("/").split("/") if p]:
            if kind != "tree" or part not in repo.trees[sha]:
                return None
            mode, sha = repo.trees[sha][part]
            kind = "tree" if mode == "040000" else "blob"
        if kind == "tree":
            obj: dict[str, Any] = {"__typename": "Tree", "id": f"T_{sha}", "oid": sha}
        else:
            data = repo.blobs[sha]
            try:
                text: str | None = data.decode()
                binary = "\0" in text
            except UnicodeDecodeError:
                text, binary = None, True
            limit = self.truncate_blobs_over
            truncated = bool(limit is not None and not binary and len(data) > limit)
            obj = {
                "__typename": "Blob",
                "id": f"B_{sha}",
                "oid": sha,
                "byteSize": len(data),
                "isBinary": binary,
                "isTruncated": truncated,
                "text": None if binary else (text[:limit] if truncated else text),
            }
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "mode": int(mode, 8),
            "oid": sha,
            "type": kind,
            "object": obj,
        }

    def _gql_actor(self, login: str) -> dict[str, Any]:
        if login == self.bot_login:
            return {"__typename": "Bot", "login": self.slug, "id": f"BOT_{self.slug}"}
        return {"__typename": self.users.get(login, "User"), "login": login, "id": f"U_{login}"}

    def _gql_comments(self, repo: Repo, issue: Issue, args: Mapping[str, Any]) -> dict[str, Any]:
        nodes = [
            {
                "__typename": "IssueComment",
                "id": f"IC_{comment.id}",
                "databaseId": comment.id,
                "body": comment.body,
                "author": self._gql_actor(comment.user),
                "createdAt": comment.created_at,
                "updatedAt": comment.updated_at,
            }
            for comment in (self._comments[c] for c in issue.comments)
        ]
        return self._gql_connection(nodes, args)

    def _gql_pull(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        head_repo = self.repos[issue.head_repo]
        return {
            "__typename": "PullRequest",
            "id": f"PR_{repo.id}_{issue.number}",
            "databaseId": issue.number + 5_000_000,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "url": f"https://github.com/{repo.full_name}/pull/{issue.number}",
            "state": "MERGED" if issue.merged else issue.state.upper(),
            "isDraft": issue.draft,
            "closed": issue.state == "closed",
            "merged": issue.merged,
            "headRefName": issue.head,
            "headRefOid": issue.closed_head_sha or head_repo.refs.get(f"heads/{issue.head}"),
            "baseRefName": issue.base,
            "isCrossRepository": issue.head_repo != repo.full_name,
            "author": self._gql_actor(issue.user),
            "comments": lambda info, **args: self._gql_comments(repo, issue, args),
            "labels": lambda info, **args: self._gql_connection(
                [{"__typename": "Label", "name": n, "id": f"L_{n}"} for n in issue.labels], args
            ),
        }

    def _gql_issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        return {
            "__typename": "Issue",
            "id": f"I_{repo.id}_{issue.number}",
            "databaseId": issue.number + 6_000_000,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "url": f"https://github.com/{repo.full_name}/issues/{issue.number}",
            "state": issue.state.upper(),
            "closed": issue.state == "closed",
            "author": self._gql_actor(issue.user),
            "createdAt": issue.created_at,
            "updatedAt": issue.updated_at,
            "comments": lambda info, **args: self._gql_comments(repo, issue, args),
        }
