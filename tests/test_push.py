"""A Pipfile push on the default branch, end to end (SPEC §7.1): real payloads through
`POST /webhooks/github`, the bot talking HTTP to the fake GitHub and the fake Thoth."""

from __future__ import annotations

import json
from pathlib import Path

import payloads
import pytest
from fakes.github import FakeGitHub, Issue, Push
from fakes.thoth import FakeThoth
from harness import LOCK_BRANCH, BotUnderTest, new_repo_name, pipfile
from tools import pipenv_verify

from handlers.pipfile_lock import encode_lock

pytestmark = pytest.mark.usefixtures("fakes")

GUIDANCE_MARKER = "<!-- thoth-bot:guidance -->"
FAILURE_TITLE = "thoth-bot: cannot lock dependencies"

OVERLAYS_CONFIG = """\
host: thoth.example.com
overlays_dir: overlays
runtime_environments:
  - name: training
    labels:
      node_class: gpu-a100
  - name: serving
    labels:
      node_class: cpu-x86-64-v3
"""


def create_overlays_repo(github: FakeGitHub, repo: str, installation: int) -> None:
    """Two runtime environments: `training` on the A100 nodes, `serving` on the CPU nodes."""
    github.create_repo(
        repo,
        {
            ".thoth.yaml": OVERLAYS_CONFIG,
            "overlays/training/Pipfile": pipfile("numpy"),
            "overlays/serving/Pipfile": pipfile("flask"),
        },
        installation=installation,
    )


def push_payload(push: Push, installation: int, **options: object) -> dict:
    return payloads.push(
        push.repo,
        before=push.before,
        after=push.after,
        commits=[push],
        branch=push.branch,
        installation_id=installation,
        **options,  # type: ignore[arg-type]
    )


async def push_and_settle(
    bot: BotUnderTest, github: FakeGitHub, repo: str, installation: int, files: dict, **options
) -> Push:
    push = github.push(repo, files)
    status, answer = await bot.deliver("push", push_payload(push, installation, **options))
    assert status == 202, answer
    await bot.settle()
    return push


async def with_lock_request(bot: BotUnderTest, github: FakeGitHub) -> tuple[str, int, Issue]:
    """A repository where a Pipfile push made the bot open its pull request: (repo,
    installation, pull request)."""
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "six")})
    [pull] = github.pulls(repo)
    return repo, installation, pull


