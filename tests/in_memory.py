"""Handler tests without HTTP: the in-memory forge (`fakes/forge.py`, held to the same contract
as GitHub's and GitLab's adapters by `test_forge_contract.py`), a stub adviser, and the events a
forge would deliver. Each such test is a plain async function that runs in milliseconds."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Mapping

from fakes.forge import FakeForge
from fakes.git import Content

from bot.config import load_settings
from handlers.adviser import AdviseError, AdviseRequest, AdviseResult, Guidance
from handlers.context import Context, Policy, lock_branch_name
from handlers.events import CommentEvent, PushEvent
from handlers.forge import Actor, Repo

PIPFILE = '[packages]\nflask = "*"\n\n[requires]\npython_version = "3.11"\n'
LOCK = lock_branch_name("main")
SETTINGS = load_settings(env={})


class StubAdviser:
    """Locks each package of a Pipfile's [packages] at 1.0.0, flask at 3.0.0; `meanwhile` runs
    during each advise (the world moving on while the bot works)."""

    name = "stub"

    def __init__(self, meanwhile: Callable[[], None] | None = None) -> None:
        self.requests: list[AdviseRequest] = []
        self.meanwhile = meanwhile
        self.versions = {"flask": "3.0.0"}  # the releases it picks (others: 1.0.0)
        self.fixes: dict[str, list[str]] = {}  # advisories its new releases fix, by package

    async def advise(self, request: AdviseRequest) -> AdviseResult:
        self.requests.append(request)
        if self.meanwhile is not None:
            self.meanwhile()
        if "broken" in request.pipfile:
            raise AdviseError("no release of broken fits the node class", fix="Drop broken.")
        default = {
            name: {
                "version": "==" + self.versions.get(name, "1.0.0"),
                "hashes": ["sha256:" + "0" * 64],
                "index": "pypi",
            }
            for name in tomllib.loads(request.pipfile).get("packages", {})
        }
        return AdviseResult(
            lock={"_meta": {"sources": []}, "default": default, "develop": {}},
            justification=(Guidance("INFO", "flask 3.0.0 suits the node class."),),
            backend="stub",
            extra={"fixes": self.fixes},
        )


def context(forge: FakeForge, adviser: StubAdviser) -> Context:
    return Context(
        forge=forge,
        adviser=adviser,
        policy=Policy(
            node_classes=SETTINGS.node_classes, default_node_class=SETTINGS.default_node_class
        ),
        log=logging.getLogger("handlers.test"),
    )


def pushed(forge: FakeForge, repo: Repo, files: Mapping[str, Content | None]) -> PushEvent:
    before = forge.projects[repo.full_name].git.refs["heads/main"]
    after = forge.push(repo.full_name, files, branch="main")
    return PushEvent(
        repo=repo,
        ref="refs/heads/main",
        before=before,
        after=after,
        sender=Actor("someone"),
        changed_paths=frozenset(files),
    )


def commented(forge: FakeForge, repo: Repo, number: int, body: str, login: str) -> CommentEvent:
    """A person comments on merge request `number`; the event the forge delivers."""
    comment = forge.add_comment(repo.full_name, number, body, login)
    return CommentEvent(
        repo=repo,
        number=number,
        comment_id=comment,
        body=body,
        author=Actor(login),
        on_merge_request=True,
    )


MAINTAINER = "maintainer"


def merge_request(
    forge: FakeForge, pipfile: str, *, role: str = "write", name: str = "octo-org/app"
) -> tuple[Repo, int]:
    """A repository whose `feature` branch changes its Pipfile to `pipfile`, proposed in a merge
    request by someone; MAINTAINER holds `role` in it."""
    repo = forge.create_repo(name, {"Pipfile": PIPFILE})
    forge.push(repo.full_name, {"Pipfile": pipfile}, branch="feature")
    forge.grant(repo.full_name, MAINTAINER, role)
    return repo, forge.open_merge_request(repo.full_name, "feature", "someone")


def replies(forge: FakeForge, repo: Repo, number: int) -> list[str]:
    """The bot's comments on merge request `number` that are not its sticky guidance."""
    return [
        said.body
        for said in forge.projects[repo.full_name].requests[number].comments
        if said.author == forge.bot_login and "<!-- thoth-bot:guidance" not in said.body
    ]
