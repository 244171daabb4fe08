"""`GET /metrics` after an end-to-end run (SPEC §4): what an operator's Prometheus scrapes."""

from __future__ import annotations

import gitlab_payloads
import pytest
from fakes.github import FakeGitHub
from fakes.gitlab import FakeGitLab
from gitlab_projects import new_project
from gitlab_projects import push_and_settle as gitlab_push_and_settle
from harness import BotUnderTest, new_repo_name, pipfile
from prometheus_client.parser import text_string_to_metric_families
from test_push import push_and_settle, push_payload

pytestmark = pytest.mark.usefixtures("fakes")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_after_an_end_to_end_run(
    bot: BotUnderTest, github: FakeGitHub, gitlab: FakeGitLab
) -> None:
    repo, installation = new_repo_name()
    github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=installation)
    push = await push_and_settle(bot, github, repo, installation, {"Pipfile": pipfile("numpy")})
    assert len(github.pulls(repo)) == 1
    payload = push_payload(push, installation)
    # The same signed body again, with a new delivery id and then with the same one: both are
    # duplicates (the body already ran).
    assert (await bot.deliver("push", payload, delivery="metrics-1"))[0] == 200
    assert (await bot.deliver("push", payload, delivery="metrics-1"))[0] == 200
    assert (await bot.deliver("push", payload, secret="wrong"))[0] == 401
    assert (await bot.deliver("X-Made-Up-Event", payload, secret="wrong"))[0] == 401
    path = new_project(gitlab)
    gitlab_push = await gitlab_push_and_settle(
        bot, gitlab, path, {"Pipfile": pipfile("flask", "six")}
    )
    assert len(gitlab.merge_requests(path)) == 1
    forged = gitlab_payloads.push(gitlab, [gitlab_push])
    assert (await bot.deliver_gitlab("Push Hook", forged, token="wrong"))[0] == 401
    await bot.settle()

    status, text = await bot.get("/metrics")
    assert status == 200
    assert "_created" not in text  # one sample per series, not two
    found = samples(text)
    deliveries = "thoth_bot_deliveries_total"
    assert value(found, deliveries, forge="github", event="push", outcome="accepted") == 1
    assert value(found, deliveries, forge="github", event="push", outcome="duplicate") == 2
    assert value(found, deliveries, forge="github", event="push", outcome="unauthorized") == 1
    # A header sent before the signature is checked never becomes a label value of its own.
    assert value(found, deliveries, forge="github", event="other", outcome="unauthorized") == 1
    assert value(found, deliveries, forge="gitlab", event="push", outcome="accepted") == 1
    assert value(found, deliveries, forge="gitlab", event="push", outcome="unauthorized") == 1

    assert value(found, "thoth_bot_jobs", state="done") >= 3
    assert value(found, "thoth_bot_jobs", state="queued") == 0
    assert value(found, "thoth_bot_queue_depth") == 0
    assert value(found, "thoth_bot_queue_engine", engine="embedded") == 1
    assert value(found, "thoth_bot_job_runs_total", outcome="done") >= 3

    advises = value(found, "thoth_bot_advise_duration_seconds_count", backend="thoth", outcome="ok")
    assert advises >= 2  # one per repository (the redelivered push changed nothing)
    assert (
        value(
            found,
            "thoth_bot_advise_duration_seconds_bucket",
            backend="thoth",
            outcome="ok",
            le="+Inf",
        )
        == advises
    )

    calls = {
        (dict(labels)["forge"], dict(labels)["method"], dict(labels)["status"]): count
        for (name, labels), count in found.items()
        if name == "thoth_bot_forge_api_calls_total"
    }
    assert calls[("github", "POST", "200")] > 0  # GraphQL: the bot reads through it
    assert calls[("github", "POST", "201")] > 0
    assert calls[("gitlab", "GET", "200")] > 0 and calls[("gitlab", "POST", "201")] > 0
    remaining = {
        dict(labels)["forge"]: count
        for (name, labels), count in found.items()
        if name == "thoth_bot_forge_rate_limit_remaining"
    }
    assert 0 < remaining["github"] < 5000 and 0 < remaining["gitlab"] < 2000