def verify_with_pipenv(tmp_path: Path, pipfile_text: str, lock_text: str) -> None:
    project = tmp_path / f"verify-{len(list(tmp_path.iterdir()))}"
    project.mkdir()
    (project / "Pipfile").write_text(pipfile_text)
    (project / "Pipfile.lock").write_text(lock_text)
    result = pipenv_verify(project)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_pipfile_push_opens_one_pull_request_with_lock_hooks_and_guidance(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth, tmp_path: Path
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(
        repo, {"Pipfile": pipfile("flask"), "app.py": "print('hi')\n"}, installation=installation
    )

    push = await push_and_settle(
        bot, github, repo, installation, {"Pipfile": pipfile("flask", "numpy")}
    )

    pulls = github.pulls(repo)
    assert len(pulls) == 1
    pull = pulls[0]
    assert (pull.state, pull.head, pull.base) == ("open", LOCK_BRANCH, "main")
    assert pull.user == github.bot_login
    assert pull.labels == ["thoth", "dependencies"]
    # ONE commit on top of the pushed head, holding the lock and both hooks.
    head = github.commit(repo, github.head(repo, LOCK_BRANCH))
    assert head.parents == (push.after,)
    changed = {
        path: text
        for path, text in github.files(repo, LOCK_BRANCH).items()
        if github.files(repo, "main").get(path) != text
    }
    assert sorted(changed) == [".s2i/bin/assemble", ".s2i/environment", "Pipfile.lock"]
    assert github.mode(repo, LOCK_BRANCH, ".s2i/bin/assemble") == "100755"
    assert "# managed by thoth-bot, hooks v1" in changed[".s2i/environment"]
    assert "THAMOS_RUNTIME_ENVIRONMENT=cpu-x86-64-v3" in changed[".s2i/environment"]
    lock_text = changed["Pipfile.lock"]
    lock = json.loads(lock_text)
    assert lock_text == encode_lock(lock)  # byte for byte as pipenv writes it
    assert sorted(lock["default"]) == ["flask", "numpy"]
    verify_with_pipenv(tmp_path, pipfile("flask", "numpy"), lock_text)
    # What Thoth was asked.
    call = thoth.requests[-1]
    assert call.query["source_type"] == "kebechet"
    assert call.query["origin"] == f"https://github.com/{repo}"
    assert call.body["runtime_environment"]["hardware"]["cpu_model"] == 85
    # The body summarises the change per environment; the guidance is one comment.
    assert "| numpy | default | — | 1.26.4 | newly required |" in pull.body
    assert "cpu-x86-64-v3" in pull.body
    comments = github.comments(repo, pull.number)
    assert len(comments) == 1
    assert comments[0].body.startswith(GUIDANCE_MARKER)
    assert "Resolved for runtime environment 'cpu-x86-64-v3' on CPU family 6 model 85" in (
        comments[0].body
    )
    assert github.issues(repo) == []


async def test_a_redelivery_does_nothing_twice(bot: BotUnderTest, github: FakeGitHub) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    payload = push_payload(push, installation)

    assert (await bot.deliver("push", payload, delivery="d-1"))[0] == 202
    await bot.settle()
    mark = len(github.calls)
    status, answer = await bot.deliver("push", payload, delivery="d-1")
    await bot.settle()

    assert (status, answer["message"]) == (200, "already received")
    assert github.calls_since(mark) == []
    assert len(github.pulls(repo)) == 1


async def test_a_second_push_rebuilds_the_same_pull_request(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "numpy")})
    first = github.pulls(repo)[0]
    comment = github.comments(repo, first.number)[0]

    second = await push_and_settle(
        bot, github, repo, installation, {"Pipfile": pipfile("flask", "torch")}
    )

    assert [pull.number for pull in github.pulls(repo)] == [first.number]
    head = github.commit(repo, github.head(repo, LOCK_BRANCH))
    assert head.parents == (second.after,)  # one commit on the new head, not a second one
    lock = json.loads(github.file(repo, LOCK_BRANCH, "Pipfile.lock") or "")
    assert sorted(lock["default"]) == ["flask", "torch"]
    body = github.pulls(repo)[0].body
    assert "| torch | default | — | 2.3.1 | newly required |" in body and "numpy" not in body
    comments = github.comments(repo, first.number)
    assert [c.id for c in comments] == [comment.id]  # the same comment, edited in place


async def test_a_push_that_changes_nothing_writes_nothing(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "six")})
    # Someone merges the bot's pull request, then only reformats the Pipfile.
    github.merge_pull(repo, github.pulls(repo)[0].number)
    mark = len(github.calls)

    await push_and_settle(
        bot, github, repo, installation, {"Pipfile": "# our app\n" + pipfile("flask", "six")}
    )

    calls = github.calls_since(mark)
    assert calls and [call for call in calls if call.write] == []


