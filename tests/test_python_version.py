"""The Python that runs (SPEC §5.2): a runtime environment's Python is its `.thoth.yaml`
`python_version`, else its node class's. The lock is made for it and says so in
`_meta.requires`; where the Pipfile's `[requires]` asks for another, the bot changes that line
in the same commit and says why (pipenv's `install --deploy` and the hooks refuse a mismatch).
Every lock written here passes the real `pipenv verify` (the `bot` fixture checks)."""

from __future__ import annotations

import json

import pytest
from fakes.github import FakeGitHub
from fakes.thoth import FakeThoth
from harness import LOCK_BRANCH, BotUnderTest, new_repo_name, pipfile
from test_commands import MAINTAINER, comment, replies
from test_pull_requests import deliver_pull, open_pull
from test_push import push_and_settle

from handlers.pipfile import parse_pipfile, with_python_version

pytestmark = pytest.mark.usefixtures("fakes")


def asking(python: str, *packages: str) -> str:
    return pipfile(*packages).replace('python_version = "3.11"', f'python_version = "{python}"')


async def test_a_pipfile_for_another_python_is_locked_for_the_images_and_changed_with_it(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation = new_repo_name("python")
    github.create_repo(repo, {"Pipfile": asking("3.8", "flask")}, installation=installation)

    await push_and_settle(
        bot, github, repo, installation, {"Pipfile": asking("3.8", "flask", "six")}
    )

    pipfile_text = github.file(repo, LOCK_BRANCH, "Pipfile") or ""
    assert pipfile_text == asking("3.11", "flask", "six")  # that one line, nothing else
    lock = json.loads(github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "{}")
    assert lock["_meta"]["requires"] == {"python_version": "3.11"}
    assert lock["_meta"]["hash"]["sha256"] == parse_pipfile("Pipfile", pipfile_text).hash
    assert thoth.requests[-1].body["runtime_environment"]["python_version"] == "3.11"
    commit = github.commit(repo, github.head(repo, LOCK_BRANCH) or "")
    assert "- Pipfile\n- Pipfile.lock" in commit.message
    [pull] = github.pulls(repo)
    [guidance] = github.comments(repo, pull.number)
    assert "Pipfile asked for Python 3.8, but runtime environment" in guidance.body
    assert "node class cpu-x86-64-v3's image runs Python 3.11" in guidance.body
    assert "refuse a lock made for another Python" in guidance.body


async def test_the_environments_own_python_wins_over_the_node_class_and_the_pipfile(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    config = (
        "host: thoth.example.com\nruntime_environments:\n  - name: app\n"
        '    python_version: "3.12"\n    labels: {node_class: cpu-x86-64-v3}\n'
    )
    repo, installation = new_repo_name("python")
    github.create_repo(
        repo, {"Pipfile": pipfile("flask"), ".thoth.yaml": config}, installation=installation
    )

    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "six")})

    assert 'python_version = "3.12"' in (github.file(repo, LOCK_BRANCH, "Pipfile") or "")
    lock = json.loads(github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "{}")
    assert lock["_meta"]["requires"] == {"python_version": "3.12"}


async def test_a_pull_requests_advice_says_so_and_lock_commits_both(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name("python")
    github.create_repo(repo, {"Pipfile": asking("3.9", "flask")}, installation=installation)
    github.grant(repo, MAINTAINER, "write")
    pull, push = open_pull(github, repo, {"Pipfile": asking("3.9", "flask", "six")})
    await deliver_pull(bot, repo, installation, pull, push.after)
    [guidance] = github.comments(repo, pull.number)
    assert "Pipfile asked for Python 3.9" in guidance.body

    await comment(bot, github, repo, installation, pull.number, "/thoth lock")

    assert github.file(repo, "feature", "Pipfile") == asking("3.11", "flask", "six")
    lock = json.loads(github.file(repo, "feature", "Pipfile.lock") or "{}")
    assert lock["_meta"]["requires"] == {"python_version": "3.11"}
    assert "`Pipfile`, `Pipfile.lock`" in replies(github, repo, pull.number)[-1]


def test_only_the_requires_line_changes() -> None:
    text = '[packages]\npython_version = "*"\n\n[requires]\npython_full_version = "3.9.19"\n'
    assert with_python_version(text, "3.11") == (
        '[packages]\npython_version = "*"\n\n[requires]\npython_version = "3.11"\n'
    )
    both = '[requires]\npython_version = "3.9"\npython_full_version = "3.9.1"\n'
    assert with_python_version(both, "3.11") == '[requires]\npython_version = "3.11"\n'
    dotted = 'requires.python_version = "3.7"\n[packages]\nx = "*"\n'
    assert parse_pipfile("P", with_python_version(dotted, "3.11")).python_version == "3.11"
    assert with_python_version('[packages]\nx = "*"\n', "3.11") == '[packages]\nx = "*"\n'
