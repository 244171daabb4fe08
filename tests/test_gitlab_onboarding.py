"""Onboarding on GitLab (SPEC §7.4): a project the bot has never seen — announced by a system
hook's `project_create`, or just sending its first hook delivery — gets one onboarding merge
request, once and for good, even across restarts."""

from __future__ import annotations

import gitlab_payloads
import pytest
import yaml
from fakes.gitlab import FakeGitLab
from gitlab_projects import new_project
from harness import LOCK_BRANCH, BotUnderTest, pipfile

pytestmark = pytest.mark.usefixtures("fakes")

OWN_CONFIG = """\
host: thoth.example.com
tls_verify: true
requirements_format: pipenv
runtime_environments:
  - name: serving
    labels:
      node_class: cpu-x86-64-v3
"""


async def test_the_first_delivery_of_an_unknown_project_onboards_it_once(
    bot: BotUnderTest, gitlab: FakeGitLab, env: dict[str, str]
) -> None:
    path = new_project(gitlab)
    # A merge request of someone else's, about something else: the first thing the bot hears.
    gitlab.push(path, {"docs.md": "hello\n"}, branch="docs")
    mr = gitlab.open_merge_request(path, source_branch="docs")
    payload = gitlab_payloads.merge_request(gitlab, path, mr.iid)
    status, answer = await bot.deliver_gitlab("Merge Request Hook", payload)
    await bot.settle()

    assert status == 202 and answer["jobs"][0].startswith("gitlab:onboard:")
    [onboarding] = gitlab.merge_requests(path, "opened")[1:]
    assert onboarding.source_branch == LOCK_BRANCH
    config = yaml.safe_load(gitlab.file(path, LOCK_BRANCH, ".thoth.yaml") or "")
    [environment] = config["runtime_environments"]
    assert environment["name"] == "cpu-x86-64-v3"
    assert environment["labels"] == {"node_class": "cpu-x86-64-v3"}
    assert {".s2i/bin/assemble", ".s2i/environment", "Pipfile.lock"} <= set(
        gitlab.files(path, LOCK_BRANCH)
    )

    # Later deliveries, and a restarted bot (same state directory), do not onboard again.
    await bot.close()
    again = await BotUnderTest.from_env(env).start()
    later = gitlab_payloads.merge_request(gitlab, path, mr.iid, action="update")
    try:
        status, _ = await again.deliver_gitlab("Merge Request Hook", later)
        await again.settle()
    finally:
        await again.close()
    assert status == 202  # the merge request's own later delivery: a new one
    assert len(gitlab.merge_requests(path, "opened")) == 2


async def test_project_create_then_its_first_push_make_one_merge_request(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path = new_project(gitlab, {"Pipfile": pipfile("flask"), ".thoth.yaml": OWN_CONFIG})
    created = await bot.deliver_gitlab("System Hook", gitlab_payloads.project_create(gitlab, path))
    push = gitlab.push(path, {"Pipfile": pipfile("flask", "six")})
    pushed = await bot.deliver_gitlab("Push Hook", gitlab_payloads.push(gitlab, [push]))
    await bot.settle()

    assert (created[0], pushed[0]) == (202, 202)
    [mr] = gitlab.merge_requests(path)
    assert mr.source_branch == LOCK_BRANCH
    # The project has its own .thoth.yaml: the bot leaves it alone.
    assert gitlab.file(path, LOCK_BRANCH, ".thoth.yaml") == OWN_CONFIG
    assert "THAMOS_RUNTIME_ENVIRONMENT=serving" in (
        gitlab.file(path, LOCK_BRANCH, ".s2i/environment") or ""
    )
    assert gitlab.commit(path, gitlab.head(path, LOCK_BRANCH) or "").parents == (push.after,)


async def test_a_project_without_a_pipfile_gets_nothing(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path = new_project(gitlab, {"README.md": "# docs only\n"})
    mark = len(gitlab.calls)
    created = await bot.deliver_gitlab("System Hook", gitlab_payloads.project_create(gitlab, path))
    await bot.settle()
    assert created[0] == 202
    assert [call for call in gitlab.calls_since(mark) if call.write] == []
    assert gitlab.merge_requests(path) == []


async def test_an_empty_project_is_onboarded_without_failing(
    bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    """`project_create` comes before any commit: there is no default branch to read yet."""
    path = new_project(gitlab)
    del gitlab.project(path).refs["heads/main"]
    created = await bot.deliver_gitlab("System Hook", gitlab_payloads.project_create(gitlab, path))
    await bot.settle()
    assert created[0] == 202
    [job] = [await bot.bot.store.job(key) for key in created[1]["jobs"]]
    assert job is not None and job["state"] == "done"
