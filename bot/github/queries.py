"""The GraphQL reads of the GitHub forge: one round trip per snapshot.

Every query here is validated against GitHub's published schema by the test suite
(`tests/test_github_graphql_schema.py`), so a field GitHub does not have fails a test, not a user.
"""

from __future__ import annotations

from collections.abc import Sequence

_FILE_FRAGMENT = """
fragment ThothBotFile on TreeEntry {
  mode
  oid
  object { ... on Blob { text isBinary isTruncated } }
}
"""


def _file_fields(count: int) -> str:
    return "\n".join(f"f{i}: file(path: $p{i}) {{ ...ThothBotFile }}" for i in range(count))


_PULL_REQUEST_FRAGMENT = """
fragment ThothBotPullRequest on PullRequest {
  number
  title
  body
  headRefName
  headRefOid
  baseRefName
  isCrossRepository
  comments(first: 100) { nodes { databaseId body author { login } } }
}
"""


def _fragment(count: int) -> str:
    return _FILE_FRAGMENT if count else ""  # GraphQL rejects a fragment nothing uses


def _path_variables(count: int) -> str:
    return "".join(f", $p{i}: String!" for i in range(count))


def path_variables(paths: Sequence[str]) -> dict[str, str]:
    return {f"p{i}": path for i, path in enumerate(paths)}


def snapshot_query(path_count: int) -> str:
    """Files at a branch head, the bot's branch, its open pull request, recent open issues."""
    return (
        """
query ThothBotSnapshot($owner: String!, $name: String!, $branchRef: String!, $branch: String!,
                       $lockRef: String!, $lockBranch: String!"""
        + _path_variables(path_count)
        + """) {
  repository(owner: $owner, name: $name) {
    branch: ref(qualifiedName: $branchRef) {
      target {
        oid
        ... on Commit {
          tree { oid }
          checkSuites(first: 20) {
            nodes {
              checkRuns(first: 1, filterBy: {checkName: "thoth-bot/advise"}) {
                nodes { databaseId }
              }
            }
          }
"""
        + _file_fields(path_count)
        + """
        }
      }
    }
    lockBranch: ref(qualifiedName: $lockRef) {
      target {
        oid
        ... on Commit { message parents(first: 2) { nodes { oid } } }
      }
    }
    pullRequests(headRefName: $lockBranch, baseRefName: $branch, states: [OPEN], first: 1) {
      nodes { ...ThothBotPullRequest }
    }
    issues(states: [OPEN], first: 100, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes { number title url author { login } }
    }
  }
}
"""
        + _fragment(path_count)
        + _PULL_REQUEST_FRAGMENT
    )


def files_query(path_count: int) -> str:
    """Files at a given commit."""
    return (
        """
query ThothBotFiles($owner: String!, $name: String!, $sha: GitObjectID!"""
        + _path_variables(path_count)
        + """) {
  repository(owner: $owner, name: $name) {
    object(oid: $sha) {
      ... on Commit {
"""
        + _file_fields(path_count)
        + """
      }
    }
  }
}
"""
        + _fragment(path_count)
    )


PULL_REQUEST_QUERY = (
    """
query ThothBotPullRequest($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) { ...ThothBotPullRequest }
  }
}
"""
    + _PULL_REQUEST_FRAGMENT
)


def all_queries() -> list[str]:
    """Every query the bot sends, for schema validation in the tests."""
    return [
        snapshot_query(0),
        snapshot_query(3),
        files_query(1),
        files_query(4),
        PULL_REQUEST_QUERY,
    ]
