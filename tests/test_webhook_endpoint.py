"""`POST /webhooks/github` answers as SPEC §4 says, and the health endpoints."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import payloads
import pytest
from fakes.github import FakeGitHub
from harness import SECRET, BotUnderTest, new_repo_name, pipfile

pytestmark = pytest.mark.usefixtures("fakes")


async def test_a_bad_or_missing_signature_is_401(bot: BotUnderTest) -> None:
    ping = payloads.fixture("ping/with-app_id.payload.json")
    assert (await bot.deliver("ping", ping, secret="wrong"))[0] == 401
    assert (await bot.deliver("ping", ping, secret=None))[0] == 401
    assert (await bot.deliver("ping", ping))[0] == 200


async def test_a_signed_body_that_is_not_a_json_object_is_400(bot: BotUnderTest) -> None:
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        status, answer = await bot.post(
            "/webhooks/github", body, payloads.headers("push", body, SECRET)
        )
        assert status == 400, answer


async def test_a_push_without_what_a_push_carries_is_400(bot: BotUnderTest) -> None:
    status, answer = await bot.deliver("push", {"ref": "refs/heads/main"})
    assert status == 400 and "push payload lacks" in answer["message"]


async def test_missing_event_headers_are_400(bot: BotUnderTest) -> None:
    body = b"{}"
    headers = payloads.headers("push", body, SECRET)
    del headers["X-GitHub-Event"]
    assert (await bot.post("/webhooks/github", body, headers))[0] == 400


async def test_events_the_bot_does_not_handle_are_200(bot: BotUnderTest) -> None:
    check_run = payloads.fixture("check_run/created.payload.json")
    status, answer = await bot.deliver("check_run", check_run)
    assert (status, answer["message"]) == (200, "ignored: check_run")


async def test_a_body_over_25_mib_is_413(bot: BotUnderTest) -> None:
    body = b"{" + b" " * (25 * 1024 * 1024) + b"}"
    status, _ = await bot.post("/webhooks/github", body, payloads.headers("push", body, SECRET))
    assert status == 413
    assert (await bot.get("/healthz"))[0] == 200


async def test_a_form_encoded_delivery_is_accepted(bot: BotUnderTest, github: FakeGitHub) -> None:
    from urllib.parse import urlencode

    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    payload = payloads.push(
        repo, before=push.before, after=push.after, commits=[push], installation_id=installation
    )
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = payloads.headers("push", body, SECRET)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.post("/webhooks/github", body, headers))[0] == 202
    await bot.settle()
    assert len(github.pulls(repo)) == 1


async def test_health_readiness_and_metrics(bot: BotUnderTest) -> None:
    assert (await bot.get("/healthz"))[0] == 200
    assert (await bot.get("/readyz"))[0] == 200
    status, text = await bot.get("/metrics")
    assert status == 200 and 'thoth_bot_jobs{state="done"}' in text


async def test_replay_signs_and_sends_a_recorded_body(
    bot: BotUnderTest, github: FakeGitHub, tmp_path: Path
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    recorded = tmp_path / "push.json"
    recorded.write_text(
        json.dumps(
            payloads.push(
                repo,
                before=push.before,
                after=push.after,
                commits=[push],
                installation_id=installation,
            )
        )
    )
    command = ["replay", str(recorded), "--event", "push", "--url", bot.url, "--delivery"]

    first = await thoth_bot(*command, "replayed-1", GITHUB_WEBHOOK_SECRET=SECRET)
    again = await thoth_bot(*command, "replayed-1", GITHUB_WEBHOOK_SECRET=SECRET)
    wrong = await thoth_bot(*command, "replayed-2", GITHUB_WEBHOOK_SECRET="wrong")
    await bot.settle()

    assert first[0] == 0 and first[1].startswith("202 "), first
    assert again[1].startswith("200 ") and "already received" in again[1]
    assert wrong[0] == 1 and wrong[1].startswith("401 ")
    assert len(github.pulls(repo)) == 1


async def thoth_bot(*args: str, **env: str) -> tuple[int, str, str]:
    """Run `python -m bot ARGS` without blocking the event loop the bot under test runs on."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("secret", ["GITHUB_WEBHOOK_SECRET", "GITLAB_WEBHOOK_SECRET"])
def test_serve_refuses_to_start_without_a_forge_webhook_secret(
    env: dict[str, str], secret: str
) -> None:
    environment = {**os.environ, **env}
    del environment[secret]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{secret} is not set" in result.stderr


def test_check_config(tmp_path: Path) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"], capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0 and "configuration OK" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("default_node_class: gpu\nnode_classes:\n  cpu:\n    platform: linux\n")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{bad}:4:" in result.stderr or f"{bad}:3:" in result.stderr, result.stderr
