"""Lock maintenance (issue #16): a repository whose Pipfile does not change is re-advised on
its schedule, and gets the bot's one merge request only when its lock would change. The
handler on the in-memory forge (`in_memory.py`)."""

from __future__ import annotations

from fakes.forge import FakeForge, Project
from in_memory import LOCK, PIPFILE, StubAdviser, context

from handlers import dispatch
from handlers.events import MaintainEvent

NAME = "octo-org/app"


async def maintain(forge: FakeForge, adviser: StubAdviser, **options: object) -> None:
    await dispatch.handle(MaintainEvent(NAME, **options), context(forge, adviser))  # type: ignore[arg-type]


def merged(forge: FakeForge, project: Project) -> None:
    """Someone merges the bot's merge request: its files land on main."""
    [request] = [r for r in project.requests.values() if r.state == "open"]
    git = project.git
    main = git.files_at(git.refs["heads/main"])
    files = {
        path: (git.text(LOCK, path) or "", mode)
        for path, (mode, sha) in git.files_at(git.refs[f"heads/{LOCK}"]).items()
        if main.get(path) != (mode, sha)
    }
    forge.push(NAME, files, branch="main")
    request.state = "merged"


def open_requests(project: Project) -> list:
    return [r for r in project.requests.values() if r.state == "open"]


async def test_a_newer_release_opens_one_merge_request_and_nothing_new_opens_none() -> None:
    forge, adviser = FakeForge(), StubAdviser()
    forge.create_repo(NAME, {"Pipfile": PIPFILE})
    project = forge.projects[NAME]
    await maintain(forge, adviser)  # no lock yet: the first one is proposed
    merged(forge, project)

    await maintain(forge, adviser)
    assert open_requests(project) == []  # the lock on main is what the adviser finds

    adviser.versions["flask"] = "3.0.1"  # a newer release appears
    await maintain(forge, adviser)
    await maintain(forge, adviser)  # the next run finds its merge request up to date

    [request] = open_requests(project)
    assert "| flask | default | 3.0.0 | 3.0.1 | newer release |" in request.body
    assert request.title == "Lock dependencies for the cluster's hardware (main)"
    assert all(r.force for r in adviser.requests)  # never an old cached result


async def test_a_lock_that_fixes_an_advisory_is_a_security_update() -> None:
    forge, adviser = FakeForge(), StubAdviser()
    forge.create_repo(NAME, {"Pipfile": PIPFILE})
    project = forge.projects[NAME]
    await maintain(forge, adviser)
    merged(forge, project)

    adviser.versions["flask"] = "3.0.2"
    adviser.fixes = {"flask": ["PYSEC-2023-62 (CVE-2023-30861)"]}
    await maintain(forge, adviser, reason="advisory", advisories=("PYSEC-2023-62",))

    [request] = open_requests(project)
    assert request.title == "Security update: fix PYSEC-2023-62 (CVE-2023-30861) (main)"
    assert "security" in request.labels
    assert (
        "| flask | default | 3.0.0 | 3.0.2 | fixes PYSEC-2023-62 (CVE-2023-30861) |"
        in request.body
    )


async def test_schedule_off_stops_scheduled_runs_but_not_advisories() -> None:
    forge, adviser = FakeForge(), StubAdviser()
    config = (  # YAML reads a bare `off` as false: both mean off
        "host: thoth.example.com\nruntime_environments:\n  - name: cpu-x86-64-v3\n"
        "managers:\n  - name: thoth-bot\n    configuration: {schedule: off}\n"
    )
    forge.create_repo(NAME, {"Pipfile": PIPFILE, ".thoth.yaml": config})
    project = forge.projects[NAME]

    await maintain(forge, adviser)
    assert project.requests == {} and adviser.requests == []

    await maintain(forge, adviser, reason="advisory", advisories=("PYSEC-2023-62",))
    assert len(open_requests(project)) == 1


async def test_a_repository_without_a_pipfile_gets_nothing() -> None:
    forge, adviser = FakeForge(), StubAdviser()
    forge.create_repo(NAME, {"index.html": "<p>hi</p>\n"})
    await maintain(forge, adviser)
    assert forge.projects[NAME].requests == {} and forge.projects[NAME].issues == {}