@pytest.mark.parametrize(
    "case",
    ["the bot's own push", "another branch", "a tag", "a deleted branch", "no Pipfile"],
)
async def test_pushes_the_bot_ignores(
    case: str, bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    options: dict[str, object] = {}
    files = {"Pipfile": pipfile("flask", "six")}
    branch = None
    if case == "the bot's own push":
        options = {"sender": github.bot_login, "sender_type": "Bot"}
    elif case == "another branch":
        branch = "feature"
    elif case == "a tag":
        options = {"ref": "refs/tags/v1.0"}
    elif case == "a deleted branch":
        options = {"deleted": True}
    else:
        files = {"README.md": "hello\n"}
    push = github.push(repo, files, branch=branch)
    advises, mark = len(thoth.requests), len(github.calls)

    status, answer = await bot.deliver("push", push_payload(push, installation, **options))
    await bot.settle()

    assert status in (200, 202), answer
    assert [call for call in github.calls_since(mark) if call.write] == []
    assert len(thoth.requests) == advises
    assert github.pulls(repo) == []


async def test_a_push_that_lists_fewer_commits_than_it_carries_asks_the_compare_api(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    before = github.head(repo, "main")
    github.push(repo, {"Pipfile": pipfile("flask", "six")})
    last = github.push(repo, {"README.md": "docs\n"})
    payload = payloads.push(
        repo, before=before or "", after=last.after, commits=[], installation_id=installation
    )  # GitHub sends no commit list for very large pushes

    status, _ = await bot.deliver("push", payload)
    await bot.settle()

    assert status == 202
    assert any("/compare/" in call.path for call in github.calls)
    assert len(github.pulls(repo)) == 1


async def test_overlays_get_one_pull_request_each_environment_locked_for_its_own_hardware(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth, tmp_path: Path
) -> None:
    repo, installation = new_repo_name()
    create_overlays_repo(github, repo, installation)
    advises = len(thoth.requests)
    training, serving = pipfile("torch", "numpy"), pipfile("flask", "torch")

    await push_and_settle(
        bot,
        github,
        repo,
        installation,
        {"overlays/training/Pipfile": training, "overlays/serving/Pipfile": serving},
    )

    calls = {c.body["runtime_environment"]["name"]: c for c in thoth.requests[advises:]}
    assert sorted(calls) == ["serving", "training"]
    assert calls["training"].body["runtime_environment"]["hardware"]["gpu_model"] == (
        "NVIDIA A100-SXM4-40GB"
    )
    assert calls["training"].body["runtime_environment"]["cuda_version"] == "12.2"
    assert calls["serving"].body["runtime_environment"]["hardware"]["gpu_model"] is None
    pulls = github.pulls(repo)
    assert len(pulls) == 1
    head = github.commit(repo, github.head(repo, LOCK_BRANCH))
    assert len(head.parents) == 1
    files = github.files(repo, LOCK_BRANCH)
    gpu_lock = json.loads(files["overlays/training/Pipfile.lock"])
    cpu_lock = json.loads(files["overlays/serving/Pipfile.lock"])
    assert gpu_lock["default"]["torch"]["version"] == "==2.3.1+cu122"
    assert cpu_lock["default"]["torch"]["version"] == "==2.3.1"
    assert "THAMOS_RUNTIME_ENVIRONMENT=training" in files[".s2i/environment"]
    assert "THOTH_BOT_OVERLAYS_DIR=overlays" in files[".s2i/environment"]
    verify_with_pipenv(tmp_path, training, files["overlays/training/Pipfile.lock"])
    verify_with_pipenv(tmp_path, serving, files["overlays/serving/Pipfile.lock"])
    body = pulls[0].body
    assert "`training` on node class `gpu-a100`" in body
    assert "NVIDIA A100-SXM4-40GB · CUDA 12.2" in body
    guidance = github.comments(repo, pulls[0].number)[0].body
    assert "Using the CUDA 12.2 build of torch" in guidance


async def test_hand_written_hooks_are_left_alone_and_the_pull_request_says_so(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    own = "#!/bin/bash\nexec /usr/libexec/s2i/assemble\n"
    github.create_repo(
        repo,
        {"Pipfile": pipfile("flask"), ".s2i/bin/assemble": (own, "100755")},
        installation=installation,
    )

    await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("flask", "six")})

    assert github.file(repo, LOCK_BRANCH, ".s2i/bin/assemble") == own
    assert github.file(repo, LOCK_BRANCH, ".s2i/environment") is not None
    pull = github.pulls(repo)[0]
    assert "`.s2i/bin/assemble` left alone" in pull.body


async def test_guidance_longer_than_github_accepts_is_cut_to_fit(
    bot: BotUnderTest, github: FakeGitHub
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)

    await push_and_settle(
        bot, github, repo, installation, {"Pipfile": pipfile("flask", "thoth-verbose")}
    )

    [pull] = github.pulls(repo)
    [comment] = github.comments(repo, pull.number)
    assert comment.body.startswith(GUIDANCE_MARKER)
    assert "Observation 0 about this stack" in comment.body
    assert comment.body.endswith("… cut here: the full text is over the forge's size limit.\n")
    assert len(comment.body) <= 65536


async def test_a_push_to_one_overlay_keeps_the_lock_the_pull_request_proposes_for_another(
    bot: BotUnderTest, github: FakeGitHub, thoth: FakeThoth
) -> None:
    repo, installation = new_repo_name()
    create_overlays_repo(github, repo, installation)
    training = pipfile("numpy", "torch")
    await push_and_settle(bot, github, repo, installation, {"overlays/training/Pipfile": training})
    proposed = github.file(repo, LOCK_BRANCH, "overlays/training/Pipfile.lock")
    advises = len(thoth.requests)

    second = await push_and_settle(
        bot, github, repo, installation, {"overlays/serving/Pipfile": pipfile("flask", "six")}
    )

    assert [c.body["runtime_environment"]["name"] for c in thoth.requests[advises:]] == ["serving"]
    head = github.commit(repo, github.head(repo, LOCK_BRANCH) or "")
    assert head.parents == (second.after,)
    assert github.file(repo, LOCK_BRANCH, "overlays/training/Pipfile.lock") == proposed
    assert '"six"' in (github.file(repo, LOCK_BRANCH, "overlays/serving/Pipfile.lock") or "")
    assert len(github.pulls(repo)) == 1
