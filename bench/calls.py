"""Count the GitHub and GitLab API calls the bot makes per scenario (issue #2's budget).

    .venv/bin/python bench/calls.py

Runs the real bot against the fake GitHub and the fake Thoth from `tests/` on 127.0.0.1 and
prints, per scenario, every call the job made and the totals. "warm" is the steady state of a
running bot: the installation token (valid one hour) and the App's slug (fetched once per
process) are already known; "cold" adds what the first job of a process pays for them.

Budget: push -> new PR <= 8 calls, push -> PR update <= 6, push with nothing to change: 0 writes.
GitLab has no GraphQL batching in the bot (REST only): its reads are more calls, made at once;
its budget only keeps the counts from growing unnoticed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import gitlab_payloads
import payloads
from fakes.github import Call, FakeGitHub
from fakes.gitlab import FakeGitLab
from gitlab_projects import onboarded_project
from harness import BotUnderTest, bot_env, new_repo_name, pipfile, start_fakes, start_gitlab

BUDGET: dict[str, int | None] = {
    "push -> new PR": 8,
    "push -> PR update": 6,
    "push with nothing to change": None,  # no write at all
    "pull request -> guidance": 8,  # no budget in the issues; kept from growing
    "GitLab: push -> new MR": 16,
    "GitLab: push -> MR update": 14,
    "GitLab: push with nothing to change": None,
    "GitLab: merge request -> guidance": 12,
}


def is_setup(call: Call) -> bool:
    """Token minting and the App's slug: paid once per hour or once per process."""
    return call.path.removeprefix("/api/v3").startswith("/app")


async def run_push(
    bot: BotUnderTest, github: FakeGitHub, repo: str, inst: int, files: dict
) -> list[Call]:
    push = github.push(repo, files)
    mark = len(github.calls)
    payload = payloads.push(
        repo, before=push.before, after=push.after, commits=[push], installation_id=inst
    )
    status, answer = await bot.deliver("push", payload)
    assert status == 202, answer
    await bot.settle()
    return github.calls_since(mark)


async def run_gitlab_push(bot: BotUnderTest, gitlab: FakeGitLab, path: str, files: dict) -> list:
    push = gitlab.push(path, files)
    mark = len(gitlab.calls)
    status, answer = await bot.deliver_gitlab("Push Hook", gitlab_payloads.push(gitlab, [push]))
    assert status == 202, answer
    await bot.settle()
    return gitlab.calls_since(mark)


async def gitlab_scenarios(bot: BotUnderTest, gitlab: FakeGitLab) -> list[tuple[str, list]]:
    """The same scenarios on a GitLab project the bot already onboarded."""
    path = await onboarded_project(bot, gitlab)
    results = []
    new = await run_gitlab_push(bot, gitlab, path, {"Pipfile": pipfile("flask", "six")})
    results.append(("GitLab: push -> new MR", new))
    update = await run_gitlab_push(bot, gitlab, path, {"Pipfile": pipfile("flask", "numpy")})
    results.append(("GitLab: push -> MR update", update))
    gitlab.merge(path, gitlab.merge_requests(path, "opened")[0].iid)
    same = await run_gitlab_push(
        bot, gitlab, path, {"Pipfile": "# same\n" + pipfile("flask", "numpy")}
    )
    results.append(("GitLab: push with nothing to change", same))
    gitlab.push(path, {"Pipfile": pipfile("flask", "torch")}, branch="feature")
    mr = gitlab.open_merge_request(path, source_branch="feature")
    mark = len(gitlab.calls)
    payload = gitlab_payloads.merge_request(gitlab, path, mr.iid)
    assert (await bot.deliver_gitlab("Merge Request Hook", payload))[0] == 202
    await bot.settle()
    results.append(("GitLab: merge request -> guidance", gitlab.calls_since(mark)))
    return results


async def main() -> int:
    github, thoth = start_fakes()
    gitlab = start_gitlab()
    results: list[tuple[str, list[Call]]] = []
    try:
        with tempfile.TemporaryDirectory() as state:
            env = bot_env(github, thoth, Path(state), gitlab=gitlab)
            bot = await BotUnderTest.from_env(env).start()
            try:
                repo, inst = new_repo_name("bench")
                github.create_repo(repo, {"Pipfile": pipfile("flask")}, installation=inst)
                new = await run_push(bot, github, repo, inst, {"Pipfile": pipfile("flask", "six")})
                results.append(("push -> new PR", new))
                update = await run_push(
                    bot, github, repo, inst, {"Pipfile": pipfile("flask", "numpy")}
                )
                results.append(("push -> PR update", update))
                github.merge_pull(repo, github.pulls(repo)[0].number)
                same = await run_push(
                    bot, github, repo, inst, {"Pipfile": "# same\n" + pipfile("flask", "numpy")}
                )
                results.append(("push with nothing to change", same))
                feature = github.push(
                    repo, {"Pipfile": pipfile("flask", "torch")}, branch="feature"
                )
                pull = github.open_pull(repo, head="feature")
                mark = len(github.calls)
                payload = payloads.pull_request(
                    repo,
                    number=pull.number,
                    head_sha=feature.after,
                    head_branch="feature",
                    installation_id=inst,
                )
                assert (await bot.deliver("pull_request", payload))[0] == 202
                await bot.settle()
                results.append(("pull request -> guidance", github.calls_since(mark)))
                results += await gitlab_scenarios(bot, gitlab)
            finally:
                await bot.close()
    finally:
        github.stop()
        gitlab.stop()
        thoth.stop()

    failed = False
    for name, calls in results:
        warm = [call for call in calls if not is_setup(call)]
        writes = [call for call in warm if call.write]
        budget = BUDGET[name]
        ok = not writes if budget is None else len(warm) <= budget
        failed |= not ok
        print(
            f"{name}: {len(warm)} calls warm ({len(writes)} writes), {len(calls)} cold "
            f"-- budget {'0 writes' if budget is None else f'<= {budget}'}: "
            f"{'ok' if ok else 'OVER'}"
        )
        for call in calls:
            kind = "setup" if is_setup(call) else "write" if call.write else "read"
            print(f"    {kind:5} {call.method:5} {call.path}  -> {call.status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
