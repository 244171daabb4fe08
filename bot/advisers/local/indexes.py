"""Which package indexes a resolution may use, and with which credentials (SPEC §10).

- A Pipfile's `[[source]]` is used only when the operator's allow-list (`adviser.indexes`)
  has it; otherwise the advise fails naming the source and the setting.
- Credentials never travel in URLs. The operator gives them per index (`adviser.credentials`,
  a URL prefix and the environment variables holding the user name and password, or the user
  information of a rule's index URL); the resolver hands them to uv for that index alone.
- A source written pipenv's way, `https://${USER}:${PASSWORD}@host/simple`, keeps its
  placeholders in the lock; the bot fills in the operator's credentials for that host, and
  nothing else of its environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from bot.advisers.local.egress import DEFAULT_INDEXES, Allowlist, normal_url
from bot.advisers.local.uv_process import Credentials, Index
from handlers.adviser import AdviseError

_PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


@dataclass(frozen=True)
class IndexCredentials:
    """The operator's credentials for every index URL under `prefix`."""

    prefix: str
    credentials: Credentials

    def covers(self, url: str) -> bool:
        return normal_url(url).startswith(normal_url(self.prefix))


@dataclass(frozen=True)
class IndexPolicy:
    """The operator's choices: allowed indexes and their credentials."""

    allowed: tuple[str, ...] = DEFAULT_INDEXES
    credentials: tuple[IndexCredentials, ...] = ()

    def credentials_for(self, url: str) -> Credentials | None:
        return next((entry.credentials for entry in self.credentials if entry.covers(url)), None)

    def allowlist(self, trusted: Iterable[str] = ()) -> Allowlist:
        return Allowlist.of(self.allowed, trusted=trusted)


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """`https://user:token@host/simple` -> (`https://host/simple`, the user and token)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rsplit("@", 1)[1]
    credentials = Credentials(unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=netloc)), credentials


def source_index(source: Mapping[str, Any], policy: IndexPolicy, allowlist: Allowlist) -> Index:
    """The index a Pipfile's [[source]] resolves from; `AdviseError` when it may not be used."""
    name, written = str(source.get("name")), str(source.get("url"))
    url, given = split_credentials(written)
    if _PLACEHOLDER.search(url):
        raise AdviseError(
            f"[[source]] {name!r} uses an environment variable outside its user and password "
            f"({_shown(written)})",
            fix="Write the index's host and path in full; thoth-bot fills in variables only "
            "in a source's user and password, with the credentials its operator gives that "
            "index.",
        )
    if not allowlist.allows_url(url):
        raise AdviseError(
            f"[[source]] {name!r} ({_shown(written)}) is not a package index thoth-bot may use",
            fix="Use one of the indexes the bot allows, or ask the bot's operator to add this "
            "one to `adviser.indexes`.",
        )
    operators = policy.credentials_for(url)
    if given is not None and _PLACEHOLDER.search(f"{given.username}:{given.password}"):
        given = None  # ${VAR}: the operator's credentials for this index, if any
    return Index(url, operators or given)


def rule_index(url: str, policy: IndexPolicy) -> Index:
    """A rule's index (operator-configured): its own user information, else the policy's."""
    bare, given = split_credentials(url)
    return Index(bare, given or policy.credentials_for(bare))


def _shown(url: str) -> str:
    """A URL as people may see it: user information replaced, placeholders kept."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    shown = userinfo if _PLACEHOLDER.fullmatch(userinfo.split(":")[-1] or "") else "***"
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def parse_credentials(
    entries: Sequence[Mapping[str, Any]], env: Mapping[str, str]
) -> tuple[IndexCredentials, ...]:
    """`adviser.credentials`: [{index, username_env, password_env}], read from `env`."""
    found = []
    for entry in entries:
        username = env.get(str(entry.get("username_env") or ""), "")
        password = env.get(str(entry["password_env"]), "")
        found.append(IndexCredentials(str(entry["index"]), Credentials(username, password)))
    return tuple(found)


@dataclass(frozen=True)
class Place:
    """An index of one advise, as people know it: who set it, and the fix when it is down."""

    url: str
    who: str  # "the Pipfile's [[source]] 'pypi' (https://...)"
    fix: str


def source_place(source: Mapping[str, Any], index: Index) -> Place:
    return Place(
        index.url,
        f"the Pipfile's [[source]] {str(source.get('name'))!r} ({index.url})",
        "Check that the source's URL is right and that its index is up; thoth-bot tries "
        "again by itself.",
    )


def rule_place(rule_id: str, index: Index) -> Place:
    return Place(
        index.url,
        f"the index of hardware rule {rule_id!r} ({index.url})",
        f"Ask the bot's operator to point rule {rule_id!r} at a mirror the bot can reach: in "
        f"`adviser.rules`, a rule with id {rule_id!r} and its own `index.url`.",
    )


_FETCH = re.compile(r"Failed to fetch: `?([^\s`]+)")


def named_unreachable(error: AdviseError, places: Sequence[Place]) -> AdviseError:
    """`error`, where uv's words say which URL it could not fetch, naming the index that
    URL belongs to (a Pipfile source or a rule's) and its fix."""
    found = _FETCH.search(error.detail or "")
    if not error.retryable or found is None:
        return error
    url = normal_url(found[1])
    for place in places:
        if url.startswith(normal_url(place.url).rstrip("/") + "/"):
            return AdviseError(
                f"{place.who} could not be reached",
                retryable=True,
                fix=place.fix,
                detail=error.detail,
            )
    return error
