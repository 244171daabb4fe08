"""`POST /webhooks/gitlab` (SPEC §4, §6.2): the hook's secret token, Standard Webhooks
signatures when a signing token is configured, and the answers for everything else."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import gitlab_payloads
import pytest
from fakes.gitlab import FakeGitLab
from gitlab_projects import new_project
from harness import GITLAB_SECRET, BotUnderTest, pipfile
from test_webhook_endpoint import thoth_bot

from bot.signing import standard_webhook_signature

pytestmark = pytest.mark.usefixtures("fakes")

SIGNING_TOKEN = "whsec_" + base64.b64encode(b"thoth-bot signing key, 32 bytes!").decode()


@pytest.fixture
async def signing_bot(env: dict[str, str]) -> AsyncIterator[BotUnderTest]:
    """A bot whose GitLab hook has a signing token: signatures are then required."""
    running = await BotUnderTest.from_env(
        {**env, "GITLAB_WEBHOOK_SIGNING_TOKEN": SIGNING_TOKEN}
    ).start()
    yield running
    await running.close()


def a_push(gitlab: FakeGitLab) -> tuple[str, dict]:
    path = new_project(gitlab)
    push = gitlab.push(path, {"Pipfile": pipfile("flask", "six")})
    return path, gitlab_payloads.push(gitlab, [push])


@pytest.mark.parametrize("token", [None, "", "wrong secret", GITLAB_SECRET.upper()])
async def test_a_missing_or_wrong_token_is_401_and_nothing_is_queued(
    bot: BotUnderTest, gitlab: FakeGitLab, token: str | None
) -> None:
    path, payload = a_push(gitlab)
    status, answer = await bot.deliver_gitlab("Push Hook", payload, token=token)
    await bot.settle()
    assert (status, answer["message"]) == (401, "bad or missing X-Gitlab-Token")
    assert gitlab.merge_requests(path) == []


async def test_a_signed_delivery_is_accepted(signing_bot: BotUnderTest, gitlab: FakeGitLab) -> None:
    path, payload = a_push(gitlab)
    status, _ = await signing_bot.deliver_gitlab("Push Hook", payload, signing_token=SIGNING_TOKEN)
    await signing_bot.settle()
    assert status == 202
    assert len(gitlab.merge_requests(path)) == 1


def signed(body: bytes, *, timestamp: int, message_id: str = "msg_1") -> dict[str, str]:
    headers = gitlab_payloads.headers("Push Hook", body, token=GITLAB_SECRET)
    headers.update(
        {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_webhook_signature(
                SIGNING_TOKEN, message_id, str(timestamp), body
            ),
        }
    )
    return headers


async def test_bad_stale_or_missing_signatures_are_401(
    signing_bot: BotUnderTest, gitlab: FakeGitLab
) -> None:
    path, payload = a_push(gitlab)
    body = json.dumps(payload).encode()
    now = int(time.time())
    tampered = signed(body, timestamp=now)
    tampered["webhook-signature"] = tampered["webhook-signature"][:-6] + "AAAAA="
    other_body = signed(body + b" ", timestamp=now)
    stale = signed(body, timestamp=now - 3600)
    unsigned = gitlab_payloads.headers("Push Hook", body, token=GITLAB_SECRET)
    answers = [
        await signing_bot.post("/webhooks/gitlab", body, headers)
        for headers in (tampered, other_body, stale, unsigned)
    ]
    await signing_bot.settle()
    assert [status for status, _ in answers] == [401, 401, 401, 401]
    assert [answer["message"] for _, answer in answers] == [
        "bad webhook-signature",
        "bad webhook-signature",
        "webhook-timestamp is too far from now",
        "missing webhook-id, webhook-timestamp or webhook-signature",
    ]
    assert gitlab.merge_requests(path) == []
    # A key being rotated: several signatures, one of them good.
    good = signed(body, timestamp=now)
    good["webhook-signature"] = "v1,bm90IGl0 " + good["webhook-signature"]
    assert (await signing_bot.post("/webhooks/gitlab", body, good))[0] == 202


async def test_malformed_and_ignored_deliveries(bot: BotUnderTest, gitlab: FakeGitLab) -> None:
    path = new_project(gitlab, {"README.md": "no Pipfile here\n"})
    destroyed = gitlab_payloads.fixture("systemhooks/project_destroy.json")
    tag = gitlab_payloads.fixture("webhooks/tag_push.json")
    del tag["project"]  # nothing to onboard: a tag push from no project the bot knows

    assert (await bot.deliver_gitlab("Push Hook", {"object_kind": "push"}))[0] == 400
    assert (await bot.post("/webhooks/gitlab", b"[1]", {"X-Gitlab-Token": GITLAB_SECRET}))[0] == 400
    assert await bot.deliver_gitlab("System Hook", destroyed) == (
        200,
        {"message": "ignored: System Hook"},
    )
    assert (await bot.deliver_gitlab("Tag Push Hook", tag))[0] == 200
    # The project's first event onboards it (nothing to do without a Pipfile); not twice.
    created = gitlab_payloads.project_create(gitlab, path)
    assert (await bot.deliver_gitlab("System Hook", created))[0] == 202
    assert (await bot.deliver_gitlab("System Hook", created))[0] == 200
    await bot.settle()
    assert gitlab.merge_requests(path) == []


async def test_gitlab_is_404_until_configured(env: dict[str, str]) -> None:
    without = {key: value for key, value in env.items() if not key.startswith("GITLAB_")}
    running = await BotUnderTest.from_env(without).start()
    try:
        status, answer = await running.post(
            "/webhooks/gitlab", b"{}", {"X-Gitlab-Event": "Push Hook"}
        )
    finally:
        await running.close()
    assert status == 404 and "GITLAB_TOKEN" in answer["message"]


async def test_replay_sends_a_gitlab_body_as_gitlab_does(
    signing_bot: BotUnderTest, gitlab: FakeGitLab, tmp_path: Path
) -> None:
    path, payload = a_push(gitlab)
    recorded = tmp_path / "push.json"
    recorded.write_text(json.dumps(payload))
    command = ["replay", str(recorded), "--forge", "gitlab", "--event", "Push Hook"]
    command += ["--url", signing_bot.url, "--delivery", "replayed-1"]
    secrets = {
        "GITLAB_WEBHOOK_SECRET": GITLAB_SECRET,
        "GITLAB_WEBHOOK_SIGNING_TOKEN": SIGNING_TOKEN,
    }

    first = await thoth_bot(*command, **secrets)
    again = await thoth_bot(*command, **secrets)
    await signing_bot.settle()

    assert first[0] == 0 and first[1].startswith("202 "), first
    assert again[1].startswith("200 ") and "already received" in again[1]
    assert len(gitlab.merge_requests(path)) == 1


SYSTEM_SECRET = "the instance's system hook token"


async def test_a_system_hook_with_its_own_secret_refuses_a_project_hooks_token(
    env: dict[str, str], gitlab: FakeGitLab
) -> None:
    """A project maintainer knows the project hook's token, not the system hook's: with
    GITLAB_SYSTEM_HOOK_SECRET set, their token cannot send a system hook."""
    running = await BotUnderTest.from_env(
        {**env, "GITLAB_SYSTEM_HOOK_SECRET": SYSTEM_SECRET}
    ).start()
    try:
        path = new_project(gitlab, {"Pipfile": pipfile("flask")})
        created = gitlab_payloads.project_create(gitlab, path)
        forged = await running.deliver_gitlab("System Hook", created, token=GITLAB_SECRET)
        genuine = await running.deliver_gitlab("System Hook", created, token=SYSTEM_SECRET)
        _, push = a_push(gitlab)
        project_hook = await running.deliver_gitlab("Push Hook", push, token=GITLAB_SECRET)
        await running.settle()
    finally:
        await running.close()
    assert forged == (401, {"message": "bad or missing X-Gitlab-Token"})
    assert genuine[0] == 202 and project_hook[0] == 202
