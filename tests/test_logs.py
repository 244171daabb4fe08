"""Log lines (issue #7): JSON carrying the delivery, repository and job; never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fakes.github import FakeGitHub
from harness import SECRET, BotUnderTest, app_keys, bot_logs, new_repo_name, pipfile
from test_push import push_payload

from bot import logs

pytestmark = pytest.mark.usefixtures("fakes")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the bot's own JSON handler writes, from every logger, while the test runs."""
    stream = io.StringIO()
    with bot_logs(stream):
        yield stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_jobs_lines_carry_its_delivery_repository_and_job(
    bot: BotUnderTest, github: FakeGitHub, captured: io.StringIO
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = github.push(repo, {"Pipfile": pipfile("flask", "six")})
    status, answer = await bot.deliver("push", push_payload(push, installation), delivery="log-1")
    assert status == 202
    await bot.settle()
    assert len(github.pulls(repo)) == 1

    found = lines(captured)
    # The delivery id, with the job's key (the digest of the signed body) it was queued as.
    [accepted] = [line for line in found if line["logger"] == "bot.web.deliveries"]
    assert accepted["delivery"] == "github:log-1" and answer["job"] in accepted["message"]
    key = answer["job"]
    [running] = [line for line in found if line["message"].startswith(f"running job {key}")]
    assert running["level"] == "INFO" and running["logger"] == "bot.executor"
    assert running["delivery"] == key
    assert running["repo"] == repo
    assert running["job"].isdigit()
    assert {"time", "level", "logger", "message"} <= set(running)
    # What the job's adviser said carries the same fields.
    [submitted] = [line for line in found if line["logger"] == "bot.advisers.thoth"]
    assert submitted["message"].startswith("Thoth analysis")
    assert (submitted["delivery"], submitted["repo"]) == (key, repo)


async def test_a_refused_delivery_is_logged_with_its_id_and_reason(
    bot: BotUnderTest, captured: io.StringIO
) -> None:
    status, _ = await bot.deliver("push", {"zen": "x"}, delivery="forged-1", secret="wrong")
    assert status == 401
    [refused] = [line for line in lines(captured) if line["logger"] == "bot.web.deliveries"]
    assert refused["level"] == "INFO"
    assert refused["delivery"] == "github:forged-1"
    assert "unauthorized" in refused["message"] and "bad signature" in refused["message"]


PRIVATE_KEY = app_keys()[0]


@pytest.mark.parametrize(
    ("message", "args", "leaked"),
    [
        ("token %s minted", ("ghs_" + "a1" * 18,), "ghs_" + "a1" * 18),
        ("GET https://x/?private_token=%s", ("glpat-abcdefghij0123",), "glpat-abcdefghij0123"),
        ("headers %s", ({"Authorization": "Bearer eyJhbGciOi.eyJpc3MiOi.c2lnbmF0dXJl"},), "eyJ"),
        ("key: %s", (PRIVATE_KEY,), PRIVATE_KEY.splitlines()[1]),
        ("connecting to %s", ("redis://:hunter2hunter2@redis:6379/0",), "hunter2hunter2"),
        ("the webhook secret is %s", (SECRET,), SECRET),
        ("signing token %s", ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",), "whsec_MfKQ9r8G"),
    ],
)
def test_secrets_are_scrubbed_whatever_logs_them(
    message: str, args: tuple, leaked: str, captured: io.StringIO
) -> None:
    logs.never_log([SECRET])
    logging.getLogger("somewhere").warning(message, *args)
    [line] = lines(captured)
    assert leaked not in json.dumps(line)
    assert logs.REDACTED in line["message"]


def test_a_traceback_is_scrubbed_too(captured: io.StringIO) -> None:
    token = "ghs_" + "9z" * 18
    try:
        raise RuntimeError(f"GitHub refused {token}")
    except RuntimeError:
        with logs.context(delivery="github:d-1", repo="github:o/r", job=7):
            logging.getLogger("somewhere").exception("a job failed")
    [line] = lines(captured)
    assert token not in json.dumps(line)
    assert "RuntimeError: GitHub refused [redacted]" in line["exception"]
    assert (line["delivery"], line["repo"], line["job"]) == ("github:d-1", "github:o/r", "7")


def test_text_lines_for_people(captured: io.StringIO) -> None:
    stream = io.StringIO()
    handler = logs.make_handler(stream, json=False)
    log = logging.getLogger("people")
    log.addHandler(handler)
    try:
        with logs.context(repo="github:o/r"):
            log.warning("pushed %d commits", 3)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("WARNING people: pushed 3 commits [repo=github:o/r]")
